//! The IAM evaluator the runner uses in place of STS/IAM authorization: trust and identity policies.

use github_sim::iam::{Context, Decision, Policy, Request, evaluate};
use github_sim::trust_context;
use serde_json::json;

const PROVIDER: &str = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
const SUB: &str = "token.actions.githubusercontent.com:sub";
const AUD: &str = "token.actions.githubusercontent.com:aud";
const REPO_ID: &str = "token.actions.githubusercontent.com:repository_id";
const OWNER_ID: &str = "token.actions.githubusercontent.com:repository_owner_id";
const REPO: &str = "arn:aws:ecr:us-east-1:123456789012:repository/payments";

/// The context STS evaluates for a token of `acme/payments` (owner 1000, id 42) on `main` with `sub`.
fn token(sub: &str) -> Context {
    let claims = json!({
        "sub": sub, "aud": "sts.amazonaws.com", "iss": "https://token.actions.githubusercontent.com",
        "repository": "acme/payments", "repository_id": "42", "repository_owner": "acme",
        "repository_owner_id": "1000", "ref": "refs/heads/main", "workflow": "build",
        "job_workflow_ref": "acme/payments/.github/workflows/build.yml@refs/heads/main",
        "actor": "bob", "actor_id": "7", "run_id": "99", "sha": "abc",
    });
    trust_context("token.actions.githubusercontent.com", claims.as_object().unwrap())
}

fn assume(policy: &serde_json::Value, context: &Context) -> Decision {
    let policy = Policy::parse(&policy.to_string()).expect("valid policy");
    let request = Request {
        action: "sts:AssumeRoleWithWebIdentity",
        resource: None,
        principal: Some(("Federated", PROVIDER)),
        context,
    };
    evaluate(&[policy], &request)
}

fn trust_with(condition: serde_json::Value) -> serde_json::Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": PROVIDER},
        "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition,
    }]})
}

#[test]
fn trust_policies_allow_exactly_the_subjects_their_conditions_name() {
    let main = "repo:acme/payments:ref:refs/heads/main";
    let table = [
        (json!({"StringEquals": {AUD: "sts.amazonaws.com", SUB: main}}), main, true),
        (
            json!({"StringEquals": {AUD: "sts.amazonaws.com", SUB: main}}),
            "repo:acme/evil:ref:refs/heads/main",
            false,
        ),
        (
            json!({"StringEquals": {AUD: "sts.amazonaws.com", SUB: main}}),
            "repo:acme/payments:ref:refs/heads/dev",
            false,
        ),
        (json!({"StringEquals": {AUD: "sigstore", SUB: main}}), main, false),
        (json!({"StringEquals": {AUD: "sts.amazonaws.com"}, "StringLike": {SUB: "repo:acme/*"}}), main, true),
        (
            json!({"StringLike": {SUB: "repo:acme/*:ref:refs/heads/main"}}),
            "repo:acme/x:ref:refs/tags/v1",
            false,
        ),
        (json!({"StringLike": {SUB: ["repo:other/*", "repo:acme/payments:*"]}}), main, true),
        (json!({"StringNotLike": {SUB: "repo:acme/*:pull_request"}}), main, true),
        (json!({"StringEquals": {"TOKEN.ACTIONS.GITHUBUSERCONTENT.COM:SUB": main}}), main, true),
        (json!({"StringEquals": {SUB: main.to_uppercase()}}), main, false),
        (json!({"stringEquals": {SUB: main}}), main, false),
        // Since 2026 STS evaluates GitHub's own claims as condition keys, from the token's values.
        (
            json!({"StringEquals": {"token.actions.githubusercontent.com:repository": "acme/payments"}}),
            main,
            true,
        ),
        (json!({"StringEquals": {AUD: "sts.amazonaws.com", REPO_ID: "42"}}), main, true),
        (json!({"StringEquals": {AUD: "sts.amazonaws.com", REPO_ID: "43"}}), main, false),
        (
            json!({"StringEquals": {OWNER_ID: "1000", "token.actions.githubusercontent.com:ref": "refs/heads/main"}}),
            main,
            true,
        ),
        (json!({"StringEquals": {"token.actions.githubusercontent.com:ref": "refs/heads/dev"}}), main, false),
        (json!({"StringEquals": {"token.actions.githubusercontent.com:actor_id": "7"}}), main, true),
        // Not a job in an environment: the key is absent, so a positive condition on it fails.
        (
            json!({"StringEquals": {"token.actions.githubusercontent.com:environment": "production"}}),
            main,
            false,
        ),
        (
            json!({"StringEqualsIfExists": {"token.actions.githubusercontent.com:environment": "production"}}),
            main,
            true,
        ),
        // Claims AWS does not take as condition keys stay absent.
        (json!({"StringEquals": {"token.actions.githubusercontent.com:run_id": "99"}}), main, false),
        (json!({"ForAnyValue:StringEquals": {AUD: ["x", "sts.amazonaws.com"]}}), main, true),
    ];
    for (condition, sub, allowed) in table {
        let decision = assume(&trust_with(condition.clone()), &token(sub));
        assert_eq!(decision == Decision::Allow, allowed, "{condition} with sub {sub}: {decision:?}");
    }
}

#[test]
fn a_guard_deny_on_the_owner_id_applies_only_to_other_owners() {
    let policy = json!({"Statement": [
        {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity"},
        {"Sid": "OnlyAcme", "Effect": "Deny", "Principal": {"Federated": PROVIDER}, "Action": "sts:*",
         "Condition": {"StringNotEquals": {OWNER_ID: "1000"}}},
    ]});
    assert_eq!(assume(&policy, &token("repo:acme/payments:ref:refs/heads/main")), Decision::Allow);
    let foreign = json!({"Statement": [
        {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity"},
        {"Sid": "OnlyOther", "Effect": "Deny", "Principal": {"Federated": PROVIDER}, "Action": "sts:*",
         "Condition": {"StringNotEquals": {OWNER_ID: "2000"}}},
    ]});
    assert_eq!(
        assume(&foreign, &token("repo:acme/payments:ref:refs/heads/main")),
        Decision::ExplicitDeny("statement OnlyOther".into())
    );
}

#[test]
fn a_failed_trust_condition_is_named_in_the_decision() {
    let policy = trust_with(json!({"StringEquals": {SUB: "repo:acme/other:ref:refs/heads/main"}}));
    let decision = assume(&policy, &token("repo:acme/payments:ref:refs/heads/main"));
    assert_eq!(
        decision,
        Decision::ImplicitDeny(Some(format!(
            "condition StringEquals {SUB} = repo:acme/payments:ref:refs/heads/main does not match \
             repo:acme/other:ref:refs/heads/main"
        )))
    );
}

#[test]
fn trust_for_another_provider_or_action_does_not_apply() {
    let other = json!({"Statement": {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/x"},
        "Action": "sts:AssumeRoleWithWebIdentity"}});
    assert_eq!(assume(&other, &token("s")), Decision::ImplicitDeny(None));
    let wrong_action = json!({"Statement": {"Effect": "Allow", "Principal": {"Federated": PROVIDER},
        "Action": "sts:AssumeRole"}});
    assert_eq!(assume(&wrong_action, &token("s")), Decision::ImplicitDeny(None));
    let wildcard =
        json!({"Statement": {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:*"}});
    assert_eq!(assume(&wildcard, &token("s")), Decision::Allow);
    let anyone = json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRoleWithWebIdentity"}});
    assert_eq!(assume(&anyone, &token("s")), Decision::Allow);
}

#[test]
fn an_explicit_deny_wins_over_any_allow() {
    let policy = json!({"Statement": [
        {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity"},
        {"Sid": "NoForks", "Effect": "Deny", "Principal": {"Federated": PROVIDER}, "Action": "sts:*",
         "Condition": {"StringLike": {SUB: "repo:evil/*"}}},
    ]});
    assert_eq!(assume(&policy, &token("repo:acme/x:ref:refs/heads/main")), Decision::Allow);
    assert_eq!(
        assume(&policy, &token("repo:evil/x:ref:refs/heads/main")),
        Decision::ExplicitDeny("statement NoForks".into())
    );
}

fn identity(policies: &[serde_json::Value], action: &str, resource: &str) -> Decision {
    let policies: Vec<Policy> = policies.iter().map(|p| Policy::parse(&p.to_string()).unwrap()).collect();
    let context = Context::default();
    evaluate(&policies, &Request { action, resource: Some(resource), principal: None, context: &context })
}

#[test]
fn identity_policies_match_actions_and_resources_with_wildcards() {
    let push = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Effect": "Allow", "Action": ["ecr:PutImage", "ecr:*LayerUpload", "ecr:UploadLayerPart"], "Resource": REPO},
    ]});
    let other_repo = "arn:aws:ecr:us-east-1:123456789012:repository/other";
    let table = [
        (vec![push.clone()], "ecr:GetAuthorizationToken", "*", true),
        (vec![push.clone()], "ecr:PutImage", REPO, true),
        (vec![push.clone()], "ECR:putimage", REPO, true),
        (vec![push.clone()], "ecr:InitiateLayerUpload", REPO, true),
        (vec![push.clone()], "ecr:CompleteLayerUpload", REPO, true),
        (vec![push.clone()], "ecr:PutImage", other_repo, false),
        (vec![push.clone()], "ecr:DeleteRepository", REPO, false),
        (vec![], "ecr:PutImage", REPO, false),
        (
            vec![
                json!({"Statement": {"Effect": "Allow", "Action": "ecr:*", "Resource": "arn:aws:ecr:*:*:repository/pay*"}}),
            ],
            "ecr:PutImage",
            REPO,
            true,
        ),
        (
            vec![json!({"Statement": {"Effect": "Allow", "NotAction": "ecr:Delete*", "Resource": "*"}})],
            "ecr:PutImage",
            REPO,
            true,
        ),
        (
            vec![json!({"Statement": {"Effect": "Allow", "NotAction": "ecr:Delete*", "Resource": "*"}})],
            "ecr:DeleteRepository",
            REPO,
            false,
        ),
        (
            vec![json!({"Statement": {"Effect": "Allow", "Action": "ecr:*", "NotResource": REPO}})],
            "ecr:PutImage",
            REPO,
            false,
        ),
        (
            vec![
                push.clone(),
                json!({"Statement": {"Effect": "Deny", "Action": "ecr:PutImage", "Resource": "*"}}),
            ],
            "ecr:PutImage",
            REPO,
            false,
        ),
        // A statement without Resource never applies to a resource request.
        (
            vec![json!({"Statement": {"Effect": "Allow", "Action": "ecr:PutImage"}})],
            "ecr:PutImage",
            REPO,
            false,
        ),
    ];
    for (policies, action, resource, allowed) in table {
        let decision = identity(&policies, action, resource);
        assert_eq!(
            decision == Decision::Allow,
            allowed,
            "{action} on {resource} with {policies:?}: {decision:?}"
        );
    }
}

#[test]
fn a_document_that_is_not_a_policy_is_rejected() {
    for document in ["not json", "{}", r#"{"Statement": [{"Effect": "Maybe", "Action": "x"}]}"#] {
        assert!(Policy::parse(document).is_err(), "{document}");
    }
}
