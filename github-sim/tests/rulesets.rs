//! Repository rulesets: what applies to a branch, and where the plan refuses them.

mod common;

use common::{BOT, api, generate, get_json, start, start_with};
use reqwest::Method;
use serde_json::{Value, json};

fn default_branch_ruleset(enforcement: &str) -> Value {
    json!({
        "name": "protect", "target": "branch", "enforcement": enforcement,
        "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH", "refs/heads/release/*"], "exclude": []}},
        "rules": [{"type": "deletion"}, {"type": "non_fast_forward"}],
    })
}

#[tokio::test]
async fn rules_apply_to_the_branches_the_conditions_name_while_active() {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    let created = api(Method::POST, &sim, "/repos/acme/svc/rulesets", BOT)
        .json(&default_branch_ruleset("active"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"].clone();
    let types = |rules: Value| -> Vec<String> {
        rules.as_array().unwrap().iter().filter_map(|r| r["type"].as_str().map(str::to_owned)).collect()
    };
    let main = get_json(&sim, "/repos/acme/svc/rules/branches/main", BOT).await;
    assert_eq!(types(main.clone()), ["deletion", "non_fast_forward"]);
    assert_eq!(
        (main[0]["ruleset_id"].clone(), main[0]["ruleset_source"].as_str()),
        (id.clone(), Some("acme/svc"))
    );
    assert_eq!(types(get_json(&sim, "/repos/acme/svc/rules/branches/release/1.0", BOT).await).len(), 2);
    assert!(
        types(get_json(&sim, "/repos/acme/svc/rules/branches/release/1/x", BOT).await).is_empty(),
        "* stops at /"
    );
    assert!(types(get_json(&sim, "/repos/acme/svc/rules/branches/feature", BOT).await).is_empty());

    let disabled = api(Method::PUT, &sim, &format!("/repos/acme/svc/rulesets/{id}"), BOT)
        .json(&json!({"enforcement": "evaluate"}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    assert!(
        types(get_json(&sim, "/repos/acme/svc/rules/branches/main", BOT).await).is_empty(),
        "evaluate enforces nothing"
    );
}

#[tokio::test]
async fn a_free_organization_cannot_protect_a_private_repository() {
    let sim = start_with(|c| c.seed.orgs[0].plan = "free".into()).await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    let refused = api(Method::POST, &sim, "/repos/acme/svc/rulesets", BOT)
        .json(&default_branch_ruleset("active"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["message"],
        "Upgrade to GitHub Pro or make this repository public to enable this feature."
    );
    assert_eq!(get_json(&sim, "/repos/acme/svc/rulesets", BOT).await, json!([]), "nothing was created");
    let public = api(Method::PATCH, &sim, "/repos/acme/svc", BOT)
        .json(&json!({"private": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 200);
    let allowed = api(Method::POST, &sim, "/repos/acme/svc/rulesets", BOT)
        .json(&default_branch_ruleset("active"))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 201, "a public repository of a Free organization may have rulesets");
}
