//! Files written through the contents API (each a commit and a push), and a repository's security
//! switches and topics, with GitHub's refusals.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{BOB, BOT, api, generate, get_json, start, start_with};
use github_sim::{RepoSecurity, SeedRepo};
use reqwest::Method;
use serde_json::{Value, json};

async fn put_file(sim: &github_sim::RunningSim, path: &str, body: Value) -> reqwest::Response {
    api(Method::PUT, sim, &format!("/repos/acme/svc/contents/{path}"), BOT).json(&body).send().await.unwrap()
}

fn push_runs(sim: &github_sim::RunningSim, sha: &str) -> usize {
    sim.sim().runs("acme", "svc").iter().filter(|r| r.event == "push" && r.head_sha == sha).count()
}

#[tokio::test]
async fn a_new_file_is_a_commit_on_the_branch_that_runs_the_push_workflows() {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    let before = get_json(&sim, "/repos/acme/svc/branches/main", BOT).await["commit"]["sha"].clone();
    let created = put_file(
        &sim,
        ".github/CODEOWNERS",
        json!({ "message": "Add CODEOWNERS", "content": B64.encode("* @acme/payments\n") }),
    )
    .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let head = get_json(&sim, "/repos/acme/svc/branches/main", BOT).await["commit"]["sha"].clone();
    assert_ne!(head, before, "the branch moved");
    assert_eq!(head, created["commit"]["sha"]);
    assert_eq!(created["commit"]["parents"][0]["sha"], before);
    assert_eq!(push_runs(&sim, head.as_str().unwrap()), 1, "the template's one push workflow ran");
    let read = get_json(&sim, "/repos/acme/svc/contents/.github/CODEOWNERS", BOT).await;
    let text = B64.decode(read["content"].as_str().unwrap()).unwrap();
    assert_eq!(String::from_utf8(text).unwrap(), "* @acme/payments\n");
    assert_eq!(read["sha"], created["content"]["sha"]);
    let listing = get_json(&sim, "/repos/acme/svc/contents/.github", BOT).await;
    let names: Vec<&str> = listing.as_array().unwrap().iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, ["CODEOWNERS", "workflows"]);
}

#[tokio::test]
async fn a_skip_ci_commit_runs_nothing() {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    let body =
        json!({ "message": "Add catalog-info.yaml [skip ci]", "content": B64.encode("kind: Component\n") });
    let created: Value = put_file(&sim, "catalog-info.yaml", body).await.json().await.unwrap();
    assert_eq!(push_runs(&sim, created["commit"]["sha"].as_str().unwrap()), 0);
}

#[tokio::test]
async fn updating_a_file_needs_its_current_sha_and_a_refusal_changes_nothing() {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    let first = json!({ "message": "m", "content": B64.encode("one\n") });
    let created: Value = put_file(&sim, "notes.txt", first).await.json().await.unwrap();
    let sha = created["content"]["sha"].as_str().unwrap().to_string();
    let head = get_json(&sim, "/repos/acme/svc/branches/main", BOT).await["commit"]["sha"].clone();

    let missing =
        put_file(&sim, "notes.txt", json!({ "message": "m", "content": B64.encode("two\n") })).await;
    assert_eq!(missing.status(), 422);
    assert!(missing.text().await.unwrap().contains("\\\"sha\\\" wasn't supplied"));
    let stale = json!({ "message": "m", "content": B64.encode("two\n"), "sha": "0".repeat(40) });
    assert_eq!(put_file(&sim, "notes.txt", stale).await.status(), 409);
    let no_message = json!({ "content": B64.encode("two\n"), "sha": sha });
    assert_eq!(put_file(&sim, "notes.txt", no_message).await.status(), 422);
    let bad_branch = json!({ "message": "m", "content": B64.encode("x"), "branch": "nope" });
    assert_eq!(put_file(&sim, "other.txt", bad_branch).await.status(), 404);
    assert_eq!(sim.sim().file("acme", "svc", "notes.txt").as_deref(), Some("one\n"));
    assert_eq!(get_json(&sim, "/repos/acme/svc/branches/main", BOT).await["commit"]["sha"], head);

    let update = json!({ "message": "m", "content": B64.encode("two\n"), "sha": sha });
    assert_eq!(put_file(&sim, "notes.txt", update).await.status(), 200);
    assert_eq!(sim.sim().file("acme", "svc", "notes.txt").as_deref(), Some("two\n"));
}

#[tokio::test]
async fn writing_needs_push_access_and_an_installation_contents_write() {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    // bob has the organization's base permission (read) on the repository.
    let refused = api(Method::PUT, &sim, "/repos/acme/svc/contents/a.txt", BOB)
        .json(&json!({ "message": "m", "content": B64.encode("x") }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(sim.sim().file("acme", "svc", "a.txt"), None);
}

#[tokio::test]
async fn a_generated_repository_has_its_templates_files() {
    let sim = start_with(|c| {
        let template: &mut SeedRepo = c.seed.repos.iter_mut().find(|r| r.name == "service-template").unwrap();
        template.files.insert(".github/CODEOWNERS".into(), "* @acme/platform\n".into());
    })
    .await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    assert_eq!(sim.sim().file("acme", "svc", ".github/CODEOWNERS").as_deref(), Some("* @acme/platform\n"));
}

fn scanning(status: &str) -> Value {
    json!({ "security_and_analysis": {
        "secret_scanning": { "status": status }, "secret_scanning_push_protection": { "status": status } } })
}

#[tokio::test]
async fn secret_scanning_is_switched_through_security_and_analysis_and_shown_to_admins() {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    let patched =
        api(Method::PATCH, &sim, "/repos/acme/svc", BOT).json(&scanning("enabled")).send().await.unwrap();
    assert_eq!(patched.status(), 200);
    let repo = get_json(&sim, "/repos/acme/svc", BOT).await;
    assert_eq!(repo["security_and_analysis"]["secret_scanning"]["status"], "enabled");
    assert_eq!(repo["security_and_analysis"]["secret_scanning_push_protection"]["status"], "enabled");
    let as_reader = get_json(&sim, "/repos/acme/svc", BOB).await;
    assert!(as_reader.get("security_and_analysis").is_none(), "only admins see it: {as_reader}");
}

#[tokio::test]
async fn a_private_repository_without_the_licence_cannot_have_secret_scanning() {
    let sim = start().await;
    sim.sim().set_secret_protection("acme", false);
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    let refused =
        api(Method::PATCH, &sim, "/repos/acme/svc", BOT).json(&scanning("enabled")).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["message"], "Advanced security has not been purchased.");
    assert!(!sim.sim().repo_security("acme", "svc").secret_scanning);
    // Switching off needs no licence.
    let off =
        api(Method::PATCH, &sim, "/repos/acme/svc", BOT).json(&scanning("disabled")).send().await.unwrap();
    assert_eq!(off.status(), 200);
}

#[tokio::test]
async fn security_fixes_need_vulnerability_alerts_and_go_off_with_them() {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    let call = |method: Method, path: &str| api(method, &sim, &format!("/repos/acme/svc/{path}"), BOT).send();
    assert_eq!(call(Method::GET, "vulnerability-alerts").await.unwrap().status(), 404);
    assert_eq!(call(Method::PUT, "automated-security-fixes").await.unwrap().status(), 422);
    assert_eq!(
        sim.sim().repo_security("acme", "svc"),
        RepoSecurity::default(),
        "the refusal changed nothing"
    );
    assert_eq!(call(Method::PUT, "vulnerability-alerts").await.unwrap().status(), 204);
    assert_eq!(call(Method::GET, "vulnerability-alerts").await.unwrap().status(), 204);
    assert_eq!(call(Method::PUT, "automated-security-fixes").await.unwrap().status(), 204);
    let fixes: Value = call(Method::GET, "automated-security-fixes").await.unwrap().json().await.unwrap();
    assert_eq!(fixes, json!({ "enabled": true, "paused": false }));
    assert_eq!(call(Method::DELETE, "vulnerability-alerts").await.unwrap().status(), 204);
    let fixes: Value = call(Method::GET, "automated-security-fixes").await.unwrap().json().await.unwrap();
    assert_eq!(fixes["enabled"], false);
}

#[tokio::test]
async fn topics_are_replaced_whole_lowercased_and_bad_ones_change_nothing() {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    let put = |names: Value| {
        api(Method::PUT, &sim, "/repos/acme/svc/topics", BOT).json(&json!({ "names": names })).send()
    };
    assert_eq!(put(json!(["Shipyard", "payments"])).await.unwrap().status(), 200);
    assert_eq!(get_json(&sim, "/repos/acme/svc/topics", BOT).await["names"], json!(["shipyard", "payments"]));
    assert_eq!(get_json(&sim, "/repos/acme/svc", BOT).await["topics"], json!(["shipyard", "payments"]));
    for bad in [
        json!(["no spaces"]),
        json!(["x".repeat(51)]),
        json!((0..21).map(|n| format!("t{n}")).collect::<Vec<_>>()),
    ] {
        assert_eq!(put(bad.clone()).await.unwrap().status(), 422, "{bad}");
    }
    assert_eq!(sim.sim().repo_security("acme", "svc").topics, ["shipyard", "payments"]);
}
