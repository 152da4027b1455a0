//! Workflows and runs: the initial push run, re-runs, dispatch, run lifecycle.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{BOT, api, generate, get_json, octo, start, start_with};
use crypto_box::PublicKey;
use crypto_box::aead::OsRng;
use github_sim::RunningSim;
use octocrab::models::RunId;
use reqwest::Method;
use serde_json::{Value, json};

async fn put_secrets(sim: &RunningSim, repo: &str, names: &[&str]) {
    let key: Value = api(Method::GET, sim, &format!("/repos/acme/{repo}/actions/secrets/public-key"), BOT)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pk = PublicKey::from_slice(&B64.decode(key["key"].as_str().unwrap()).unwrap()).unwrap();
    for name in names {
        let sealed = B64.encode(pk.seal(&mut OsRng, b"value").unwrap());
        let response = api(Method::PUT, sim, &format!("/repos/acme/{repo}/actions/secrets/{name}"), BOT)
            .json(&json!({"encrypted_value": sealed, "key_id": key["key_id"]}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
}

const SECRETS: [&str; 3] = ["AWS_REGION", "GHA_DEFAULT_ROLE_ARN", "ECR_REPO_URL"];

#[tokio::test]
async fn the_initial_push_run_fails_without_secrets_and_rerun_failed_jobs_after_secrets_succeeds() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "payments").await;
    let client = octo(&sim, BOT);
    let workflows = client.workflows("acme", "payments");
    let runs = workflows.list_all_runs().event("push").branch("main").send().await.unwrap();
    assert_eq!(runs.total_count, Some(1));
    let run = &runs.items[0];
    assert_eq!((run.event.as_str(), run.status.as_str()), ("push", "completed"));
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "secrets were missing when it was queued");
    assert_eq!(run.head_branch, "main");

    put_secrets(&sim, "payments", &SECRETS).await;
    assert_eq!(
        workflows.get(run.id).await.unwrap().conclusion.as_deref(),
        Some("failure"),
        "outcome is fixed"
    );
    sim.sim().set_rerun_visibility_lag(Duration::ZERO);
    workflows.rerun_failed_jobs(run.id).await.unwrap();
    let rerun = workflows.get(run.id).await.unwrap();
    assert_eq!(rerun.conclusion.as_deref(), Some("success"));
    let view = &sim.sim().runs("acme", "payments")[0];
    assert_eq!(view.run_attempt, 2);

    let nothing_failed = workflows.rerun_failed_jobs(run.id).await.unwrap_err();
    assert!(matches!(nothing_failed, octocrab::Error::GitHub { source, .. } if source.status_code == 403));
}

#[tokio::test]
async fn secrets_written_before_content_lands_make_the_initial_run_succeed() {
    let sim = start_with(|c| c.generate_delay = Duration::from_millis(400)).await;
    generate(&sim, BOT, "service-template", "early").await;
    put_secrets(&sim, "early", &SECRETS).await;
    assert!(sim.sim().runs("acme", "early").is_empty(), "no run before content exists");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let runs = sim.sim().runs("acme", "early");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].conclusion.as_deref(), Some("success"));
}

#[tokio::test]
async fn a_run_is_queued_then_in_progress_then_completed_and_cannot_be_rerun_meanwhile() {
    let sim = start_with(|c| c.run_duration = Duration::from_millis(600)).await;
    generate(&sim, BOT, "service-template", "slow").await;
    let id = sim.sim().runs("acme", "slow")[0].id;
    assert_eq!(sim.sim().runs("acme", "slow")[0].status, "queued");
    let busy = api(Method::POST, &sim, &format!("/repos/acme/slow/actions/runs/{id}/rerun-failed-jobs"), BOT)
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 403);
    tokio::time::sleep(Duration::from_millis(330)).await;
    assert_eq!(sim.sim().runs("acme", "slow")[0].status, "in_progress");
    tokio::time::sleep(Duration::from_millis(330)).await;
    let done = &sim.sim().runs("acme", "slow")[0];
    assert_eq!((done.status.as_str(), done.conclusion.as_deref()), ("completed", Some("failure")));
    let filtered: Value = get_json(&sim, "/repos/acme/slow/actions/runs?status=failure", BOT).await;
    assert_eq!(filtered["total_count"], 1);
}

#[tokio::test]
async fn dispatch_is_204_for_a_workflow_dispatch_workflow_and_422_without_the_trigger() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "svc").await;
    generate(&sim, BOT, "worker-template", "wrk").await;
    put_secrets(&sim, "svc", &SECRETS).await;

    let ok = api(Method::POST, &sim, "/repos/acme/svc/actions/workflows/build.yml/dispatches", BOT)
        .json(&json!({"ref": "main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 204);
    let runs = sim.sim().runs("acme", "svc");
    assert_eq!(runs[0].event, "workflow_dispatch");
    assert_eq!(runs[0].conclusion.as_deref(), Some("success"));

    let refused = api(Method::POST, &sim, "/repos/acme/wrk/actions/workflows/ci.yml/dispatches", BOT)
        .json(&json!({"ref": "main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["message"], "Workflow does not have 'workflow_dispatch' trigger");
}

#[tokio::test]
async fn dispatch_with_return_run_details_answers_200_with_the_run() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "svc").await;
    let workflows: Value = get_json(&sim, "/repos/acme/svc/actions/workflows", BOT).await;
    let files: Vec<&Value> = workflows["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["path"].as_str().unwrap().starts_with(".github/workflows/"))
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["path"], ".github/workflows/build.yml");
    let id = files[0]["id"].as_u64().unwrap();
    let response =
        api(Method::POST, &sim, &format!("/repos/acme/svc/actions/workflows/{id}/dispatches"), BOT)
            .json(&json!({"ref": "main", "inputs": {}, "return_run_details": true}))
            .send()
            .await
            .unwrap();
    assert_eq!(response.status(), 200);
    let details: Value = response.json().await.unwrap();
    let run_id = details["workflow_run_id"].as_u64().unwrap();
    assert_eq!(details["html_url"], format!("{}/acme/svc/actions/runs/{run_id}", sim.url()));
    let run = octo(&sim, BOT).workflows("acme", "svc").get(RunId(run_id)).await.unwrap();
    assert_eq!(run.event, "workflow_dispatch");
}

#[tokio::test]
async fn the_initial_push_run_can_be_switched_off() {
    let sim = start_with(|c| c.initial_push_runs = false).await;
    generate(&sim, BOT, "service-template", "quiet").await;
    assert!(sim.sim().runs("acme", "quiet").is_empty());
}
