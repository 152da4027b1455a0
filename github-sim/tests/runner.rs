//! The Actions runner without AWS: attempts decided when they run, the re-run lag, jobs and logs, several
//! workflows, dynamic workflows, OIDC tokens (signature, subject templates, GHES issuer), tags, environments.

mod common;

use std::time::Duration;

use common::{ALICE, BOB, BOT, api, generate, get_json, job_log, put_secret, start, start_with};
use github_sim::{RunningSim, SeedWorkflow};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);

async fn put_all_secrets(sim: &RunningSim, repo: &str) {
    put_secret(sim, repo, "AWS_REGION", "us-east-1").await;
    put_secret(sim, repo, "GHA_DEFAULT_ROLE_ARN", "arn:aws:iam::123456789012:role/gha-x").await;
    put_secret(sim, repo, "ECR_REPO_URL", "123456789012.dkr.ecr.us-east-1.amazonaws.com/x").await;
}

/// Verifies `token` with the sim's JWKS (served under the issuer's path) and returns its claims.
async fn verify(sim: &RunningSim, issuer: &str, token: &str) -> Value {
    let path = issuer.split_once("://").unwrap().1.split_once('/').map_or("", |(_, p)| p);
    let prefix = if path.is_empty() { String::new() } else { format!("/{path}") };
    let config: Value = get_json(sim, &format!("{prefix}/.well-known/openid-configuration"), BOT).await;
    assert_eq!(config["issuer"], issuer);
    assert_eq!(config["jwks_uri"], format!("{issuer}/.well-known/jwks"));
    let jwks: Value = common::http()
        .get(format!("{}{prefix}/.well-known/jwks", sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["sts.amazonaws.com"]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation).expect("signature and claims verify").claims
}

#[tokio::test]
async fn a_failed_job_names_the_missing_secret_and_a_passing_one_says_aws_was_not_checked() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "svc").await;
    let run = sim.sim().runs("acme", "svc")[0].clone();
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let jobs = get_json(&sim, &format!("/repos/acme/svc/actions/runs/{}/jobs", run.id), BOT).await;
    assert_eq!(jobs["total_count"], 1);
    let job = &jobs["jobs"][0];
    assert_eq!((job["status"].as_str(), job["conclusion"].as_str()), (Some("completed"), Some("failure")));
    assert_eq!(job["run_attempt"], 1);
    let steps: Vec<(String, String)> = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["conclusion"].as_str().unwrap().to_string()))
        .collect();
    let step = |name: &str| steps.iter().find(|(n, _)| n == name).map(|(_, c)| c.as_str());
    assert_eq!(step("Run aws-actions/configure-aws-credentials@v4"), Some("failure"));
    assert_eq!(step("Run docker/build-push-action@v6"), Some("skipped"));
    assert_eq!(step("Complete job"), Some("success"));
    let log = job_log(&sim, "svc", job["id"].as_u64().unwrap()).await;
    assert!(log.contains("Error: secret AWS_REGION is not set"), "{log}");

    put_all_secrets(&sim, "svc").await;
    sim.sim().set_rerun_visibility_lag(Duration::ZERO);
    let rerun =
        api(Method::POST, &sim, &format!("/repos/acme/svc/actions/runs/{}/rerun-failed-jobs", run.id), BOT)
            .send()
            .await
            .unwrap();
    assert_eq!(rerun.status(), 201);
    let done = sim.sim().wait_for_run("acme", "svc", run.id, WAIT).await.unwrap();
    assert_eq!((done.conclusion.as_deref(), done.run_attempt), (Some("success"), 2));
    let log = sim.sim().job_log("acme", "svc", run.id).unwrap();
    assert!(log.contains("AWS checks skipped: no --aws-endpoint-url"), "{log}");
    let attempt_jobs =
        get_json(&sim, &format!("/repos/acme/svc/actions/runs/{}/attempts/1/jobs", run.id), BOT).await;
    assert_eq!(attempt_jobs["jobs"][0]["conclusion"], "failure", "attempt 1 keeps its outcome");
    let all = get_json(&sim, &format!("/repos/acme/svc/actions/runs/{}/jobs?filter=all", run.id), BOT).await;
    assert_eq!(all["total_count"], 2);
}

#[tokio::test]
async fn after_a_rerun_the_run_shows_the_previous_attempt_until_the_lag_has_passed() {
    let sim = start_with(|c| c.rerun_visibility_lag = Duration::from_millis(600)).await;
    generate(&sim, BOT, "service-template", "lagged").await;
    let id = sim.sim().runs("acme", "lagged")[0].id;
    put_all_secrets(&sim, "lagged").await;
    let rerun =
        api(Method::POST, &sim, &format!("/repos/acme/lagged/actions/runs/{id}/rerun-failed-jobs"), BOT)
            .send()
            .await
            .unwrap();
    assert_eq!(rerun.status(), 201);

    let stale = get_json(&sim, &format!("/repos/acme/lagged/actions/runs/{id}"), BOT).await;
    assert_eq!(
        (stale["status"].as_str(), stale["conclusion"].as_str(), stale["run_attempt"].as_u64()),
        (Some("completed"), Some("failure"), Some(1)),
        "right after the 201 GitHub still answers with attempt 1"
    );
    let listed = get_json(&sim, "/repos/acme/lagged/actions/runs", BOT).await;
    assert_eq!(listed["workflow_runs"][0]["run_attempt"], 1);
    let attempt2 = api(Method::GET, &sim, &format!("/repos/acme/lagged/actions/runs/{id}/attempts/2"), BOT)
        .send()
        .await
        .unwrap();
    assert_eq!(attempt2.status(), 404);

    tokio::time::sleep(Duration::from_millis(650)).await;
    let fresh = get_json(&sim, &format!("/repos/acme/lagged/actions/runs/{id}"), BOT).await;
    assert_eq!(
        (fresh["status"].as_str(), fresh["conclusion"].as_str(), fresh["run_attempt"].as_u64()),
        (Some("completed"), Some("success"), Some(2))
    );
    assert_eq!(
        fresh["previous_attempt_url"],
        format!("{}/repos/acme/lagged/actions/runs/{id}/attempts/1", sim.url())
    );
    let first = get_json(&sim, &format!("/repos/acme/lagged/actions/runs/{id}/attempts/1"), BOT).await;
    assert_eq!((first["conclusion"].as_str(), first["run_attempt"].as_u64()), (Some("failure"), Some(1)));
}

#[tokio::test]
async fn a_template_with_build_and_lint_has_a_red_build_and_a_newer_green_lint() {
    let sim = start().await;
    generate(&sim, BOT, "multi-workflow-template", "multi").await;
    let runs = sim.sim().runs("acme", "multi");
    assert_eq!(runs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["lint", "build"], "newest first");
    assert_eq!(runs[1].conclusion.as_deref(), Some("failure"), "build reads the secrets");
    assert_ne!(runs[0].status, "completed", "lint takes longer");
    let lint = sim.sim().wait_for_run("acme", "multi", runs[0].id, WAIT).await.unwrap();
    assert_eq!(lint.conclusion.as_deref(), Some("success"));
    let listed = get_json(&sim, "/repos/acme/multi/actions/runs?event=push&branch=main", BOT).await;
    assert_eq!(listed["workflow_runs"][0]["name"], "lint");
    assert_eq!(listed["workflow_runs"][0]["conclusion"], "success");
    assert_eq!(listed["workflow_runs"][1]["conclusion"], "failure");
}

#[tokio::test]
async fn every_repository_lists_dynamic_workflows_that_cannot_be_dispatched() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "dyn").await;
    let listed = get_json(&sim, "/repos/acme/dyn/actions/workflows", BOT).await;
    let paths: Vec<&str> =
        listed["workflows"].as_array().unwrap().iter().map(|w| w["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "dynamic/dependabot/dependabot-updates",
            "dynamic/github-code-scanning/codeql",
            ".github/workflows/build.yml"
        ]
    );
    assert_eq!(listed["total_count"], 3);
    let id = listed["workflows"][0]["id"].as_u64().unwrap();
    let one = get_json(&sim, &format!("/repos/acme/dyn/actions/workflows/{id}"), BOT).await;
    assert_eq!(one["name"], "Dependabot Updates");
    let dispatch =
        api(Method::POST, &sim, &format!("/repos/acme/dyn/actions/workflows/{id}/dispatches"), BOT)
            .json(&json!({"ref": "main"}))
            .send()
            .await
            .unwrap();
    assert_eq!(dispatch.status(), 422);
    let body: Value = dispatch.json().await.unwrap();
    assert_eq!(body["message"], "Workflow does not have 'workflow_dispatch' trigger");
}

#[tokio::test]
async fn tokens_verify_against_the_jwks_and_carry_githubs_claims() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "claims").await;
    let repo = sim.sim().repo("acme", "claims").unwrap();
    let run = sim.sim().runs("acme", "claims")[0].clone();
    let token = sim.sim().oidc_token("acme", "claims", run.id).unwrap();
    let claims = verify(&sim, github_sim::GITHUB_COM_ISSUER, &token).await;
    assert_eq!(claims["sub"], format!("repo:acme@1000/claims@{}:ref:refs/heads/main", repo.id));
    assert_eq!(claims["aud"], "sts.amazonaws.com");
    assert_eq!(claims["iss"], "https://token.actions.githubusercontent.com");
    assert_eq!(claims["repository"], "acme/claims");
    assert_eq!(claims["repository_id"], repo.id.to_string());
    assert_eq!(claims["repository_owner"], "acme");
    assert_eq!(claims["repository_owner_id"], "1000");
    assert_eq!(claims["ref"], "refs/heads/main");
    assert_eq!(claims["ref_type"], "branch");
    assert_eq!(claims["sha"], run.head_sha);
    assert_eq!(claims["workflow"], "build");
    assert_eq!(claims["job_workflow_ref"], "acme/claims/.github/workflows/build.yml@refs/heads/main");
    assert_eq!(claims["run_id"], run.id.to_string());
    assert_eq!((claims["run_number"].as_str(), claims["run_attempt"].as_str()), (Some("1"), Some("1")));
    assert_eq!(claims["event_name"], "push");
    assert_eq!(claims["actor"], "shipyard-bot");
    let (iat, nbf, exp) =
        (claims["iat"].as_i64().unwrap(), claims["nbf"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert!(nbf < iat && iat < exp);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let jwks: Value = get_json(&sim, "/.well-known/jwks", BOT).await;
    let key = &jwks["keys"][0];
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["sts.amazonaws.com"]);
    assert!(
        jsonwebtoken::decode::<Value>(&tampered, &decoding, &validation).is_err(),
        "a bad signature fails"
    );
}

#[tokio::test]
async fn a_custom_repository_template_shapes_the_subject_and_the_endpoint_reports_it() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "custom").await;
    let id = sim.sim().repo("acme", "custom").unwrap().id;
    let put = api(Method::PUT, &sim, "/repos/acme/custom/actions/oidc/customization/sub", BOT)
        .json(&json!({"use_default": false, "include_claim_keys": ["repo", "context", "job_workflow_ref"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let got = get_json(&sim, "/repos/acme/custom/actions/oidc/customization/sub", BOT).await;
    assert_eq!(got["use_default"], false);
    assert_eq!(got["include_claim_keys"], json!(["repo", "context", "job_workflow_ref"]));
    assert_eq!(got["sub_claim_prefix"], format!("repo:acme@1000/custom@{id}"));
    assert_eq!(got["use_immutable_subject"], false);

    let run = sim.sim().runs("acme", "custom")[0].id;
    let claims =
        verify(&sim, github_sim::GITHUB_COM_ISSUER, &sim.sim().oidc_token("acme", "custom", run).unwrap())
            .await;
    assert_eq!(
        claims["sub"],
        format!(
            "repo:acme@1000/custom@{id}:ref:refs/heads/main:job_workflow_ref:acme/custom/.github/workflows/build.yml@refs/heads/main"
        )
    );

    let bad = api(Method::PUT, &sim, "/repos/acme/custom/actions/oidc/customization/sub", BOT)
        .json(&json!({"use_default": false, "include_claim_keys": ["repo", "not-a-key!"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let unchanged = get_json(&sim, "/repos/acme/custom/actions/oidc/customization/sub", BOT).await;
    assert_eq!(unchanged["include_claim_keys"], json!(["repo", "context", "job_workflow_ref"]));

    let reset = api(Method::PUT, &sim, "/repos/acme/custom/actions/oidc/customization/sub", BOT)
        .json(&json!({"use_default": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 201);
    assert_eq!(
        get_json(&sim, "/repos/acme/custom/actions/oidc/customization/sub", BOT).await["use_default"],
        true
    );
}

#[tokio::test]
async fn an_organization_template_applies_to_repositories_that_opt_in() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "org-sub").await;
    let by_member = api(Method::PUT, &sim, "/orgs/acme/actions/oidc/customization/sub", BOB)
        .json(&json!({"include_claim_keys": ["repository_owner", "context"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_member.status(), 403, "org owners only");
    let put = api(Method::PUT, &sim, "/orgs/acme/actions/oidc/customization/sub", ALICE)
        .json(&json!({"include_claim_keys": ["repository_owner", "context"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let org = get_json(&sim, "/orgs/acme/actions/oidc/customization/sub", ALICE).await;
    assert_eq!(org["include_claim_keys"], json!(["repository_owner", "context"]));

    let run = sim.sim().runs("acme", "org-sub")[0].id;
    let before =
        verify(&sim, github_sim::GITHUB_COM_ISSUER, &sim.sim().oidc_token("acme", "org-sub", run).unwrap())
            .await;
    assert!(before["sub"].as_str().unwrap().starts_with("repo:acme@1000/org-sub@"), "not opted in yet");

    let opt_in = api(Method::PUT, &sim, "/repos/acme/org-sub/actions/oidc/customization/sub", BOT)
        .json(&json!({"use_default": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(opt_in.status(), 201);
    let after =
        verify(&sim, github_sim::GITHUB_COM_ISSUER, &sim.sim().oidc_token("acme", "org-sub", run).unwrap())
            .await;
    assert_eq!(after["sub"], "repository_owner:acme:ref:refs/heads/main");
    let repo = get_json(&sim, "/repos/acme/org-sub/actions/oidc/customization/sub", BOT).await;
    assert_eq!(repo["use_default"], false);
}

#[tokio::test]
async fn ghes_issues_tokens_from_its_services_path_and_has_no_customization_endpoints() {
    let sim = start_with(|c| *c = c.clone().ghes("ghes.example.com")).await;
    generate(&sim, BOT, "service-template", "onprem").await;
    let run = sim.sim().runs("acme", "onprem")[0].id;
    let claims = verify(
        &sim,
        "https://ghes.example.com/_services/token",
        &sim.sim().oidc_token("acme", "onprem", run).unwrap(),
    )
    .await;
    assert_eq!(claims["iss"], "https://ghes.example.com/_services/token");
    for path in
        ["/repos/acme/onprem/actions/oidc/customization/sub", "/orgs/acme/actions/oidc/customization/sub"]
    {
        assert_eq!(api(Method::GET, &sim, path, BOT).send().await.unwrap().status(), 404, "{path}");
    }
    let github_com =
        common::http().get(format!("{}/.well-known/openid-configuration", sim.url())).send().await.unwrap();
    assert_eq!(github_com.status(), 404, "github.com's discovery path is not GHES's");
}

#[tokio::test]
async fn tag_runs_and_environment_jobs_get_their_own_subjects() {
    let sim = start_with(|c| {
        let mut deploy = SeedWorkflow::aws_build(9, "deploy", "deploy.yml", &["push", "workflow_dispatch"]);
        deploy.environment = Some("prod".into());
        let template = c.seed.repos.iter_mut().find(|r| r.name == "worker-template").unwrap();
        template.workflows.push(deploy);
    })
    .await;
    generate(&sim, BOT, "worker-template", "tagged").await;
    let id = sim.sim().repo("acme", "tagged").unwrap().id;
    let prefix = format!("repo:acme@1000/tagged@{id}");

    let tag_runs = sim.sim().push_tag("acme", "tagged", "v1.2.0");
    assert_eq!(tag_runs.len(), 2, "both push workflows run on the tag");
    let views = sim.sim().runs("acme", "tagged");
    let ci = views.iter().find(|r| r.id == tag_runs[0]).unwrap();
    assert_eq!((ci.head_branch.as_str(), ci.event.as_str()), ("v1.2.0", "push"));
    let claims = verify(
        &sim,
        github_sim::GITHUB_COM_ISSUER,
        &sim.sim().oidc_token("acme", "tagged", tag_runs[0]).unwrap(),
    )
    .await;
    assert_eq!(claims["sub"], format!("{prefix}:ref:refs/tags/v1.2.0"));
    assert_eq!(claims["ref_type"], "tag");

    let deploy = views.iter().find(|r| r.id == tag_runs[1]).unwrap();
    assert_eq!(deploy.name, "deploy");
    let claims = verify(
        &sim,
        github_sim::GITHUB_COM_ISSUER,
        &sim.sim().oidc_token("acme", "tagged", deploy.id).unwrap(),
    )
    .await;
    assert_eq!(claims["sub"], format!("{prefix}:environment:prod"));
    assert_eq!(claims["environment"], "prod");

    let dispatched = sim.sim().dispatch("acme", "tagged", "deploy.yml", "refs/tags/v1.2.0").unwrap();
    let run = get_json(&sim, &format!("/repos/acme/tagged/actions/runs/{dispatched}"), BOT).await;
    assert_eq!(
        (run["event"].as_str(), run["head_branch"].as_str()),
        (Some("workflow_dispatch"), Some("v1.2.0"))
    );
    let by_api = api(Method::POST, &sim, "/repos/acme/tagged/actions/workflows/deploy.yml/dispatches", BOT)
        .json(&json!({"ref": "v1.2.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_api.status(), 204, "a tag is a valid dispatch ref");
}

/// Puts the secrets on `repo`, re-runs its first run's failed jobs and returns the job's log and conclusion.
async fn rerun_with_secrets(sim: &RunningSim, repo: &str) -> (String, String) {
    put_all_secrets(sim, repo).await;
    sim.sim().set_rerun_visibility_lag(Duration::ZERO);
    let run = sim.sim().runs("acme", repo)[0].clone();
    let path = format!("/repos/acme/{repo}/actions/runs/{}/rerun-failed-jobs", run.id);
    assert_eq!(api(Method::POST, sim, &path, BOT).send().await.unwrap().status(), 201);
    let done = sim.sim().wait_for_run("acme", repo, run.id, WAIT).await.unwrap();
    let jobs = get_json(sim, &format!("/repos/acme/{repo}/actions/runs/{}/jobs", run.id), BOT).await;
    let log = job_log(sim, repo, jobs["jobs"][0]["id"].as_u64().unwrap()).await;
    (done.conclusion.unwrap_or_default(), log)
}

#[tokio::test]
async fn a_build_without_id_token_write_gets_no_oidc_token_and_configure_aws_credentials_fails() {
    let sim = start().await;
    generate(&sim, BOT, "service-template-no-oidc", "nooidc").await;
    let workflow = get_json(&sim, "/repos/acme/nooidc/contents/.github/workflows/build.yml", BOT).await;
    use base64::Engine as _;
    let yaml = base64::engine::general_purpose::STANDARD
        .decode(workflow["content"].as_str().unwrap().replace('\n', ""))
        .unwrap();
    let yaml = String::from_utf8(yaml).unwrap();
    assert!(yaml.contains("permissions:\n  contents: read\n") && !yaml.contains("id-token"), "{yaml}");

    let (conclusion, log) = rerun_with_secrets(&sim, "nooidc").await;
    assert_eq!(conclusion, "failure", "{log}");
    assert!(log.contains("Did you mean to set the `id-token` permission?"), "{log}");
    assert!(
        log.contains(
            "Error: Credentials could not be loaded, please check your action inputs: \
             Could not load credentials from any providers"
        ),
        "{log}"
    );
    // The same template with `id-token: write` gets past the credentials step (AWS is not checked here).
    generate(&sim, BOT, "service-template", "withoidc").await;
    let (conclusion, log) = rerun_with_secrets(&sim, "withoidc").await;
    assert_eq!(conclusion, "success", "{log}");
}

#[tokio::test]
async fn without_a_permissions_key_there_is_no_id_token_and_a_jobs_permissions_replace_the_workflows() {
    let build = |id: u64, file: &str, workflow: Option<&[(&str, &str)]>, job: Option<&[(&str, &str)]>| {
        let map = |p: &[(&str, &str)]| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        SeedWorkflow {
            permissions: workflow.map(map),
            job_permissions: job.map(map),
            ..SeedWorkflow::aws_build(id, file, &format!("{file}.yml"), &["push"])
        }
    };
    let cases = [
        ("nokey", build(91, "nokey", None, None), false),
        ("jobonly", build(92, "jobonly", None, Some(&[("id-token", "write")])), true),
        (
            "jobreplaces",
            build(93, "jobreplaces", Some(&[("id-token", "write")]), Some(&[("contents", "read")])),
            false,
        ),
        ("readtoken", build(94, "readtoken", Some(&[("id-token", "read")]), None), false),
    ];
    for (name, workflow, granted) in cases {
        assert_eq!(workflow.grants_id_token(), granted, "{name}");
        let sim = start_with(|config| {
            let template = config.seed.repos.iter_mut().find(|r| r.name == "service-template").unwrap();
            template.workflows = vec![workflow.clone()];
        })
        .await;
        generate(&sim, BOT, "service-template", name).await;
        let (conclusion, log) = rerun_with_secrets(&sim, name).await;
        let expected = if granted { "success" } else { "failure" };
        assert_eq!(conclusion, expected, "{name}: {log}");
        assert_eq!(log.contains("Could not load credentials from any providers"), !granted, "{name}: {log}");
    }
}
