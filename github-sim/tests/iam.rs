//! The IAM evaluator the runner uses in place of STS/IAM authorization: trust and identity policies.

use github_sim::iam::{Context, Decision, Policy, Request, evaluate};
use serde_json::json;

const PROVIDER: &str = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
const SUB: &str = "token.actions.githubusercontent.com:sub";
const AUD: &str = "token.actions.githubusercontent.com:aud";
const REPO: &str = "arn:aws:ecr:us-east-1:123456789012:repository/payments";

fn token(sub: &str) -> Context {
    let mut context = Context::default();
    context.insert(SUB, sub);
    context.insert(AUD, "sts.amazonaws.com");
    context
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
        // AWS knows no `repository` key for GitHub's provider: a condition on it never holds.
        (
            json!({"StringEquals": {"token.actions.githubusercontent.com:repository": "acme/payments"}}),
            main,
            false,
        ),
        (json!({"ForAnyValue:StringEquals": {AUD: ["x", "sts.amazonaws.com"]}}), main, true),
    ];
    for (condition, sub, allowed) in table {
        let decision = assume(&trust_with(condition.clone()), &token(sub));
        assert_eq!(decision == Decision::Allow, allowed, "{condition} with sub {sub}: {decision:?}");
    }
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
