//! The first build proves the wiring. github-sim's runner mints the run's OIDC token, reads the role's
//! trust, the OIDC provider and the role's policies from moto as STS and IAM would evaluate them, and
//! pushes an image. So a mistake anywhere between GitHub and AWS ends in a failed first build whose
//! message names the cause, and mending it makes the next run green.

use std::time::Duration;

use aws_sdk_iam::Client as Iam;
use github_sim::SimConfig;
use serde_json::{Value, json};
use shipyard::{aws::policy, domain::ServiceStatus};
use sqlx::PgPool;

use crate::common::{
    app::{TestApp, unique_name},
    aws_faults::{Fault as AwsFault, moto_sdk_config},
    checks::assert_fully_provisioned,
};

fn role_name(name: &str) -> String {
    format!("gha.acme.{name}.dev.main")
}

async fn iam() -> Iam {
    Iam::new(&moto_sdk_config(&Default::default()).await)
}

/// Runs the create steps up to (not including) the first build, as a reconciler that then died.
async fn provision_all_but_the_build(app: &TestApp, name: &str) {
    let bob = app.signed_in("bob").await;
    app.create_service(&bob, name).await;
    // Every create step but the build, one at a time in table order: run in parallel, the build (which does
    // not wait for the ruleset step) could start before the ruleset step is done.
    let steps = shipyard::provision::steps::service_steps(shipyard::provision::Phase::Create).len() - 1;
    let settings = shipyard::provision::Settings { parallel_steps: false, ..app.reconciler_settings() };
    shipyard::provision::Reconciler::new(app.db.clone(), app.providers(), settings)
        .stopping_after_steps(steps)
        .run_until_idle()
        .await
        .unwrap();
    let pending: String = sqlx::query_scalar(
        "select st.status from step st join service s using (service_id) where s.name = $1 and st.step = 'first_build'",
    )
    .bind(name)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(pending, "pending", "everything but the build is in place");
}

/// Lets a fresh reconciler finish; the first build is best-effort, so the service is ready either way.
/// Returns the first build step's status and error.
async fn finish(app: &TestApp, name: &str) -> (String, Option<String>) {
    let status = app.settle(&app.reconciler(), name).await;
    if status != ServiceStatus::Ready {
        let failure: (Option<String>, Option<String>) =
            sqlx::query_as("select error_step, error_message from service where name = $1")
                .bind(name)
                .fetch_one(&app.db)
                .await
                .unwrap();
        panic!("{name} ended {status}: {failure:?}");
    }
    sqlx::query_as(
        "select st.status, st.error from step st join service s using (service_id)
         where s.name = $1 and st.step = 'first_build'",
    )
    .bind(name)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn trust_of(name: &str) -> Value {
    let role = iam().await.get_role().role_name(role_name(name)).send().await.unwrap();
    policy::decode_policy_document(role.role().unwrap().assume_role_policy_document().unwrap()).unwrap()
}

async fn set_trust(name: &str, trust: &Value) {
    iam()
        .await
        .update_assume_role_policy()
        .role_name(role_name(name))
        .policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
}

/// The trust with one condition value replaced.
fn with_condition(mut trust: Value, key_suffix: &str, value: &str) -> Value {
    let operators = trust["Statement"][0]["Condition"].as_object_mut().unwrap();
    let conditions = operators
        .values_mut()
        .filter_map(Value::as_object_mut)
        .find(|c| c.keys().any(|k| k.ends_with(key_suffix)))
        .unwrap();
    let key = conditions.keys().find(|k| k.ends_with(key_suffix)).unwrap().clone();
    conditions.insert(key, json!(value));
    trust
}

async fn images(app: &TestApp, name: &str) -> Vec<String> {
    let ecr = aws_sdk_ecr::Client::new(&moto_sdk_config(&Default::default()).await);
    let out = ecr.describe_images().repository_name(name).send().await.unwrap();
    let _ = app;
    out.image_details().iter().flat_map(|d| d.image_tags().iter().cloned()).collect()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_green_first_build_assumed_the_role_and_pushed_an_image_tagged_with_the_commit(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("wired");
    app.create_service(&bob, &name).await;
    let (status, error) = finish(&app, &name).await;
    assert_eq!((status.as_str(), error), ("done", None));
    assert_fully_provisioned(&app, &name).await;

    let run = app
        .sim()
        .runs("acme", &name)
        .into_iter()
        .find(|r| r.conclusion.as_deref() == Some("success"))
        .unwrap();
    let log = app.sim().job_log("acme", &name, run.id).expect("the run has a log");
    assert!(log.contains("Authenticated as assumedRoleId"), "the run assumed the role:\n{log}");
    let tags = images(&app, &name).await;
    let short = &run.head_sha[..7];
    assert!(tags.contains(&format!("sha-{short}")), "the commit's image is in ECR: {tags:?}");
    assert!(tags.contains(&"main".to_owned()), "{tags:?}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_trust_naming_another_repository_fails_the_first_build_and_says_why(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let name = unique_name("otherrepo");
    provision_all_but_the_build(&app, &name).await;
    set_trust(
        &name,
        &with_condition(trust_of(&name).await, ":sub", "repo:acme@1000/other@1:ref:refs/heads/main"),
    )
    .await;
    let (status, error) = finish(&app, &name).await;
    let error = error.unwrap_or_default();
    assert_eq!(status, "failed");
    assert!(
        error.contains("Not authorized to perform sts:AssumeRoleWithWebIdentity")
            && error.contains("repo:acme@1000/other@1"),
        "{error}"
    );
    assert!(images(&app, &name).await.is_empty(), "nothing was pushed");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_trust_for_another_branch_fails_the_first_build(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let name = unique_name("otherbranch");
    provision_all_but_the_build(&app, &name).await;
    let trust = trust_of(&name).await;
    let sub = trust["Statement"][0]["Condition"]["StringLike"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.ends_with(":sub"))
        .map(|(_, v)| v.as_str().unwrap().replace("refs/heads/main", "refs/heads/release"))
        .unwrap();
    set_trust(&name, &with_condition(trust, ":sub", &sub)).await;
    let (status, error) = finish(&app, &name).await;
    let error = error.unwrap_or_default();
    assert_eq!(status, "failed");
    assert!(
        error.contains("sts:AssumeRoleWithWebIdentity") && error.contains("refs/heads/release"),
        "{error}"
    );
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_trust_for_the_wrong_audience_fails_the_first_build(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let name = unique_name("audience");
    provision_all_but_the_build(&app, &name).await;
    set_trust(&name, &with_condition(trust_of(&name).await, ":aud", "sigstore")).await;
    let (status, error) = finish(&app, &name).await;
    let error = error.unwrap_or_default();
    assert_eq!(status, "failed");
    assert!(error.contains("sts:AssumeRoleWithWebIdentity") && error.contains(":aud"), "{error}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_detached_policy_fails_the_push_and_says_which_action(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let name = unique_name("detached");
    provision_all_but_the_build(&app, &name).await;
    let iam = iam().await;
    let attached = iam.list_attached_role_policies().role_name(role_name(&name)).send().await.unwrap();
    let arn = attached.attached_policies()[0].policy_arn().unwrap().to_owned();
    iam.detach_role_policy().role_name(role_name(&name)).policy_arn(&arn).send().await.unwrap();
    let (status, error) = finish(&app, &name).await;
    let error = error.unwrap_or_default();
    assert_eq!(status, "failed");
    assert!(error.contains("is not authorized to perform: ecr:GetAuthorizationToken"), "{error}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_policy_narrowed_to_another_repository_fails_the_push(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let name = unique_name("narrowed");
    provision_all_but_the_build(&app, &name).await;
    let iam = iam().await;
    let account = app.aws.account().await.unwrap();
    let arn = account.policy_arn(&format!("{}-ecr-push", role_name(&name)));
    let elsewhere = policy::ecr_push_policy(&account.ecr_repository_arn("us-east-1", "someone-else"));
    iam.create_policy_version()
        .policy_arn(&arn)
        .policy_document(elsewhere.to_string())
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    let (status, error) = finish(&app, &name).await;
    let error = error.unwrap_or_default();
    assert_eq!(status, "failed");
    assert!(
        error.contains("is not authorized to perform: ecr:") && error.contains(&format!("repository/{name}")),
        "{error}"
    );
}

/// A sandbox with its own OIDC issuer, so its provider can be broken without touching other tests'.
async fn app_with_own_issuer(db: PgPool) -> (TestApp, String) {
    let issuer = format!("https://token.{}.example", unique_name("issuer"));
    let sim = SimConfig { oidc_issuer: issuer.clone(), ..SimConfig::default() };
    let app = TestApp::spawn_with(db, sim, |config| {
        config.github_oidc_issuer = policy::OidcIssuer::parse(&issuer).unwrap();
    })
    .await;
    (app, issuer)
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_missing_oidc_provider_fails_the_first_build(db: PgPool) {
    let (app, issuer) = app_with_own_issuer(db).await;
    let name = unique_name("noprovider");
    provision_all_but_the_build(&app, &name).await;
    let provider =
        app.aws.account().await.unwrap().oidc_provider_arn(&policy::OidcIssuer::parse(&issuer).unwrap());
    iam()
        .await
        .delete_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider)
        .send()
        .await
        .unwrap();
    let (status, error) = finish(&app, &name).await;
    let error = error.unwrap_or_default();
    assert_eq!(status, "failed");
    assert!(error.contains("No OpenIDConnect provider found"), "{error}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_existing_provider_without_the_sts_audience_stops_with_the_fix_and_retry_finishes(db: PgPool) {
    let (app, issuer) = app_with_own_issuer(db).await;
    let iam = iam().await;
    let create_provider = |client_ids: &'static [&'static str]| {
        iam.create_open_id_connect_provider()
            .url(&issuer)
            .set_client_id_list(Some(client_ids.iter().map(|s| (*s).to_owned()).collect()))
            .thumbprint_list("6938fd4d98bab03faadb97b34396831e3780aea1")
            .send()
    };
    // Made by someone else, for another audience.
    let provider = create_provider(&["sigstore"]).await.unwrap().open_id_connect_provider_arn.unwrap();
    let bob = app.signed_in("bob").await;
    let name = unique_name("audience");
    app.create_service(&bob, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    let (_, step, message) = crate::common::fixtures::service_failure(&app, &name).await;
    assert_eq!(step, "oidc_provider");
    assert!(
        message.contains("does not list the audience sts.amazonaws.com")
            && message.contains("add-client-id-to-open-id-connect-provider"),
        "{message}"
    );
    let untouched =
        iam.get_open_id_connect_provider().open_id_connect_provider_arn(&provider).send().await.unwrap();
    assert_eq!(
        untouched.client_id_list(),
        ["sigstore"],
        "Shipyard changed nothing on a provider it did not make"
    );
    assert!(
        app.aws.get_role(&role_name(&name)).await.unwrap().is_none(),
        "no role trusts a provider that cannot work"
    );

    // The platform team fixes the provider (moto cannot add a client id, so it is made again with both).
    iam.delete_open_id_connect_provider().open_id_connect_provider_arn(&provider).send().await.unwrap();
    create_provider(&["sigstore", "sts.amazonaws.com"]).await.unwrap();
    assert_eq!(
        crate::common::fixtures::retry_via_form(&app, &bob, &name).await.status(),
        reqwest::StatusCode::SEE_OTHER
    );
    let (status, error) = finish(&app, &name).await;
    assert_eq!((status.as_str(), error), ("done", None), "the first build is green");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn iam_not_yet_showing_a_new_role_or_policy_is_waited_out(db: PgPool) {
    let app = TestApp::spawn(db).await;
    app.aws_faults.inject("ListAttachedRolePolicies", 1, AwsFault::NoSuchEntity);
    app.aws_faults.inject("AttachRolePolicy", 2, AwsFault::NoSuchEntity);
    let bob = app.signed_in("bob").await;
    let name = unique_name("eventual");
    app.create_service(&bob, &name).await;
    let (status, error) = finish(&app, &name).await;
    assert_eq!((status.as_str(), error), ("done", None), "the first build is green");
    assert!(app.aws_faults.calls("AttachRolePolicy") >= 3, "the attachment was retried");
    assert_fully_provisioned(&app, &name).await;
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn changing_the_trust_out_of_band_fails_the_next_run_and_mending_it_passes(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("mended");
    app.create_service(&bob, &name).await;
    assert_eq!(finish(&app, &name).await.0, "done");
    let good = trust_of(&name).await;

    // Each run is a new commit's: the kept repository refuses a second image under an existing `sha-` tag.
    let run_once = || async {
        let id = app.sim().push_commit("acme", &name, "main")[0];
        let run = app.sim().wait_for_run("acme", &name, id, Duration::from_secs(30)).await.unwrap();
        (run.conclusion.clone(), app.sim().job_log("acme", &name, id).unwrap_or_default())
    };
    set_trust(&name, &with_condition(good.clone(), ":sub", "repo:evil/fork:ref:refs/heads/main")).await;
    let (conclusion, log) = run_once().await;
    assert_eq!(conclusion.as_deref(), Some("failure"), "{log}");
    assert!(log.contains("Not authorized to perform sts:AssumeRoleWithWebIdentity"), "{log}");

    set_trust(&name, &good).await;
    let (conclusion, log) = run_once().await;
    assert_eq!(conclusion.as_deref(), Some("success"), "{log}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn on_github_enterprise_server_the_trust_names_its_issuer_and_the_build_is_green(db: PgPool) {
    let sim = SimConfig::default().ghes("github.example.com");
    let app = TestApp::spawn_with(db, sim, |config| {
        config.github_oidc_issuer =
            policy::OidcIssuer::parse("https://github.example.com/_services/token").unwrap();
    })
    .await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("ghes-issuer");
    app.create_service(&bob, &name).await;
    let (status, error) = finish(&app, &name).await;
    assert_eq!(
        (status.as_str(), error),
        ("done", None),
        "the build assumed the role through the GHES issuer"
    );
    let trust = trust_of(&name).await;
    let conditions = &trust["Statement"][0]["Condition"]["StringEquals"];
    assert_eq!(
        conditions["github.example.com/_services/token:sub"],
        json!(format!("repo:acme/{name}:ref:refs/heads/main"))
    );
    let principal = trust["Statement"][0]["Principal"]["Federated"].as_str().unwrap();
    assert!(principal.ends_with(":oidc-provider/github.example.com/_services/token"), "{principal}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_repository_with_a_customized_oidc_subject_is_refused_with_a_clear_message(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    // Stop once before the subject is read (it is read while the content lands, then by the
    // oidc_subject step when that read failed), then customize it as an owner could.
    app.sim().inject_fault(github_sim::Fault::new("/repos/*/*/actions/oidc/customization/sub", 403).times(2));
    let name = unique_name("custom-sub");
    app.create_service(&bob, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    app.sim().set_repo_subject_template("acme", &name, Some(&["repo", "context", "job_workflow_ref"]));
    assert_eq!(
        crate::common::fixtures::retry_via_form(&app, &bob, &name).await.status(),
        reqwest::StatusCode::SEE_OTHER
    );
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    let (_, step, message) = crate::common::fixtures::service_failure(&app, &name).await;
    assert_eq!(step, "oidc_subject");
    assert!(message.contains("customized OIDC subject template"), "{message}");
    assert!(
        app.aws.get_role(&role_name(&name)).await.unwrap().is_none(),
        "no role with a trust that could never match"
    );
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn every_failed_run_of_the_initial_commit_is_re_run_not_just_the_newest(db: PgPool) {
    let app = TestApp::spawn_with(db, SimConfig::default(), |config| {
        config.templates.push("acme/multi-workflow-template".to_owned());
    })
    .await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("multi");
    let response = app
        .submit_service(
            &bob,
            &[
                ("name", name.as_str()),
                ("environment", "dev"),
                ("visibility", "private"),
                ("template", "acme/multi-workflow-template"),
                ("default_branch", "main"),
                ("team", "payments"),
            ],
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
    let (status, error) = finish(&app, &name).await;
    assert_eq!((status.as_str(), error), ("done", None));
    // The lint run (no secrets, the newest) passed by itself; the build run failed and was re-run.
    let runs = app.sim().runs("acme", &name);
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in &runs {
        assert_eq!(run.conclusion.as_deref(), Some("success"), "{run:?}");
    }
    let build = runs.iter().find(|r| r.name == "build").expect("a build run");
    assert_eq!(build.run_attempt, 2, "the build was re-run");
    assert!(images(&app, &name).await.iter().any(|t| t.starts_with("sha-")));
}
