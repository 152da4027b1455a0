//! Repositories: generate from a template, async content, get/patch/delete, branches, OIDC subject.

mod common;

use std::time::Duration;

use common::{ALICE, BOB, BOT, MALLORY, api, generate, get_json, octo, start, start_with};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn generate_answers_201_with_location_and_the_template_and_content_lands_after_the_delay() {
    let sim = start_with(|c| c.generate_delay = Duration::from_millis(300)).await;
    let response = generate(&sim, BOT, "service-template", "payments").await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("{}/repos/acme/payments", sim.url()));
    let repo: Value = response.json().await.unwrap();
    assert_eq!(repo["full_name"], "acme/payments");
    assert_eq!(repo["private"], true);
    assert_eq!(repo["visibility"], "private");
    assert_eq!(repo["owner"]["login"], "acme");
    assert_eq!(repo["owner"]["type"], "Organization");
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(repo["html_url"], format!("{}/acme/payments", sim.url()));
    assert_eq!(repo["clone_url"], format!("{}/acme/payments.git", sim.url()));
    assert_eq!(repo["ssh_url"], "git@127.0.0.1:acme/payments.git");
    assert_eq!(repo["template_repository"]["full_name"], "acme/service-template");
    assert_eq!(repo["permissions"]["admin"], true);

    let early = api(Method::GET, &sim, "/repos/acme/payments/branches/main", BOT).send().await.unwrap();
    assert_eq!(early.status(), 409);
    let body: Value = early.json().await.unwrap();
    assert_eq!(body["message"], "Git Repository is empty.");
    assert!(!sim.sim().repo("acme", "payments").unwrap().content_ready);

    tokio::time::sleep(Duration::from_millis(350)).await;
    let late = api(Method::GET, &sim, "/repos/acme/payments/branches/main", BOT).send().await.unwrap();
    assert_eq!(late.status(), 200);
    let branch: Value = late.json().await.unwrap();
    assert_eq!(branch["name"], "main");
    assert_eq!(branch["commit"]["sha"].as_str().unwrap().len(), 40);
    let view = sim.sim().repo("acme", "payments").unwrap();
    assert!(view.content_ready);
    assert_eq!(view.template_full_name.as_deref(), Some("acme/service-template"));
}

#[tokio::test]
async fn generate_through_octocrab_and_read_back_case_insensitively() {
    let sim = start().await;
    let created = octo(&sim, ALICE)
        .repos("acme", "service-template")
        .generate("Billing")
        .owner("acme")
        .private(true)
        .send()
        .await
        .unwrap();
    assert_eq!(created.name, "Billing");
    let fetched = octo(&sim, ALICE).repos("ACME", "billing").get().await.unwrap();
    assert_eq!(fetched.id, created.id);
    assert_eq!(fetched.full_name.as_deref(), Some("acme/Billing"));
    assert_eq!(fetched.template_repository.unwrap().name, "service-template");
}

#[tokio::test]
async fn a_taken_name_is_422_repository_creation_failed() {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "payments").await.status(), 201);
    let again = generate(&sim, BOB, "worker-template", "PAYMENTS").await;
    assert_eq!(again.status(), 422);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["message"], "Repository creation failed.");
    assert_eq!(
        body["errors"][0],
        json!({"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"})
    );
    assert_eq!(body["status"], "422");
}

#[tokio::test]
async fn a_missing_template_or_a_non_template_is_404_and_outsiders_cannot_see_templates() {
    let sim = start().await;
    assert_eq!(generate(&sim, ALICE, "no-such-template", "x").await.status(), 404);
    sim.sim().create_repo("acme", "plain");
    assert_eq!(generate(&sim, ALICE, "plain", "y").await.status(), 404);
    assert_eq!(generate(&sim, MALLORY, "service-template", "z").await.status(), 404);
    assert!(sim.sim().repos("acme").iter().all(|r| !["x", "y", "z"].contains(&r.name.as_str())));
}

#[tokio::test]
async fn delete_needs_the_delete_repo_scope_then_answers_204_and_the_repo_is_gone() {
    let sim = start().await;
    generate(&sim, ALICE, "service-template", "doomed").await;
    let repo_only = common::oauth_token(&sim, "alice", "repo read:org").await;
    let refused = api(Method::DELETE, &sim, "/repos/acme/doomed", &repo_only).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["message"], "Must have admin rights to Repository.");

    octo(&sim, ALICE).repos("acme", "doomed").delete().await.unwrap();
    assert!(sim.sim().repo("acme", "doomed").is_none());
    let again = api(Method::DELETE, &sim, "/repos/acme/doomed", ALICE).send().await.unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn patch_archives_and_an_archived_repo_refuses_secret_writes() {
    let sim = start().await;
    generate(&sim, ALICE, "service-template", "old").await;
    let response = api(Method::PATCH, &sim, "/repos/acme/old", ALICE)
        .json(&json!({"archived": true, "description": "retired"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!((body["archived"].clone(), body["description"].clone()), (json!(true), json!("retired")));
    let put = api(Method::PUT, &sim, "/repos/acme/old/actions/secrets/X", ALICE)
        .json(&json!({"encrypted_value": "YWJj", "key_id": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 403);
}

#[tokio::test]
async fn out_of_band_repos_appear_and_disappear() {
    let sim = start().await;
    sim.sim().create_repo("acme", "handmade");
    let repo = octo(&sim, BOB).repos("acme", "handmade").get().await.unwrap();
    assert!(repo.template_repository.is_none());
    sim.sim().delete_repo("acme", "handmade");
    let gone = api(Method::GET, &sim, "/repos/acme/handmade", BOB).send().await.unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn renaming_the_default_branch_moves_default_branch() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "svc").await;
    let response = api(Method::POST, &sim, "/repos/acme/svc/branches/main/rename", BOT)
        .json(&json!({"new_name": "trunk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let view = sim.sim().repo("acme", "svc").unwrap();
    assert_eq!((view.default_branch.as_str(), view.branches.clone()), ("trunk", vec!["trunk".to_string()]));
    let old = api(Method::GET, &sim, "/repos/acme/svc/branches/main", BOT).send().await.unwrap();
    assert_eq!(old.status(), 404);
    assert_eq!(sim.sim().runs("acme", "svc")[0].head_branch, "main", "runs keep their branch");
}

#[tokio::test]
async fn oidc_subject_is_immutable_for_generated_repos_and_legacy_for_seeded_ones() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "payments").await;
    let id = sim.sim().repo("acme", "payments").unwrap().id;
    let generated: Value = get_json(&sim, "/repos/acme/payments/actions/oidc/customization/sub", BOT).await;
    // github.com since the 2026 cut-over: the immutable prefix, yet `use_immutable_subject: false`.
    assert_eq!(generated["use_immutable_subject"], false);
    assert_eq!(generated["use_default"], true);
    assert_eq!(generated["sub_claim_prefix"], format!("repo:acme@1000/payments@{id}"));
    let seeded: Value =
        get_json(&sim, "/repos/acme/service-template/actions/oidc/customization/sub", BOT).await;
    assert_eq!(seeded["use_immutable_subject"], false);
    assert_eq!(seeded["sub_claim_prefix"], "repo:acme/service-template");
}

#[tokio::test]
async fn the_oidc_customization_route_is_404_when_disabled_like_ghes() {
    let sim = start_with(|c| c.oidc_customization_endpoint = false).await;
    let response = api(Method::GET, &sim, "/repos/acme/service-template/actions/oidc/customization/sub", BOT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
