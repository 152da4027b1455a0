//! Repository rulesets: what applies to a branch, and where the plan refuses them.

mod common;

use common::{BOB, BOT, api, generate, get_json, oauth_token, start, start_with};
use github_sim::RunningSim;
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

/// Gives bob write access to `acme/svc` (a direct collaborator), so only rules can stop his pushes.
async fn bob_can_write(sim: &RunningSim) {
    let granted = api(Method::PUT, sim, "/repos/acme/svc/collaborators/bob", BOT)
        .json(&json!({"permission": "push"}))
        .send()
        .await
        .unwrap();
    assert!(granted.status().is_success(), "{}", granted.status());
}

/// The sandbox route that models `git push`.
async fn push(sim: &RunningSim, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/_sim/repos/acme/svc/push", sim.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn protect_main() -> Value {
    json!({
        "name": "shipyard-default-branch", "target": "branch", "enforcement": "active",
        "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
        "rules": [
            {"type": "deletion"}, {"type": "non_fast_forward"},
            {"type": "pull_request", "parameters": {
                "required_approving_review_count": 1, "require_code_owner_review": true,
                "dismiss_stale_reviews_on_push": false, "require_last_push_approval": false,
                "required_review_thread_resolution": false}},
        ],
    })
}

async fn svc_with(ruleset: Option<Value>) -> RunningSim {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    bob_can_write(&sim).await;
    if let Some(ruleset) = ruleset {
        let created =
            api(Method::POST, &sim, "/repos/acme/svc/rulesets", BOT).json(&ruleset).send().await.unwrap();
        assert_eq!(created.status(), 201);
    }
    sim
}

#[tokio::test]
async fn a_direct_push_a_force_push_and_a_deletion_of_a_protected_branch_are_refused_as_git_words_it() {
    let sim = svc_with(Some(protect_main())).await;
    let head = sim.sim().repo("acme", "svc").unwrap();
    let runs_before = sim.sim().runs("acme", "svc").len();

    let (status, body) = push(&sim, json!({"login": "bob", "branch": "main"})).await;
    assert_eq!(status, 403);
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("GH013: Repository rule violations found for refs/heads/main."), "{message}");
    assert!(message.contains("rules?ref=refs%2Fheads%2Fmain"), "{message}");
    assert!(message.contains("- Changes must be made through a pull request."), "{message}");
    assert!(!message.contains("force-push"), "a fast-forward breaks no non_fast_forward rule: {message}");
    assert_eq!(body["rejected"], "main -> main (push declined due to repository rule violations)");

    let (status, body) = push(&sim, json!({"login": "bob", "branch": "main", "force": true})).await;
    assert_eq!(status, 403);
    assert!(body["message"].as_str().unwrap().contains("- Cannot force-push to this branch"), "{body}");

    let (status, body) = push(&sim, json!({"login": "bob", "branch": "main", "delete": true})).await;
    assert_eq!(status, 403);
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("- Cannot delete this branch"), "{message}");
    assert!(!message.contains("pull request"), "{message}");

    assert_eq!(sim.sim().repo("acme", "svc").unwrap().branches, head.branches, "main is still there");
    assert_eq!(sim.sim().runs("acme", "svc").len(), runs_before, "a refused push runs nothing");

    let (status, _) = push(&sim, json!({"login": "bob", "branch": "feature"})).await;
    assert_eq!(status, 200, "a branch no rule covers takes the push");
}

#[tokio::test]
async fn without_a_rule_a_writer_pushes_moves_the_head_and_starts_the_push_workflows() {
    let sim = svc_with(None).await;
    let runs_before = sim.sim().runs("acme", "svc").len();
    let before = get_json(&sim, "/repos/acme/svc/branches/main", BOT).await["commit"]["sha"].clone();
    let (status, body) = push(&sim, json!({"login": "bob", "branch": "main"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["before"], before);
    let after = get_json(&sim, "/repos/acme/svc/branches/main", BOT).await["commit"]["sha"].clone();
    assert_eq!(body["after"], after);
    assert_ne!(after, before, "the branch moved");
    let runs = sim.sim().runs("acme", "svc");
    assert_eq!(runs.len(), runs_before + 1, "build.yml runs on push");
    assert_eq!((runs[0].event.as_str(), runs[0].head_sha.as_str()), ("push", after.as_str().unwrap()));

    let (status, body) = push(&sim, json!({"login": "bob", "branch": "main", "force": true})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = push(&sim, json!({"login": "bob", "branch": "main", "delete": true})).await;
    assert_eq!(status, 200);
    assert!(sim.sim().repo("acme", "svc").unwrap().branches.is_empty(), "main was deleted");
}

#[tokio::test]
async fn a_reader_cannot_push_and_an_outsider_does_not_see_the_repository() {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    let (status, body) = push(&sim, json!({"login": "bob", "branch": "feature"})).await;
    assert_eq!((status, body["message"].as_str()), (403, Some("Permission to acme/svc.git denied to bob.")));
    let (status, body) = push(&sim, json!({"login": "mallory", "branch": "feature"})).await;
    assert_eq!((status, body["message"].as_str()), (404, Some("Repository not found.")));
    assert_eq!(sim.sim().repo("acme", "svc").unwrap().branches, ["main"], "nothing was pushed");
}

#[tokio::test]
async fn an_organization_ruleset_covering_the_default_branch_is_listed_and_enforced() {
    let sim = svc_with(None).await;
    let owner = oauth_token(&sim, "alice", "admin:org repo").await;
    let mut ruleset = protect_main();
    ruleset["name"] = json!("org-default-branches");
    ruleset["conditions"]["repository_name"] = json!({"include": ["~ALL"], "exclude": ["service-*"]});
    let created = api(Method::POST, &sim, "/orgs/acme/rulesets", &owner).json(&ruleset).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(
        (created["source_type"].as_str(), created["source"].as_str()),
        (Some("Organization"), Some("acme"))
    );

    let rules = get_json(&sim, "/repos/acme/svc/rules/branches/main", BOT).await;
    assert_eq!(rules.as_array().unwrap().len(), 3, "{rules}");
    assert_eq!(
        (
            rules[0]["ruleset_source_type"].as_str(),
            rules[0]["ruleset_source"].as_str(),
            &rules[0]["ruleset_id"]
        ),
        (Some("Organization"), Some("acme"), &created["id"])
    );
    let (status, body) = push(&sim, json!({"login": "bob", "branch": "main"})).await;
    assert_eq!(status, 403);
    assert!(body["message"].as_str().unwrap().contains("- Changes must be made through a pull request."));
    assert_eq!(
        get_json(&sim, "/repos/acme/service-template/rules/branches/main", BOT).await,
        json!([]),
        "the excluded repositories are not covered"
    );

    let listed = get_json(&sim, "/orgs/acme/rulesets", &owner).await;
    assert_eq!(listed[0]["name"], "org-default-branches");
    let by_id = format!("/orgs/acme/rulesets/{}", created["id"]);
    assert_eq!(get_json(&sim, &by_id, &owner).await["rules"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn only_an_owner_makes_an_organization_ruleset_and_it_must_name_repositories() {
    let sim = start().await;
    let owner = oauth_token(&sim, "alice", "admin:org repo").await;
    let mut ruleset = protect_main();
    let without_repositories =
        api(Method::POST, &sim, "/orgs/acme/rulesets", &owner).json(&ruleset).send().await.unwrap();
    assert_eq!(without_repositories.status(), 422);
    ruleset["conditions"]["repository_name"] = json!({"include": ["~ALL"], "exclude": []});
    let by_member = api(Method::POST, &sim, "/orgs/acme/rulesets", BOB).json(&ruleset).send().await.unwrap();
    assert_eq!(by_member.status(), 404, "a member who is not an owner does not see the settings");
    let without_scope =
        api(Method::POST, &sim, "/orgs/acme/rulesets", common::ALICE).json(&ruleset).send().await.unwrap();
    assert_eq!(without_scope.status(), 404, "an owner's token without admin:org does not either");
    assert_eq!(api(Method::GET, &sim, "/orgs/acme/rulesets", BOB).send().await.unwrap().status(), 404);
    let listed = get_json(&sim, "/orgs/acme/rulesets", &owner).await;
    assert_eq!(listed, json!([]), "nothing was created");
}

#[tokio::test]
async fn rulesets_in_evaluate_or_disabled_mode_and_bypass_actors_do_not_block() {
    let mut evaluate = protect_main();
    evaluate["enforcement"] = json!("evaluate");
    let sim = svc_with(Some(evaluate)).await;
    let (status, body) = push(&sim, json!({"login": "bob", "branch": "main", "force": true})).await;
    assert_eq!(status, 200, "evaluate only reports: {body}");

    let mut bypassed = protect_main();
    bypassed["bypass_actors"] = json!([{"actor_id": 3001, "actor_type": "Team", "bypass_mode": "always"}]);
    let sim = svc_with(Some(bypassed)).await;
    let (status, body) = push(&sim, json!({"login": "bob", "branch": "main"})).await;
    assert_eq!(status, 200, "bob is in team payments, which may bypass: {body}");

    let mut other_team = protect_main();
    other_team["bypass_actors"] = json!([{"actor_id": 3002, "actor_type": "Team", "bypass_mode": "always"}]);
    let sim = svc_with(Some(other_team)).await;
    let (status, _) = push(&sim, json!({"login": "bob", "branch": "main"})).await;
    assert_eq!(status, 403, "platform's bypass is not bob's");
}

#[tokio::test]
async fn a_required_status_check_refuses_a_direct_push_naming_the_check() {
    let mut checks = protect_main();
    checks["rules"] = json!([{"type": "required_status_checks", "parameters": {
        "required_status_checks": [{"context": "build"}], "strict_required_status_checks_policy": false}}]);
    let sim = svc_with(Some(checks)).await;
    let (status, body) = push(&sim, json!({"login": "bob", "branch": "main"})).await;
    assert_eq!(status, 403);
    assert!(
        body["message"].as_str().unwrap().contains("- Required status check \"build\" is expected."),
        "{body}"
    );
}
