#!/usr/bin/env bash
# Validates the deployment files offline: the Kubernetes manifests in deploy/kubernetes/ against the schemas of a
# pinned Kubernetes version, strictly (an unknown or misspelt field is an error); Shipyard's IAM policy and its
# roles' permissions boundary in deploy/aws/ as well-formed policy documents that keep the boundary's guarantees;
# the hub policy (nothing but STS on the spoke accounts' provisioner role) and the spoke trust (the hub identity
# only); and the spoke's StackSet template with cfn-lint, its documents equal to the JSON files.
# kubernetes-validate and cfn-lint bundle their schemas, so nothing but pip touches the network (and only the first
# time, to install them into the project's virtualenv, .venv, beside moto).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

KUBERNETES_VALIDATE_VERSION="1.37.0"
CFN_LINT_VERSION="1.51.0"
# The oldest Kubernetes the manifests must apply to (EKS standard support); bump with the clusters.
KUBERNETES_VERSION="1.33.0"

venv_pip "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "cfn-lint==$CFN_LINT_VERSION"

log "kubernetes-validate --strict (Kubernetes $KUBERNETES_VERSION): deploy/kubernetes/"
"$VENV/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$KUBERNETES_VERSION" deploy/kubernetes/*.yaml

log "IAM policy documents: deploy/aws/shipyard-policy.json, deploy/aws/shipyard-boundary.json, deploy/aws/hub/, deploy/aws/spoke/"
"$VENV/bin/python" - deploy/aws/shipyard-policy.json deploy/aws/shipyard-boundary.json \
    deploy/aws/hub/shipyard-hub-policy.json deploy/aws/spoke/provisioner-trust.json <<'PY'
import json, re, sys

policy_path, boundary_path, hub_path, trust_path = sys.argv[1:5]
BOUNDARY_ARN = "arn:aws:iam::ACCOUNT_ID:policy/shipyard-boundary"
problems = []


def well_formed(path, trust=False):
    """The document is a policy: Version, unique Sids, Allow/Deny, service:Action names, IAM/ECR/KMS ARNs (a trust
    policy: a Principal and no Resource)."""
    with open(path) as f:
        policy = json.load(f)
    if policy.get("Version") != "2012-10-17":
        problems.append(f'{path}: Version must be "2012-10-17"')
    sids = set()
    for i, statement in enumerate(policy.get("Statement", [])):
        where = f"{path}: statement {statement.get('Sid', i)}"
        if statement.get("Sid") in sids:
            problems.append(f"{where}: duplicate Sid")
        sids.add(statement.get("Sid"))
        if statement.get("Effect") not in ("Allow", "Deny"):
            problems.append(f"{where}: Effect must be Allow or Deny")
        for action in statement.get("Action", []):
            if not re.fullmatch(r"(iam|ecr|sts|kms):[A-Z][A-Za-z]+", action):
                problems.append(f"{where}: {action!r} is not a service:Action name")
        for resource in statement.get("Resource", []):
            if resource != "*" and not re.fullmatch(r"arn:aws:iam::[^:]+:[a-z-]+/.+|arn:aws:ecr:[^:]+:[^:]+:repository/.+|arn:aws:kms:[^:]+:[^:]+:key/.+", resource):
                problems.append(f"{where}: {resource!r} is not an IAM, ECR or KMS key ARN")
        if trust and ("Resource" in statement or "Principal" not in statement):
            problems.append(f"{where}: a trust statement has a Principal and no Resource")
        unknown = set(statement) - {"Sid", "Effect", "Action", "Condition", "Principal" if trust else "Resource"}
        if unknown:
            problems.append(f"{where}: unexpected keys {sorted(unknown)}")
    if not policy.get("Statement"):
        problems.append(f"{path}: no statements")
    return policy


policy = well_formed(policy_path)
boundary = well_formed(boundary_path)
allows = [s for s in policy.get("Statement", []) if s.get("Effect") == "Allow"]
denies = [s for s in policy.get("Statement", []) if s.get("Effect") == "Deny"]
# Shipyard's policy: a role only with the boundary, a policy attached only to a bounded role, no boundary ever
# set or removed, and the boundary policy itself out of reach.
for s in allows:
    actions = s.get("Action", [])
    for action in actions:
        if "PermissionsBoundary" in action or "*" in action:
            problems.append(f"{policy_path}: {s.get('Sid')} allows {action}")
    condition = s.get("Condition", {}).get("StringEquals", {}).get("iam:PermissionsBoundary")
    for needs in ("iam:CreateRole", "iam:AttachRolePolicy", "iam:PutRolePolicy"):
        if needs in actions and condition != BOUNDARY_ARN:
            problems.append(f"{policy_path}: {s.get('Sid')} allows {needs} without iam:PermissionsBoundary = {BOUNDARY_ARN}")
    # The KMS key may only be used by ECR on Shipyard's behalf (its grants for a repository), not directly.
    if any(a.startswith("kms:") for a in actions):
        via = s.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", "")
        if not via.startswith("ecr."):
            problems.append(f"{policy_path}: {s.get('Sid')} allows KMS actions without kms:ViaService = ecr.REGION.amazonaws.com")
        if any(r == "*" or not r.startswith("arn:aws:kms:") for r in s.get("Resource", [])):
            problems.append(f"{policy_path}: {s.get('Sid')} allows KMS actions on more than a key ARN")
    for resource in s.get("Resource", []):
        if resource == BOUNDARY_ARN:
            problems.append(f"{policy_path}: {s.get('Sid')} names the boundary policy")
denied = {a for s in denies for a in s.get("Action", [])}
for action in ("iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion"):
    if action not in denied:
        problems.append(f"{policy_path}: no Deny statement names {action}")
# The boundary: ECR login and push, nothing else.
push = {"ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"}
for s in boundary.get("Statement", []):
    extra = set(s.get("Action", [])) - push
    if s.get("Effect") != "Allow" or extra or "NotAction" in s:
        problems.append(f"{boundary_path}: {s.get('Sid')} allows more than the ECR push actions: {sorted(extra)}")
# The hub: Shipyard's own identity when environments live in other accounts. STS only: it assumes the provisioner
# role of the listed accounts and can do nothing in IAM or ECR itself.
hub = well_formed(hub_path)
HUB_ACTIONS = {"sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession", "sts:GetCallerIdentity"}
for s in hub.get("Statement", []):
    where = f"{hub_path}: {s.get('Sid')}"
    actions = set(s.get("Action", []))
    if s.get("Effect") != "Allow" or "NotAction" in s or "NotResource" in s or not actions <= HUB_ACTIONS:
        problems.append(f"{where} allows more than STS: {sorted(actions - HUB_ACTIONS)}")
    resources = s.get("Resource", [])
    if actions == {"sts:GetCallerIdentity"}:
        continue
    if not resources or any(not re.fullmatch(r"arn:aws:iam::(SPOKE_ACCOUNT_ID|[0-9]{12}):role/shipyard-provisioner", r)
                            for r in resources):
        problems.append(f"{where} assumes more than role/shipyard-provisioner of listed accounts: {resources}")
# The spoke's trust: only the hub identity (its account as the principal, its ARN as the aws:PrincipalArn
# condition), for AssumeRole with a source identity and nothing else.
trust = well_formed(trust_path, trust=True)
for s in trust.get("Statement", []):
    where = f"{trust_path}: {s.get('Sid')}"
    if s.get("Effect") != "Allow":
        continue
    if s.get("Principal") != {"AWS": "arn:aws:iam::HUB_ACCOUNT_ID:root"}:
        problems.append(f"{where} trusts {s.get('Principal')}, not only the hub account")
    if s.get("Condition") != {"ArnEquals": {"aws:PrincipalArn": "HUB_PRINCIPAL_ARN"}}:
        problems.append(f"{where} lacks the one condition ArnEquals aws:PrincipalArn = HUB_PRINCIPAL_ARN")
    if set(s.get("Action", [])) - {"sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"}:
        problems.append(f"{where} allows {s.get('Action')}")
if problems:
    sys.exit("\n  ".join(["deploy/aws:"] + problems))
PY
log "cfn-lint $CFN_LINT_VERSION: deploy/aws/spoke/stackset.yaml; its documents equal the JSON files"
"$VENV/bin/cfn-lint" deploy/aws/spoke/stackset.yaml
"$VENV/bin/python" scripts/stackset.py check
log "NetworkPolicy: the portal's pods admit only the ingress namespace on their port"
"$VENV/bin/python" - deploy/kubernetes/*.yaml <<'PY'
import sys, yaml

docs = [d for path in sys.argv[1:] for d in yaml.safe_load_all(open(path)) if d]
pods = [d["spec"]["template"]["metadata"]["labels"] for d in docs if d["kind"] == "Deployment"]
policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
problems = []
for labels in pods:
    selecting = [p for p in policies
                 if all(labels.get(k) == v for k, v in p["spec"]["podSelector"].get("matchLabels", {}).items())]
    if not selecting:
        problems.append(f"no NetworkPolicy selects the pods labelled {labels}")
    for policy in selecting:
        name = policy["metadata"]["name"]
        if "Ingress" not in policy["spec"].get("policyTypes", []):
            problems.append(f"{name}: does not restrict Ingress")
        for rule in policy["spec"].get("ingress", []):
            sources = rule.get("from", [])
            if not sources:
                problems.append(f"{name}: a rule admits every source")
            for source in sources:
                if "podSelector" in source and "namespaceSelector" not in source:
                    problems.append(f"{name}: admits pods of its own namespace")
                selector = source.get("namespaceSelector")
                if selector is not None and not selector.get("matchLabels"):
                    problems.append(f"{name}: admits every namespace")
            if not rule.get("ports"):
                problems.append(f"{name}: a rule admits every port")
if problems:
    sys.exit("\n  ".join(["NetworkPolicy:"] + problems))
PY

log "deployment files are valid"
