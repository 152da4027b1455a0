//! A kept ECR repository: the lifecycle policy and tag immutability (the default branch's tag
//! excluded) read back from moto, pushes as the template's workflow makes them, the configured KMS key
//! at creation, a crash right after the step, and bad settings refused at start-up.

use std::{sync::Arc, time::Duration};

use github_sim::SimConfig;
use scraper::Html;
use serde_json::Value;
use shipyard::{
    aws::{Aws, EcrRules, KmsKeyArn},
    domain::ServiceStatus,
    provision::{
        Providers, Reconciler, Settings,
        drift::{Checked, DriftCheck, Problem},
    },
};
use sqlx::PgPool;

use crate::common::{
    app::{TestApp, unique_name},
    aws_faults::moto_sdk_config,
    checks::assert_fully_provisioned,
    fixtures::{page, service_id, texts},
};

const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/0b1e4ef5-9b0c-4e8f-a3c5-0c7f1d2e3a4b";

async fn ecr() -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::new(&moto_sdk_config(&Default::default()).await)
}

async fn describe(name: &str) -> aws_sdk_ecr::types::Repository {
    let out = ecr().await.describe_repositories().repository_names(name).send().await.unwrap();
    out.repositories.unwrap().remove(0)
}

async fn lifecycle_policy(name: &str) -> Value {
    let out = ecr().await.get_lifecycle_policy().repository_name(name).send().await.unwrap();
    serde_json::from_str(out.lifecycle_policy_text().unwrap()).unwrap()
}

/// The newest run on `branch` of the service's repository, waited for until it completes.
async fn finished_run(app: &TestApp, name: &str, run_id: u64) -> (String, String) {
    let run = app.sim().wait_for_run("acme", name, run_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(run.status, "completed", "{name}: run {run_id} did not finish");
    let log = app.sim().job_log("acme", name, run_id).unwrap_or_default();
    (run.conclusion.unwrap_or_default(), log)
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_ready_services_repository_expires_old_images_and_refuses_to_overwrite_a_sha_tag(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("kept");
    app.create_service(&bob, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);

    let repo = describe(&name).await;
    assert_eq!(repo.image_tag_mutability().map(|m| m.as_str()), Some("IMMUTABLE_WITH_EXCLUSION"));
    let excluded: Vec<(&str, &str)> = repo
        .image_tag_mutability_exclusion_filters()
        .iter()
        .map(|f| (f.filter_type().as_str(), f.filter()))
        .collect();
    assert_eq!(excluded, [("WILDCARD", "main")], "the branch tag every build moves");
    let policy = lifecycle_policy(&name).await;
    let rules = policy["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2, "{policy}");
    assert_eq!(rules[0]["selection"]["tagStatus"], "untagged");
    assert_eq!(rules[0]["selection"]["countType"], "sinceImagePushed");
    assert_eq!(rules[0]["selection"]["countNumber"], 14);
    assert_eq!(rules[1]["selection"]["tagPrefixList"], serde_json::json!(["sha-"]));
    assert_eq!(rules[1]["selection"]["countType"], "imageCountMoreThan");
    assert_eq!(rules[1]["selection"]["countNumber"], 200);

    // The page and the API show them.
    let (_, html) = page(&app, &bob, &format!("/services/{name}")).await;
    let html = Html::parse_document(&html);
    assert_eq!(
        texts(&html, "[data-testid=ecr-lifecycle]"),
        ["untagged images expire after 14 days; the newest 200 sha- images are kept"]
    );
    let mutability = texts(&html, "[data-testid=ecr-mutability]").join(" ");
    assert!(
        mutability.contains("IMMUTABLE_WITH_EXCLUSION") && mutability.contains("except main"),
        "{mutability}"
    );
    assert_eq!(texts(&html, "[data-testid=ecr-encryption]"), ["AES256"]);
    let body: Value =
        bob.get(app.at(&format!("/api/v1/services/{name}"))).send().await.unwrap().json().await.unwrap();
    let kept = &body["outputs"]["ecr_settings"];
    assert_eq!(kept["tag_mutability"], "IMMUTABLE_WITH_EXCLUSION", "{body}");
    assert_eq!(kept["excluded_tags"], serde_json::json!(["main"]));
    assert_eq!((kept["untagged_days"].as_u64(), kept["keep_images"].as_u64()), (Some(14), Some(200)));

    // A new commit on main: its build pushes `main` again (allowed) and a new `sha-` tag.
    let pushed = app.sim().push_commit("acme", &name, "main");
    let (conclusion, log) = finished_run(&app, &name, pushed[0]).await;
    assert_eq!(conclusion, "success", "the second push of main is accepted:\n{log}");
    // The same commit built again pushes its `sha-` tag again: immutable, so ECR refuses it.
    let again = app.sim().dispatch("acme", &name, "build.yml", "main").unwrap();
    let (conclusion, log) = finished_run(&app, &name, again).await;
    assert_eq!(conclusion, "failure", "{log}");
    assert!(log.contains("PutImage") && log.contains("AlreadyExists") && log.contains("sha-"), "{log}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_configured_kms_key_encrypts_a_new_repository_and_another_key_is_drift_repair_cannot_fix(
    db: PgPool,
) {
    let app = TestApp::spawn_with(db, SimConfig::default(), |config| {
        config.ecr.kms_key = Some(KmsKeyArn::parse(KEY).unwrap());
    })
    .await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("kms");
    app.create_service(&bob, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    let encryption = describe(&name).await.encryption_configuration().cloned().unwrap();
    assert_eq!(encryption.encryption_type().as_str(), "KMS");
    assert_eq!(encryption.kms_key(), Some(KEY));
    let (_, html) = page(&app, &bob, &format!("/services/{name}")).await;
    assert_eq!(texts(&Html::parse_document(&html), "[data-testid=ecr-encryption]"), [format!("KMS ({KEY})")]);

    // Shipyard reconfigured with another key: the repository keeps the one it was created with.
    let other = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555";
    let rules = EcrRules { kms_key: Some(KmsKeyArn::parse(other).unwrap()), ..EcrRules::default() };
    let sdk = moto_sdk_config(&Default::default()).await;
    let aws = Aws::new(&sdk, app.config.retry)
        .with_permissions_boundary(app.config.permissions_boundary.clone())
        .with_ecr_rules(rules);
    let providers = Providers::new(app.github_client(), Arc::new(aws));
    let check = DriftCheck::new(app.db.clone(), providers, app.reconciler_settings());
    let Checked::Found(findings) = check.check_service(service_id(&app, &name).await).await.unwrap() else {
        panic!("a ready service is checked");
    };
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].problem, Problem::EncryptionChanged);
    assert_eq!(findings[0].expected, format!("KMS ({other})"));
    assert_eq!(findings[0].found, format!("KMS ({KEY})"));
    assert!(!findings[0].repairable(), "ECR cannot change a repository's encryption");
    assert_eq!(app.status_of(&name).await, ServiceStatus::Drifted);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_crash_right_after_the_settings_step_resumes_without_writing_them_again(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("keptcrash");
    app.create_service(&bob, &name).await;
    // One step at a time in table order: preflight, OIDC provider, ECR repository, ECR settings.
    let serial = Settings { parallel_steps: false, ..app.reconciler_settings() };
    Reconciler::new(app.db.clone(), app.providers(), serial)
        .stopping_after_steps(4)
        .run_until_idle()
        .await
        .unwrap();
    let done: Vec<String> = sqlx::query_scalar(
        "select step from step join service using (service_id) where name = $1 and step.status = 'done' order by step",
    )
    .bind(&name)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(done, ["ecr_repository", "ecr_settings", "oidc_provider", "preflight"]);
    let writes = (app.aws_faults.calls("PutLifecyclePolicy"), app.aws_faults.calls("PutImageTagMutability"));
    assert_eq!(writes, (1, 1));

    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert_fully_provisioned(&app, &name).await;
    let after = (app.aws_faults.calls("PutLifecyclePolicy"), app.aws_faults.calls("PutImageTagMutability"));
    assert_eq!(after, writes, "the recorded step is not run again");
    assert_eq!(
        describe(&name).await.image_tag_mutability().map(|m| m.as_str()),
        Some("IMMUTABLE_WITH_EXCLUSION")
    );
    assert_eq!(lifecycle_policy(&name).await["rules"][0]["selection"]["countNumber"], 14);
}

#[test]
fn bad_ecr_retention_settings_stop_start_up_naming_the_variable() {
    for (var, value) in [
        ("SHIPYARD_ECR_UNTAGGED_DAYS", "0"),
        ("SHIPYARD_ECR_UNTAGGED_DAYS", "fortnight"),
        ("SHIPYARD_ECR_KEEP_IMAGES", "-3"),
        ("SHIPYARD_ECR_KEEP_IMAGES", "0"),
        ("SHIPYARD_ECR_KMS_KEY", "alias/shipyard"),
    ] {
        let mut vars = crate::operations::VALID.to_vec();
        vars.push((var, value));
        let output = crate::operations::run_shipyard_with(&vars);
        assert_eq!(output.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with(&format!("configuration error: {var} ")), "{stderr}");
    }
}
