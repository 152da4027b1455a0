//! Environments in their own AWS accounts (hub and spoke): a service of an environment that names an
//! account is provisioned, built and deleted there through the assumed provisioner role, and nothing
//! of it lands in Shipyard's own account; an account without the role refuses the assume.

use aws_sdk_iam::error::ProvideErrorMetadata as _;
use shipyard::{config::Placement, domain::ServiceStatus};
use sqlx::PgPool;

use crate::common::{
    app::{TestApp, unique_name},
    aws_faults::{account_view, moto_sdk_config},
    fixtures::{retry_via_form, service_failure},
};

/// A fresh 12-digit account per run (moto keeps its state between runs).
fn fresh_account() -> String {
    format!("2{:011}", uuid::Uuid::new_v4().as_u128() % 100_000_000_000)
}

/// What the platform team rolls out in a spoke (deploy/aws/spoke): the boundary policy and the
/// provisioner role trusting Shipyard's account.
async fn roll_out_spoke(account: &str) {
    let sdk = account_view(account).await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let boundary =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/aws/shipyard-boundary.json"))
            .unwrap()
            .replace("ACCOUNT_ID", account);
    iam.create_policy().policy_name("shipyard-boundary").policy_document(boundary).send().await.unwrap();
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "AWS": "arn:aws:iam::123456789012:root" },
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
        }],
    });
    iam.create_role()
        .role_name("shipyard-provisioner")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
}

async fn ecr_repository_exists(sdk: &aws_config::SdkConfig, name: &str) -> bool {
    match aws_sdk_ecr::Client::new(sdk).describe_repositories().repository_names(name).send().await {
        Ok(out) => !out.repositories().is_empty(),
        Err(e) if e.code() == Some("RepositoryNotFoundException") => false,
        Err(e) => panic!("describe_repositories: {e:?}"),
    }
}

async fn role_exists(sdk: &aws_config::SdkConfig, name: &str) -> bool {
    match aws_sdk_iam::Client::new(sdk).get_role().role_name(name).send().await {
        Ok(_) => true,
        Err(e) if e.code() == Some("NoSuchEntity") => false,
        Err(e) => panic!("get_role: {e:?}"),
    }
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_service_of_an_account_environment_lives_and_dies_in_that_account_only(db: PgPool) {
    let account = fresh_account();
    let placement = Placement { account_id: account.clone(), region: None };
    let app = TestApp::spawn_with(db, Default::default(), |config| {
        config.environment_accounts.insert("prod".into(), placement);
    })
    .await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("acct");
    let create = |name: String| {
        let (app, browser) = (&app, &browser);
        async move {
            let response = app
                .submit_service(
                    browser,
                    &[
                        ("name", name.as_str()),
                        ("environment", "prod"),
                        ("visibility", "private"),
                        ("template", "acme/service-template"),
                        ("default_branch", "main"),
                        ("description", "made by a test"),
                        ("team", "payments"),
                    ],
                )
                .await;
            assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
        }
    };
    let hub = moto_sdk_config(&Default::default()).await;
    let spoke = account_view(&account).await;

    // No provisioner role in the account yet: STS refuses, the first AWS step says which account and
    // what to do, and nothing is made in either account.
    create(name.clone()).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    let (_, step, message) = service_failure(&app, &name).await;
    assert!(message.contains(&format!("account {account}")), "{step}: {message}");
    assert!(message.contains("shipyard-provisioner") && message.contains("Fix:"), "{message}");
    assert!(message.contains("not authorized to perform: sts:AssumeRole"), "{message}");
    assert!(!ecr_repository_exists(&hub, &name).await && !ecr_repository_exists(&spoke, &name).await);

    // The platform team rolls the spoke out; Retry provisions there, and the first build pushes there.
    roll_out_spoke(&account).await;
    let response = retry_via_form(&app, &browser, &name).await;
    assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert!(ecr_repository_exists(&spoke, &name).await, "the repository is in {account}");
    assert!(!ecr_repository_exists(&hub, &name).await, "nothing of it in Shipyard's own account");
    let images = aws_sdk_ecr::Client::new(&spoke).list_images().repository_name(&name).send().await.unwrap();
    assert!(!images.image_ids().is_empty(), "the first build pushed to {account}'s repository");
    let secrets = app.sim().secrets("acme", &name);
    assert!(secrets["ECR_REPO_URL"].starts_with(&format!("{account}.dkr.ecr.us-east-1.")), "{secrets:?}");
    assert_eq!(secrets["AWS_REGION"], "us-east-1");
    let role = format!("gha.acme.{name}.prod.main");
    assert!(secrets["GHA_DEFAULT_ROLE_ARN"].contains(&format!(":{account}:role/")), "{secrets:?}");
    assert!(role_exists(&spoke, &role).await && !role_exists(&hub, &role).await, "{role}");

    // Deleted: nothing of it left in the spoke (and there never was in the hub).
    let response = app.delete_via_api(&browser, &name).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    assert!(!ecr_repository_exists(&spoke, &name).await);
    assert!(!role_exists(&spoke, &role).await);
}
