//! Shipyard's own AWS permissions: the least-privilege policy in `deploy/aws/shipyard-policy.json`
//! allows every call Shipyard makes. The calls are the ones the SDK really sent (recorded at its HTTP
//! layer) while services are provisioned, refused in preflight and deleted; each is evaluated with
//! the same IAM evaluator github-sim's runner uses for trust and push policies. An operation Shipyard
//! starts making that has no resource mapping here, or that the policy does not allow, fails the test.

use github_sim::iam::{Context, Decision, Policy, Request, evaluate};
use shipyard::domain::ServiceStatus;
use sqlx::PgPool;

use crate::common::{
    app::{TestApp, unique_name},
    aws_faults::Call,
    fixtures::create_foreign_role,
};

/// IAM calls on a role name authorize against the role's ARN, which carries its path when it exists
/// (`role/shipyard/NAME`) and is `role/NAME` while it does not (preflight's look-ups): the read-only
/// look-ups must be allowed on both.
const ROLE_READS: &[&str] = &["GetRole", "ListRoleTags", "ListAttachedRolePolicies"];

/// The resources (with request context) IAM would authorize `call` against.
fn authorized_as(call: &Call, account: &str, region: &str) -> Result<Vec<(String, Context)>, String> {
    let p = |key: &str| {
        call.params
            .get(key)
            .cloned()
            .ok_or_else(|| format!("{} without {key}: {:?}", call.operation, call.params))
    };
    let role = |name: &str, path: &str| format!("arn:aws:iam::{account}:role{path}{name}");
    let plain = |resource: String| vec![(resource, Context::default())];
    let ecr_repo = |name: &str| format!("arn:aws:ecr:{region}:{account}:repository/{name}");
    let op = call.operation.as_str();
    Ok(match (call.service, op) {
        ("sts", "GetCallerIdentity") => plain("*".into()),
        ("iam", "ListOpenIDConnectProviders") => plain("*".into()),
        ("iam", "CreateOpenIDConnectProvider") => {
            let url = p("Url")?;
            plain(format!("arn:aws:iam::{account}:oidc-provider/{}", url.trim_start_matches("https://")))
        }
        ("iam", "GetOpenIDConnectProvider" | "AddClientIDToOpenIDConnectProvider") => {
            plain(p("OpenIDConnectProviderArn")?)
        }
        ("iam", op) if ROLE_READS.contains(&op) => {
            let name = p("RoleName")?;
            vec![(role(&name, "/"), Context::default()), (role(&name, "/shipyard/"), Context::default())]
        }
        ("iam", "CreateRole") => plain(role(&p("RoleName")?, &p("Path").unwrap_or_else(|_| "/".into()))),
        (
            "iam",
            "TagRole" | "UpdateAssumeRolePolicy" | "ListRolePolicies" | "DeleteRolePolicy" | "DeleteRole",
        ) => plain(role(&p("RoleName")?, "/shipyard/")),
        ("iam", "AttachRolePolicy" | "DetachRolePolicy") => {
            let mut context = Context::default();
            context.insert("iam:PolicyARN", &p("PolicyArn")?);
            vec![(role(&p("RoleName")?, "/shipyard/"), context)]
        }
        ("iam", "CreatePolicy") => {
            let path = p("Path").unwrap_or_else(|_| "/".into());
            plain(format!("arn:aws:iam::{account}:policy{path}{}", p("PolicyName")?))
        }
        (
            "iam",
            "GetPolicy"
            | "GetPolicyVersion"
            | "ListPolicyVersions"
            | "CreatePolicyVersion"
            | "DeletePolicyVersion"
            | "ListPolicyTags"
            | "TagPolicy"
            | "ListEntitiesForPolicy"
            | "DeletePolicy",
        ) => plain(p("PolicyArn")?),
        ("ecr", "DescribeRepositories") => {
            let names: Vec<String> =
                serde_json::from_str(&p("repositoryNames")?).map_err(|e| e.to_string())?;
            names.iter().map(|n| (ecr_repo(n), Context::default())).collect()
        }
        ("ecr", "CreateRepository" | "PutImageScanningConfiguration" | "DescribeImages" | "ListImages") => {
            plain(ecr_repo(&p("repositoryName")?))
        }
        ("ecr", "DeleteRepository") => {
            // Shipyard deletes only a repository it has just seen carry its service-id tag.
            let mut context = Context::default();
            context.insert("aws:ResourceTag/shipyard:service-id", "present");
            vec![(ecr_repo(&p("repositoryName")?), context)]
        }
        ("ecr", "TagResource" | "ListTagsForResource") => plain(p("resourceArn")?),
        (service, op) => {
            return Err(format!("{service}:{op} has no resource mapping in aws_permissions.rs; add one"));
        }
    })
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_deploy_policy_allows_every_aws_call_shipyard_makes(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;

    // Provisioned, then deleted.
    let name = unique_name("perms");
    app.create_service(&bob, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    let response = app.delete_via_api(&bob, &name).await;
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    // Refused in preflight by someone else's role, then deleted (what it made is left alone).
    let taken = unique_name("perms-taken");
    create_foreign_role(&format!("gha.acme.{taken}.dev.main")).await;
    app.create_service(&bob, &taken).await;
    assert_eq!(app.settle(&app.reconciler(), &taken).await, ServiceStatus::Failed);

    let account = app.aws.account_id().await.unwrap();
    let region = "us-east-1";
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/aws/shipyard-policy.json"))
            .expect("deploy/aws/shipyard-policy.json");
    let policy = Policy::parse(&text.replace("ACCOUNT_ID", &account).replace("REGION", region))
        .expect("the policy parses");

    let calls = app.aws_faults.recorded_calls();
    assert!(calls.len() > 30, "the flows made AWS calls: {}", calls.len());
    let mut refused = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for call in &calls {
        seen.insert(format!("{}:{}", call.service, call.operation));
        match authorized_as(call, &account, region) {
            Err(why) => refused.push(why),
            Ok(resources) => {
                for (resource, context) in resources {
                    let action = format!("{}:{}", call.service, call.operation);
                    let request = Request {
                        action: &action,
                        resource: Some(&resource),
                        principal: None,
                        context: &context,
                    };
                    if evaluate(std::slice::from_ref(&policy), &request) != Decision::Allow {
                        refused.push(format!(
                            "{action} on {resource}: {:?}",
                            evaluate(std::slice::from_ref(&policy), &request)
                        ));
                    }
                }
            }
        }
    }
    refused.sort();
    refused.dedup();
    assert!(refused.is_empty(), "calls the deploy policy does not allow:\n{}", refused.join("\n"));
    for expected in [
        "iam:CreateRole",
        "iam:AttachRolePolicy",
        "iam:DeleteRole",
        "ecr:CreateRepository",
        "ecr:DeleteRepository",
    ] {
        assert!(seen.contains(expected), "the flows exercised {expected}: {seen:?}");
    }
}

/// The mapping and the evaluator refuse what the policy does not grant (the test above can fail).
#[test]
fn a_call_outside_shipyards_paths_is_refused() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/aws/shipyard-policy.json"))
            .unwrap();
    let policy =
        Policy::parse(&text.replace("ACCOUNT_ID", "123456789012").replace("REGION", "us-east-1")).unwrap();
    let context = Context::default();
    let ask = |action: &str, resource: &str| {
        evaluate(
            std::slice::from_ref(&policy),
            &Request { action, resource: Some(resource), principal: None, context: &context },
        )
    };
    assert_eq!(ask("iam:DeleteRole", "arn:aws:iam::123456789012:role/shipyard/x"), Decision::Allow);
    assert_ne!(ask("iam:DeleteRole", "arn:aws:iam::123456789012:role/admin"), Decision::Allow);
    assert_ne!(ask("iam:CreateUser", "arn:aws:iam::123456789012:user/x"), Decision::Allow);
    let mut attach = Context::default();
    attach.insert("iam:PolicyARN", "arn:aws:iam::aws:policy/AdministratorAccess");
    let request = Request {
        action: "iam:AttachRolePolicy",
        resource: Some("arn:aws:iam::123456789012:role/shipyard/x"),
        principal: None,
        context: &attach,
    };
    assert_ne!(
        evaluate(std::slice::from_ref(&policy), &request),
        Decision::Allow,
        "no admin policy on our roles"
    );
    assert_ne!(
        ask("ecr:DeleteRepository", "arn:aws:ecr:us-east-1:123456789012:repository/x"),
        Decision::Allow,
        "untagged"
    );
}
