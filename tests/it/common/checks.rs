//! What "fully provisioned" means, checked against github-sim and moto (not against our own records).

use serde_json::json;
use shipyard::aws::policy;

use super::app::TestApp;
use super::fixtures::service_id;

const ACTIONS: [&str; 7] = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
];

/// Checks that exactly one of each resource exists for `name` and that it is wired correctly.
pub async fn assert_fully_provisioned(app: &TestApp, name: &str) {
    let sim = app.sim();
    let account = app.aws.account().await.unwrap();
    let role_name = format!("gha.acme.{name}.dev.main");

    // GitHub: one repository, generated from the template, private, with content on main.
    let repos: Vec<_> = sim.repos("acme").into_iter().filter(|r| r.name == name).collect();
    assert_eq!(repos.len(), 1, "exactly one repository {name}");
    let repo = &repos[0];
    assert_eq!(repo.template_full_name.as_deref(), Some("acme/service-template"));
    assert!(repo.private);
    assert_eq!(repo.default_branch, "main");

    // ECR: scan on push, tagged.
    let ecr = app.aws.find_ecr_repository(name).await.unwrap().expect("the ECR repository exists");
    assert!(ecr.scan_on_push);
    assert_eq!(ecr.tags.get("Service").map(String::as_str), Some(name));
    assert_eq!(ecr.tags.get("Environment").map(String::as_str), Some("dev"));
    assert_eq!(ecr.tags.get("Managed-By").map(String::as_str), Some("shipyard"));
    let service_id = service_id(app, name).await;
    assert_eq!(ecr.tags.get("shipyard:service-id"), Some(&service_id.to_string()));

    // IAM: the role trusts exactly this repository, by its ids (so a rename keeps it), on main.
    let role = app.aws.get_role(&role_name).await.unwrap().expect("the role exists");
    let issuer = app.aws.oidc_issuer().key();
    let provider_arn = account.oidc_provider_arn(app.aws.oidc_issuer());
    assert_eq!(provider_arn, format!("arn:aws:iam::{}:oidc-provider/{issuer}", account.id));
    let subject = format!("repo:*@1000/*@{}:ref:refs/heads/main", repo.id);
    let statement = &role.trust_policy["Statement"][0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(statement["Principal"], json!({ "Federated": provider_arn }));
    assert_eq!(
        statement["Condition"],
        json!({
            "StringEquals": {
                format!("{issuer}:aud"): "sts.amazonaws.com",
                format!("{issuer}:repository_id"): repo.id.to_string(),
            },
            "StringLike": { format!("{issuer}:sub"): subject },
        })
    );
    assert_eq!(role.trust_policy["Statement"].as_array().unwrap().len(), 1);
    assert_eq!(
        role.trust_policy,
        policy::trust_policy(
            &provider_arn,
            app.aws.oidc_issuer(),
            &shipyard::domain::SubjectPrefix::Immutable { owner_id: 1000, repo_id: repo.id },
            "main"
        )
    );

    // The policy: exactly the push actions on exactly this repository, and the login token on *.
    assert_eq!(role.attached_policy_arns.len(), 1, "one attached policy");
    let document = app.aws.get_policy_document(&role.attached_policy_arns[0]).await.unwrap().unwrap();
    let statements = document["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2);
    let mut actions: Vec<&str> =
        statements[0]["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    actions.sort();
    assert_eq!(actions, ACTIONS);
    assert_eq!(statements[0]["Resource"], json!(ecr.arn));
    assert_eq!(statements[1]["Action"], json!("ecr:GetAuthorizationToken"));
    assert_eq!(statements[1]["Resource"], json!("*"));
    assert_eq!(document, policy::ecr_push_policy(&ecr.arn));

    // Secrets: the three values, decrypted by the sim from the sealed boxes it received.
    let secrets = sim.secrets("acme", name);
    assert_eq!(secrets.len(), 3, "{secrets:?}");
    assert_eq!(secrets["AWS_REGION"], "us-east-1");
    assert_eq!(secrets["GHA_DEFAULT_ROLE_ARN"], role.arn);
    assert_eq!(secrets["ECR_REPO_URL"], ecr.uri);

    // The default branch: one ruleset of Shipyard's, active, with the rules.
    let ruleset = default_branch_ruleset(app, name).await;
    assert_eq!(ruleset["enforcement"], "active");
    assert_eq!(ruleset["conditions"]["ref_name"]["include"], json!(["~DEFAULT_BRANCH"]));
    let types: Vec<&str> =
        ruleset["rules"].as_array().unwrap().iter().filter_map(|r| r["type"].as_str()).collect();
    assert_eq!(types, ["deletion", "non_fast_forward", "pull_request"]);
    let pull = &ruleset["rules"][2]["parameters"];
    assert_eq!(pull["required_approving_review_count"], app.config.branch_protection.required_approvals);
    assert_eq!(pull["require_code_owner_review"], true);

    // The first build: the initial run failed (no secrets at queue time) and its re-run is green.
    let runs = sim.runs("acme", name);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].conclusion.as_deref(), Some("success"));
    assert_eq!(runs[0].run_attempt, 2);
}

/// The repository's one `shipyard-default-branch` ruleset, read back from github-sim as alice (an
/// organization owner, who sees every repository) would (panics unless there is exactly one).
pub async fn default_branch_ruleset(app: &TestApp, name: &str) -> serde_json::Value {
    let get = |path: String| async move {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", app.github.url()))
            .bearer_auth("ghp_sandbox_alice")
            .header("user-agent", "shipyard-tests")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json::<serde_json::Value>().await.unwrap()
    };
    let listed = get(format!("/repos/acme/{name}/rulesets?includes_parents=false")).await;
    let ours: Vec<&serde_json::Value> =
        listed.as_array().unwrap().iter().filter(|r| r["name"] == "shipyard-default-branch").collect();
    assert_eq!(ours.len(), 1, "exactly one ruleset shipyard-default-branch: {listed}");
    get(format!("/repos/acme/{name}/rulesets/{}", ours[0]["id"])).await
}
