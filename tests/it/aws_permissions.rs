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
    fixtures::{BOUNDARY_ARN, create_foreign_role},
};

/// The keys of an ECR request's `tags` (what IAM sees as `aws:TagKeys`).
fn tag_keys(call: &Call) -> Result<Vec<String>, String> {
    let Some(tags) = call.params.get("tags") else { return Ok(Vec::new()) };
    let tags: Vec<serde_json::Value> = serde_json::from_str(tags).map_err(|e| e.to_string())?;
    Ok(tags.iter().filter_map(|t| t["Key"].as_str().map(str::to_owned)).collect())
}

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
        ("iam", "CreateRole") => {
            let mut context = Context::default();
            if let Ok(boundary) = p("PermissionsBoundary") {
                context.insert("iam:PermissionsBoundary", &boundary);
            }
            vec![(role(&p("RoleName")?, &p("Path").unwrap_or_else(|_| "/".into())), context)]
        }
        (
            "iam",
            "TagRole" | "UpdateAssumeRolePolicy" | "ListRolePolicies" | "DeleteRolePolicy" | "DeleteRole",
        ) => plain(role(&p("RoleName")?, "/shipyard/")),
        ("iam", "AttachRolePolicy" | "DetachRolePolicy") => {
            let mut context = Context::default();
            context.insert("iam:PolicyARN", &p("PolicyArn")?);
            // IAM asks the role's boundary; every role here was created by Shipyard, and the test
            // requires each CreateRole to have been allowed, which it is only with the boundary.
            context.insert("iam:PermissionsBoundary", BOUNDARY_ARN);
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
        ("ecr", "CreateRepository") => {
            let mut context = Context::default();
            for key in tag_keys(call)? {
                context.insert("aws:TagKeys", &key);
            }
            vec![(ecr_repo(&p("repositoryName")?), context)]
        }
        ("ecr", "TagResource") => {
            let mut context = Context::default();
            for key in tag_keys(call)? {
                context.insert("aws:TagKeys", &key);
            }
            vec![(p("resourceArn")?, context)]
        }
        (
            "ecr",
            "PutImageScanningConfiguration"
            | "DescribeImages"
            | "ListImages"
            | "GetLifecyclePolicy"
            | "PutLifecyclePolicy"
            | "PutImageTagMutability",
        ) => plain(ecr_repo(&p("repositoryName")?)),
        ("ecr", "DeleteRepository") => {
            // Shipyard deletes only a repository it has just seen carry its service-id tag.
            let mut context = Context::default();
            context.insert("aws:ResourceTag/shipyard:service-id", "present");
            vec![(ecr_repo(&p("repositoryName")?), context)]
        }
        ("ecr", "ListTagsForResource") => plain(p("resourceArn")?),
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
    let created: Vec<Option<&str>> = calls
        .iter()
        .filter(|c| c.operation == "CreateRole")
        .map(|c| c.params.get("PermissionsBoundary").map(String::as_str))
        .collect();
    assert!(!created.is_empty() && created.iter().all(|b| *b == Some(BOUNDARY_ARN)), "{created:?}");
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

const ACCOUNT: &str = "123456789012";

/// A deploy/aws document with the account and region filled in.
fn deploy_document(file: &str) -> Policy {
    let path = format!("{}/deploy/aws/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Policy::parse(&text.replace("ACCOUNT_ID", ACCOUNT).replace("REGION", "us-east-1")).expect("parses")
}

/// Whether `policies` allow `action` on `resource` with the context `keys` (a key may repeat).
fn allows(policies: &[Policy], action: &str, resource: &str, keys: &[(&str, &str)]) -> Decision {
    let mut context = Context::default();
    for (key, value) in keys {
        context.insert(key, value);
    }
    evaluate(policies, &Request { action, resource: Some(resource), principal: None, context: &context })
}

/// What a role may do, as AWS decides for a role with a permissions boundary: its identity policies
/// must allow the action and so must the boundary (github-sim's runner decides a push the same way).
fn role_may(identity: &Policy, boundary: &Policy, action: &str, resource: &str) -> bool {
    allows(std::slice::from_ref(identity), action, resource, &[]) == Decision::Allow
        && allows(std::slice::from_ref(boundary), action, resource, &[]) == Decision::Allow
}

const ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// The review's escalation sequences (security.md N1, N3), each step judged against Shipyard's policy.
#[test]
fn the_reviews_escalation_sequences_are_refused() {
    let shipyard = [deploy_document("shipyard-policy.json")];
    let boundary = deploy_document("shipyard-boundary.json");
    let role = format!("arn:aws:iam::{ACCOUNT}:role/shipyard/x");
    let admin_policy = format!("arn:aws:iam::{ACCOUNT}:policy/shipyard/x");
    let allowed = |action, resource: &str, keys: &[(&str, &str)]| allows(&shipyard, action, resource, keys);

    // (A) An admin policy and a role for an outside account. Writing the policy is allowed (Shipyard
    // writes its push policies so) ...
    assert_eq!(allowed("iam:CreatePolicy", &admin_policy, &[]), Decision::Allow);
    // ... but no role without the boundary, nor with a boundary of Shipyard's own making.
    assert_ne!(allowed("iam:CreateRole", &role, &[]), Decision::Allow, "a role without a boundary");
    assert_ne!(
        allowed("iam:CreateRole", &role, &[("iam:PermissionsBoundary", &admin_policy)]),
        Decision::Allow,
        "a role whose boundary is a policy Shipyard wrote"
    );
    // Nor may it attach its policies to a role without that boundary (Shipyard's own, or any other).
    let unbounded = [("iam:PolicyARN", admin_policy.as_str())];
    assert_ne!(allowed("iam:AttachRolePolicy", &role, &unbounded), Decision::Allow);
    // With the boundary the role and the attachment are allowed (the trust is Shipyard's to write) ...
    let bounded = [("iam:PolicyARN", admin_policy.as_str()), ("iam:PermissionsBoundary", BOUNDARY_ARN)];
    assert_eq!(
        allowed("iam:CreateRole", &role, &[("iam:PermissionsBoundary", BOUNDARY_ARN)]),
        Decision::Allow
    );
    assert_eq!(allowed("iam:AttachRolePolicy", &role, &bounded), Decision::Allow);
    // ... and the admin role can do nothing but log in to ECR and push.
    let admin = Policy::parse(ADMIN).unwrap();
    for (action, resource) in [
        ("iam:CreateUser", format!("arn:aws:iam::{ACCOUNT}:user/x")),
        ("iam:AttachRolePolicy", role.clone()),
        ("iam:PutRolePermissionsBoundary", role.clone()),
        ("sts:AssumeRole", format!("arn:aws:iam::{ACCOUNT}:role/admin")),
        ("s3:GetObject", "arn:aws:s3:::payroll/2026.csv".to_owned()),
        ("ecr:DeleteRepository", format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/x")),
        ("ecr:BatchGetImage", format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/x")),
    ] {
        assert!(!role_may(&admin, &boundary, action, &resource), "{action} on {resource} stays out of reach");
    }
    assert!(role_may(
        &admin,
        &boundary,
        "ecr:PutImage",
        &format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/x")
    ));
    // A boundary is never set, changed or removed, and the boundary policy itself is out of reach.
    for action in ["iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary"] {
        assert!(matches!(allowed(action, &role, &[]), Decision::ExplicitDeny(_)), "{action}");
    }
    for action in ["iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy"] {
        assert!(matches!(allowed(action, BOUNDARY_ARN, &[]), Decision::ExplicitDeny(_)), "{action}");
    }

    // (B) An admin version of an existing push policy: allowed (Repair rewrites a changed document
    // so), and worthless, since every role it is attached to is bounded: identity ∩ boundary.
    let push_policy = format!("arn:aws:iam::{ACCOUNT}:policy/shipyard/gha.acme.svc.dev.main-ecr-push");
    assert_eq!(allowed("iam:CreatePolicyVersion", &push_policy, &[]), Decision::Allow);
    assert!(!role_may(&admin, &boundary, "iam:CreateRole", &role));
    assert!(!role_may(&admin, &boundary, "ec2:RunInstances", "*"));

    // (C) Tag a foreign repository as Shipyard's, then delete it: the tag is refused (any casing), and
    // so is the delete of an untagged repository. Descriptive tags are still allowed.
    let foreign = format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/someone-elses");
    for key in ["shipyard:service-id", "Shipyard:Service-Id", "shipyard:anything"] {
        let keys = [("aws:TagKeys", key)];
        assert_ne!(allowed("ecr:TagResource", &foreign, &keys), Decision::Allow, "{key}");
        let mixed = [("aws:TagKeys", "Service"), ("aws:TagKeys", key)];
        assert_ne!(allowed("ecr:TagResource", &foreign, &mixed), Decision::Allow, "Service + {key}");
    }
    assert_ne!(
        allowed("ecr:UntagResource", &foreign, &[("aws:TagKeys", "shipyard:service-id")]),
        Decision::Allow
    );
    assert_ne!(allowed("ecr:DeleteRepository", &foreign, &[]), Decision::Allow);
    let descriptive =
        [("aws:TagKeys", "Service"), ("aws:TagKeys", "Environment"), ("aws:TagKeys", "Managed-By")];
    assert_eq!(allowed("ecr:TagResource", &foreign, &descriptive), Decision::Allow);
    // Creating a repository with the tag stays allowed: that is how Shipyard's own get it.
    let keys = [("aws:TagKeys", "shipyard:service-id")];
    assert_eq!(allowed("ecr:CreateRepository", &foreign, &keys), Decision::Allow);
}
