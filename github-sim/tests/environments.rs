//! Deployment environments: create/read/list/delete, GitHub's validation, environment secrets sealed to the
//! environment's own key, and what a workflow job naming an environment sees.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{BOB, BOT, MALLORY, api, generate, get_json, put_secret, start, start_with};
use github_sim::{RunningSim, SeedWorkflow};
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);

fn seal(key_b64: &str, value: &str) -> String {
    let key = crypto_box::PublicKey::from_slice(&B64.decode(key_b64).unwrap()).unwrap();
    B64.encode(key.seal(&mut crypto_box::aead::OsRng, value.as_bytes()).unwrap())
}

/// `PUT .../environments/{name}` as `token` with `body`: (status, JSON body or `Null`).
async fn put_env(sim: &RunningSim, repo: &str, name: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = api(Method::PUT, sim, &format!("/repos/acme/{repo}/environments/{name}"), token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

/// Seals `value` to environment `env`'s key and stores it as secret `name`, returning the status.
async fn put_env_secret(sim: &RunningSim, repo: &str, env: &str, name: &str, value: &str) -> u16 {
    let base = format!("/repos/acme/{repo}/environments/{env}/secrets");
    let key = get_json(sim, &format!("{base}/public-key"), BOT).await;
    let body = json!({"encrypted_value": seal(key["key"].as_str().unwrap(), value), "key_id": key["key_id"]});
    api(Method::PUT, sim, &format!("{base}/{name}"), BOT).json(&body).send().await.unwrap().status().as_u16()
}

async fn status(sim: &RunningSim, method: Method, path: &str, token: &str) -> u16 {
    api(method, sim, path, token).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn environments_are_created_read_listed_updated_and_deleted() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "svc").await;

    let (code, created) = put_env(&sim, "svc", "Production", BOT, None).await;
    assert_eq!(code, 200, "{created}");
    assert_eq!(created["name"], "Production");
    assert_eq!(created["protection_rules"], json!([]));
    assert_eq!(created["deployment_branch_policy"], Value::Null);
    assert!(created["url"].as_str().unwrap().ends_with("/repos/acme/svc/environments/Production"));

    // Names are case-insensitive: this updates the same environment, which keeps its name and id.
    let body = json!({
        "wait_timer": 30,
        "prevent_self_review": true,
        "reviewers": [{"type": "User", "id": 2002}],
        "deployment_branch_policy": {"protected_branches": true, "custom_branch_policies": false},
    });
    let (code, updated) = put_env(&sim, "svc", "production", BOT, Some(body)).await;
    assert_eq!(code, 200, "{updated}");
    assert_eq!((&updated["id"], &updated["name"]), (&created["id"], &json!("Production")));
    let types: Vec<&str> =
        updated["protection_rules"].as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["wait_timer", "required_reviewers", "branch_policy"]);
    assert_eq!(updated["protection_rules"][0]["wait_timer"], 30);
    assert_eq!(updated["protection_rules"][1]["reviewers"][0]["reviewer"]["login"], "bob");
    assert_eq!(updated["protection_rules"][1]["prevent_self_review"], true);

    // Leaving a field out keeps it; an explicit null clears it.
    let (_, kept) = put_env(&sim, "svc", "PRODUCTION", BOT, Some(json!({"reviewers": null}))).await;
    let types: Vec<&str> =
        kept["protection_rules"].as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["wait_timer", "branch_policy"]);

    let fetched = get_json(&sim, "/repos/acme/svc/environments/pRoDuCtIoN", BOT).await;
    assert_eq!(fetched["id"], created["id"]);
    put_env(&sim, "svc", "customer%2Fstaging", BOT, None).await;
    let nested = get_json(&sim, "/repos/acme/svc/environments/customer%2Fstaging", BOT).await;
    assert_eq!(nested["name"], "customer/staging");
    assert!(nested["url"].as_str().unwrap().ends_with("/environments/customer%2Fstaging"));
    assert_eq!(sim.sim().environments("acme", "svc"), ["Production", "customer/staging"]);

    let listed = get_json(&sim, "/repos/acme/svc/environments", BOT).await;
    assert_eq!(listed["total_count"], 2);
    let paged = api(Method::GET, &sim, "/repos/acme/svc/environments?per_page=1", BOT).send().await.unwrap();
    let link = paged.headers()["link"].to_str().unwrap().to_string();
    assert!(link.contains("page=2>; rel=\"next\""), "{link}");
    let paged: Value = paged.json().await.unwrap();
    assert_eq!(
        (paged["total_count"].as_u64(), paged["environments"].as_array().unwrap().len()),
        (Some(2), 1)
    );
    // Anyone who can read the repository can read its environments.
    assert_eq!(status(&sim, Method::GET, "/repos/acme/svc/environments", BOB).await, 200);

    assert_eq!(status(&sim, Method::DELETE, "/repos/acme/svc/environments/production", BOT).await, 204);
    assert_eq!(status(&sim, Method::DELETE, "/repos/acme/svc/environments/production", BOT).await, 404);
    assert_eq!(status(&sim, Method::GET, "/repos/acme/svc/environments/Production", BOT).await, 404);
    assert_eq!(sim.sim().environments("acme", "svc"), ["customer/staging"]);
}

#[tokio::test]
async fn bad_names_and_bodies_are_refused_with_422_and_missing_things_with_404() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "svc").await;
    let long = "a".repeat(256);
    for name in [long.as_str(), "a%2Cb", "%20prod", "a%0Ab"] {
        assert_eq!(put_env(&sim, "svc", name, BOT, None).await.0, 422, "name {name:?}");
    }
    assert_eq!(put_env(&sim, "svc", &"a".repeat(255), BOT, None).await.0, 200);
    let bad_bodies = [
        json!({"wait_timer": 43_201}),
        json!({"wait_timer": -1}),
        json!({"wait_timer": "30"}),
        json!({"prevent_self_review": "yes"}),
        json!({"colour": "blue"}),
        json!({"deployment_branch_policy": {"protected_branches": true, "custom_branch_policies": true}}),
        json!({"deployment_branch_policy": {"protected_branches": false}}),
        json!({"reviewers": [{"type": "Robot", "id": 2002}]}),
        json!({"reviewers": [{"type": "User", "id": 999_999}]}),
        json!({"reviewers": [{"type": "User", "id": 2004}]}), // mallory cannot read the private repository
        json!({"reviewers": [{"type": "Team", "id": 1}]}),
        json!({"reviewers": (1..=7).map(|id| json!({"type": "User", "id": id})).collect::<Vec<_>>()}),
    ];
    for body in bad_bodies {
        let (code, answer) = put_env(&sim, "svc", "prod", BOT, Some(body.clone())).await;
        assert_eq!(code, 422, "{body} was accepted: {answer}");
        assert_eq!(answer["status"], "422");
    }
    assert!(!sim.sim().environments("acme", "svc").contains(&"prod".to_string()), "nothing was created");

    // Admin rights are needed to create or delete; outsiders do not see the repository at all.
    assert_eq!(put_env(&sim, "svc", "prod", BOB, None).await.0, 403);
    assert_eq!(put_env(&sim, "svc", "prod", MALLORY, None).await.0, 404);
    assert_eq!(put_env(&sim, "nope", "prod", BOT, None).await.0, 404);
    put_env(&sim, "svc", "prod", BOT, None).await;
    assert_eq!(status(&sim, Method::DELETE, "/repos/acme/svc/environments/prod", BOB).await, 403);

    let env = "/repos/acme/svc/environments/staging";
    assert_eq!(status(&sim, Method::GET, env, BOT).await, 404);
    assert_eq!(status(&sim, Method::GET, &format!("{env}/secrets"), BOT).await, 404);
    assert_eq!(status(&sim, Method::GET, &format!("{env}/secrets/public-key"), BOT).await, 404);
    assert_eq!(status(&sim, Method::GET, &format!("{env}/secrets/X"), BOT).await, 404);
    assert_eq!(status(&sim, Method::DELETE, &format!("{env}/secrets/X"), BOT).await, 404);
    let body = json!({"encrypted_value": "YWJj", "key_id": "1"});
    let put = api(Method::PUT, &sim, &format!("{env}/secrets/X"), BOT).json(&body).send().await.unwrap();
    assert_eq!(put.status(), 404);
    assert_eq!(status(&sim, Method::GET, "/repos/acme/svc/environments/prod/secrets/X", BOT).await, 404);
    assert_eq!(sim.sim().environment_secrets("acme", "svc", "staging"), None);
}

#[tokio::test]
async fn environment_secrets_are_sealed_to_the_environments_own_key() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "svc").await;
    put_env(&sim, "svc", "prod", BOT, None).await;
    put_env(&sim, "svc", "staging", BOT, None).await;
    let repo_key = get_json(&sim, "/repos/acme/svc/actions/secrets/public-key", BOT).await;
    let prod_key = get_json(&sim, "/repos/acme/svc/environments/prod/secrets/public-key", BOT).await;
    let staging_key = get_json(&sim, "/repos/acme/svc/environments/staging/secrets/public-key", BOT).await;
    assert_ne!(prod_key["key"], repo_key["key"]);
    assert_ne!(prod_key["key_id"], repo_key["key_id"]);
    assert_ne!(prod_key["key"], staging_key["key"]);

    let path = "/repos/acme/svc/environments/prod/secrets/db_password";
    let sealed = |key: &Value, value: &str| json!({"encrypted_value": seal(key["key"].as_str().unwrap(), value), "key_id": key["key_id"]});
    // The repository's key id is not this environment's.
    let wrong = api(Method::PUT, &sim, path, BOT).json(&sealed(&repo_key, "x")).send().await.unwrap();
    assert_eq!(wrong.status(), 422);
    // The right key id with a value sealed to another key does not decrypt.
    let mut mixed = sealed(&repo_key, "x");
    mixed["key_id"] = prod_key["key_id"].clone();
    assert_eq!(api(Method::PUT, &sim, path, BOT).json(&mixed).send().await.unwrap().status(), 422);
    let bad_name = "/repos/acme/svc/environments/prod/secrets/GITHUB_TOKEN";
    let refused = api(Method::PUT, &sim, bad_name, BOT).json(&sealed(&prod_key, "x")).send().await.unwrap();
    assert_eq!(refused.status(), 422);

    let created =
        api(Method::PUT, &sim, path, BOT).json(&sealed(&prod_key, "s3cr3t ü")).send().await.unwrap();
    assert_eq!((created.status().as_u16(), created.text().await.unwrap()), (201, "{}".to_string()));
    let updated = api(Method::PUT, &sim, path, BOT).json(&sealed(&prod_key, "rotated")).send().await.unwrap();
    assert_eq!(updated.status(), 204);
    let secrets = sim.sim().environment_secrets("acme", "svc", "PROD").unwrap();
    assert_eq!(secrets["DB_PASSWORD"], "rotated");
    assert!(sim.sim().secrets("acme", "svc").is_empty(), "the repository's secrets are untouched");
    assert_eq!(sim.sim().environment_secrets("acme", "svc", "staging").unwrap().len(), 0);

    let listed = get_json(&sim, "/repos/acme/svc/environments/prod/secrets", BOT).await;
    assert_eq!(
        (listed["total_count"].as_u64(), listed["secrets"][0]["name"].as_str()),
        (Some(1), Some("DB_PASSWORD"))
    );
    let one = get_json(&sim, "/repos/acme/svc/environments/prod/secrets/Db_Password", BOT).await;
    assert_eq!(one["name"], "DB_PASSWORD");
    assert_eq!(status(&sim, Method::GET, "/repos/acme/svc/environments/prod/secrets", MALLORY).await, 404);

    // Deleting the environment deletes its secrets; re-creating it starts empty, with a new key.
    assert_eq!(status(&sim, Method::DELETE, "/repos/acme/svc/environments/prod", BOT).await, 204);
    put_env(&sim, "svc", "prod", BOT, None).await;
    assert_eq!(sim.sim().environment_secrets("acme", "svc", "prod").unwrap().len(), 0);
    let new_key = get_json(&sim, "/repos/acme/svc/environments/prod/secrets/public-key", BOT).await;
    assert_ne!(new_key["key"], prod_key["key"]);
    assert_eq!(put_env_secret(&sim, "svc", "prod", "DB_PASSWORD", "again").await, 201);
    assert_eq!(
        status(&sim, Method::DELETE, "/repos/acme/svc/environments/prod/secrets/db_password", BOT).await,
        204
    );
    assert_eq!(
        status(&sim, Method::DELETE, "/repos/acme/svc/environments/prod/secrets/db_password", BOT).await,
        404
    );

    // Deleting the repository deletes its environments.
    assert_eq!(status(&sim, Method::DELETE, "/repos/acme/svc", BOT).await, 204);
    assert_eq!(sim.sim().environment_secrets("acme", "svc", "staging"), None);
    assert!(sim.sim().environments("acme", "svc").is_empty());
}

/// A template with a `deploy` job naming environment `prod` and a `check` job naming none, both reading
/// `TOKEN`; `deploy` also reads `PROD_ONLY`.
async fn start_with_deploy() -> RunningSim {
    start_with(|c| {
        let mut deploy =
            SeedWorkflow::new(21, "deploy", "deploy.yml", &["workflow_dispatch"], &["TOKEN", "PROD_ONLY"]);
        deploy.environment = Some("prod".into());
        let check =
            SeedWorkflow::new(22, "check", "check.yml", &["workflow_dispatch"], &["TOKEN", "PROD_ONLY"]);
        let template = c.seed.repos.iter_mut().find(|r| r.name == "worker-template").unwrap();
        template.workflows.extend([deploy, check]);
    })
    .await
}

#[tokio::test]
async fn an_environment_job_reads_its_environments_secrets_over_the_repositorys() {
    let sim = start_with_deploy().await;
    generate(&sim, BOT, "worker-template", "app").await;
    put_secret(&sim, "app", "TOKEN", "repo-token").await;
    put_env(&sim, "app", "Prod", BOT, None).await;
    assert_eq!(put_env_secret(&sim, "app", "Prod", "TOKEN", "prod-token").await, 201);
    assert_eq!(put_env_secret(&sim, "app", "Prod", "PROD_ONLY", "only-here").await, 201);

    let deploy = sim.sim().dispatch("acme", "app", "deploy.yml", "main").unwrap();
    let seen = sim.sim().job_secrets("acme", "app", deploy).unwrap();
    assert_eq!(seen["TOKEN"], "prod-token", "the environment's value wins");
    assert_eq!(seen["PROD_ONLY"], "only-here");
    let done = sim.sim().wait_for_run("acme", "app", deploy, WAIT).await.unwrap();
    assert_eq!(done.conclusion.as_deref(), Some("success"));

    let check = sim.sim().dispatch("acme", "app", "check.yml", "main").unwrap();
    let seen = sim.sim().job_secrets("acme", "app", check).unwrap();
    assert_eq!(seen.get("TOKEN").map(String::as_str), Some("repo-token"));
    assert!(!seen.contains_key("PROD_ONLY"), "a job without the environment does not see its secrets");
    let done = sim.sim().wait_for_run("acme", "app", check, WAIT).await.unwrap();
    assert_eq!(done.conclusion.as_deref(), Some("failure"));
    let log = sim.sim().job_log("acme", "app", check).unwrap();
    assert!(log.contains("secret PROD_ONLY is not set"), "{log}");

    // Secrets are captured when an attempt is queued: a re-run sees the environment's value as it is then.
    assert_eq!(put_env_secret(&sim, "app", "prod", "TOKEN", "rotated").await, 204);
    assert_eq!(
        status(&sim, Method::POST, &format!("/repos/acme/app/actions/runs/{deploy}/rerun"), BOT).await,
        201
    );
    assert_eq!(sim.sim().job_secrets("acme", "app", deploy).unwrap()["TOKEN"], "rotated");
    assert_eq!(sim.sim().environments("acme", "app"), ["Prod"], "no second environment for another case");
}

#[tokio::test]
async fn a_job_naming_a_missing_environment_creates_it_without_secrets() {
    let sim = start_with_deploy().await;
    generate(&sim, BOT, "worker-template", "fresh").await;
    put_secret(&sim, "fresh", "TOKEN", "repo-token").await;
    assert!(sim.sim().environments("acme", "fresh").is_empty());
    let run = sim.sim().dispatch("acme", "fresh", "deploy.yml", "main").unwrap();
    assert_eq!(sim.sim().environments("acme", "fresh"), ["prod"]);
    assert_eq!(sim.sim().environment_secrets("acme", "fresh", "prod").unwrap().len(), 0);
    let seen = sim.sim().job_secrets("acme", "fresh", run).unwrap();
    assert_eq!(seen.get("TOKEN").map(String::as_str), Some("repo-token"), "repository secrets still apply");
    let env = get_json(&sim, "/repos/acme/fresh/environments/prod", BOT).await;
    assert_eq!((env["name"].as_str(), &env["protection_rules"]), (Some("prod"), &json!([])));
}

/// Dispatches `deploy.yml` on `git_ref` in `repo` and waits for it: (status, conclusion, job steps, log).
async fn deploy(sim: &RunningSim, repo: &str, git_ref: &str) -> (String, Option<String>, Vec<Value>, String) {
    let run = sim.sim().dispatch("acme", repo, "deploy.yml", git_ref).unwrap();
    let done = sim.sim().wait_for_run("acme", repo, run, WAIT).await.unwrap();
    let jobs = get_json(sim, &format!("/repos/acme/{repo}/actions/runs/{run}/jobs"), BOT).await;
    let steps = jobs["jobs"][0]["steps"].as_array().cloned().unwrap_or_default();
    let log = sim.sim().job_log("acme", repo, run).unwrap_or_default();
    (done.status, done.conclusion, steps, log)
}

/// `app` from the deploy template, its secrets set, with branch `feature` and tag `v1.0` pushed.
async fn app_with_refs(sim: &RunningSim) {
    generate(sim, BOT, "worker-template", "app").await;
    put_secret(sim, "app", "TOKEN", "repo-token").await;
    put_secret(sim, "app", "PROD_ONLY", "x").await;
    sim.sim().push_branch("acme", "app", "feature");
    sim.sim().push_branch("acme", "app", "release/1");
    sim.sim().push_tag("acme", "app", "v1.0");
}

#[tokio::test]
async fn protected_branches_only_fails_a_job_on_an_unprotected_branch_or_a_tag_before_its_steps() {
    let sim = start_with_deploy().await;
    app_with_refs(&sim).await;
    let only_protected =
        json!({"deployment_branch_policy": {"protected_branches": true, "custom_branch_policies": false}});
    assert_eq!(put_env(&sim, "app", "prod", BOT, Some(only_protected)).await.0, 200);
    sim.sim().protect_branch("acme", "app", "main");

    let (status, conclusion, steps, _) = deploy(&sim, "app", "main").await;
    assert_eq!((status.as_str(), conclusion.as_deref()), ("completed", Some("success")), "main is protected");
    assert!(!steps.is_empty());

    for (git_ref, what) in [("feature", "Branch \"feature\""), ("refs/tags/v1.0", "Tag \"v1.0\"")] {
        let (status, conclusion, steps, log) = deploy(&sim, "app", git_ref).await;
        assert_eq!((status.as_str(), conclusion.as_deref()), ("completed", Some("failure")), "{git_ref}");
        assert_eq!(steps, Vec::<Value>::new(), "{git_ref}: no step ran, not even the set-up");
        let message = format!("{what} is not allowed to deploy to prod due to environment protection rules.");
        assert!(log.contains(&message), "{git_ref}: {log}");
    }
}

#[tokio::test]
async fn protected_branches_only_lets_every_branch_deploy_while_no_branch_protection_rule_exists() {
    let sim = start_with_deploy().await;
    app_with_refs(&sim).await;
    let only_protected =
        json!({"deployment_branch_policy": {"protected_branches": true, "custom_branch_policies": false}});
    assert_eq!(put_env(&sim, "app", "prod", BOT, Some(only_protected)).await.0, 200);
    // A ruleset on the default branch is not a branch protection rule: GitHub's docs name only the latter.
    let ruleset = json!({
        "name": "protect", "target": "branch", "enforcement": "active",
        "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
        "rules": [{"type": "deletion"}, {"type": "non_fast_forward"}],
    });
    let created =
        api(Method::POST, &sim, "/repos/acme/app/rulesets", BOT).json(&ruleset).send().await.unwrap();
    assert_eq!(created.status(), 201);

    let (_, conclusion, _, log) = deploy(&sim, "app", "feature").await;
    assert_eq!(
        conclusion.as_deref(),
        Some("success"),
        "GitHub: no protection rule, every branch deploys\n{log}"
    );
}

#[tokio::test]
async fn selected_branches_and_tags_admit_only_refs_matching_a_pattern_of_their_kind() {
    let sim = start_with_deploy().await;
    app_with_refs(&sim).await;
    let custom =
        json!({"deployment_branch_policy": {"protected_branches": false, "custom_branch_policies": true}});
    assert_eq!(put_env(&sim, "app", "prod", BOT, Some(custom)).await.0, 200);
    let policies = "/repos/acme/app/environments/prod/deployment-branch-policies";
    for body in [json!({"name": "release/*"}), json!({"name": "v*", "type": "tag"})] {
        let added = api(Method::POST, &sim, policies, BOT).json(&body).send().await.unwrap();
        assert_eq!(added.status(), 200, "{body}");
    }
    let listed = get_json(&sim, policies, BOT).await;
    assert_eq!(listed["total_count"], 2);
    assert_eq!(listed["branch_policies"][1]["type"], "tag");

    for (git_ref, conclusion) in
        [("release/1", "success"), ("refs/tags/v1.0", "success"), ("main", "failure"), ("feature", "failure")]
    {
        let (_, got, _, log) = deploy(&sim, "app", git_ref).await;
        assert_eq!(got.as_deref(), Some(conclusion), "{git_ref}:\n{log}");
    }
}

#[tokio::test]
async fn a_policy_cannot_be_added_while_the_environment_does_not_use_custom_policies() {
    let sim = start_with_deploy().await;
    generate(&sim, BOT, "worker-template", "app").await;
    assert_eq!(put_env(&sim, "app", "prod", BOT, None).await.0, 200);
    let policies = "/repos/acme/app/environments/prod/deployment-branch-policies";
    let refused = api(Method::POST, &sim, policies, BOT).json(&json!({"name": "main"})).send().await.unwrap();
    assert_eq!(refused.status(), 404);
    assert_eq!(get_json(&sim, policies, BOT).await["total_count"], 0, "nothing was added");
}

#[tokio::test]
async fn required_reviewers_park_the_job_and_its_run_as_waiting() {
    let sim = start_with_deploy().await;
    app_with_refs(&sim).await;
    let reviewed = json!({"reviewers": [{"type": "User", "id": 2001}]});
    assert_eq!(put_env(&sim, "app", "prod", BOT, Some(reviewed)).await.0, 200);

    let run = sim.sim().dispatch("acme", "app", "deploy.yml", "main").unwrap();
    let done = sim.sim().wait_for_run("acme", "app", run, WAIT).await.unwrap();
    assert_eq!((done.status.as_str(), done.conclusion), ("waiting", None));
    let api_run = get_json(&sim, &format!("/repos/acme/app/actions/runs/{run}"), BOT).await;
    assert_eq!((api_run["status"].as_str(), &api_run["conclusion"]), (Some("waiting"), &Value::Null));
    let jobs = get_json(&sim, &format!("/repos/acme/app/actions/runs/{run}/jobs"), BOT).await;
    assert_eq!(jobs["jobs"][0]["status"], "waiting");
    assert_eq!(jobs["jobs"][0]["steps"], json!([]), "nothing ran");
}
