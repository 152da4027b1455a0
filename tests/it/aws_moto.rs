//! The AWS layer against moto (`MOTO_URL`, default http://127.0.0.1:5000), through the real SDK.
//!
//! moto is shared by parallel tests and never reset: every test uses its own uuid-suffixed names.
//! Out-of-band changes ("someone else made this", "someone edited that") go through plain SDK
//! clients, the way an operator with the console would.

use std::collections::BTreeMap;

use crate::common::aws_faults::{Fault, Faults, moto_sdk_config};
use aws_config::SdkConfig;
use serde_json::json;
use shipyard::{
    aws::{Aws, Ownership, ResourceTags, policy},
    provider::{ErrorKind, RetryPolicy, System},
};
use uuid::Uuid;

struct Moto {
    aws: Aws,
    faults: Faults,
    sdk: SdkConfig,
}

async fn moto() -> Moto {
    let faults = Faults::default();
    let sdk = moto_sdk_config(&faults).await;
    Moto { aws: Aws::new(&sdk, RetryPolicy::fast()), faults, sdk }
}

impl Moto {
    fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk)
    }
    fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.sdk)
    }

    async fn oidc_trust(&self, repo: &str, branch: &str) -> serde_json::Value {
        let provider = self.aws.ensure_oidc_provider().await.unwrap();
        policy::trust_policy(
            &provider,
            &policy::OidcIssuer::github_com(),
            &shipyard::domain::SubjectPrefix::Legacy { owner: "acme".into(), name: repo.into() },
            branch,
        )
    }

    /// How many roles with exactly this name exist under Shipyard's path.
    async fn count_roles(&self, name: &str) -> usize {
        let roles = self.iam().list_roles().path_prefix(policy::IAM_PATH).into_paginator().items().send();
        roles.try_collect().await.unwrap().iter().filter(|r| r.role_name() == name).count()
    }

    async fn count_repositories(&self, name: &str) -> usize {
        let repos = self.ecr().describe_repositories().into_paginator().items().send();
        repos.try_collect().await.unwrap().iter().filter(|r| r.repository_name() == Some(name)).count()
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::new_v4().simple().to_string()[..12])
}

fn tags_for(service: &str) -> ResourceTags {
    ResourceTags { service: service.to_owned(), environment: "test".to_owned(), service_id: Uuid::new_v4() }
}

fn expected_tags(tags: &ResourceTags) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("Service".to_owned(), tags.service.clone()),
        ("Environment".to_owned(), "test".to_owned()),
        ("Managed-By".to_owned(), "shipyard".to_owned()),
        ("shipyard:service-id".to_owned(), tags.service_id.to_string()),
    ])
}

#[tokio::test]
async fn an_ecr_repository_is_created_with_scan_on_push_and_our_tags_and_adopted_on_the_next_ensure() {
    let moto = moto().await;
    let name = unique("app");
    let tags = tags_for(&name);

    let first = moto.aws.ensure_ecr_repository(&name, &tags).await.unwrap();
    assert!(first.scan_on_push);
    assert_eq!(first.tags, expected_tags(&tags));
    assert_eq!(first.arn, moto.aws.account().await.unwrap().ecr_repository_arn("us-east-1", &name));
    assert!(first.uri.ends_with(&format!(".dkr.ecr.us-east-1.amazonaws.com/{name}")), "{}", first.uri);

    let described = moto.ecr().describe_repositories().repository_names(&name).send().await.unwrap();
    let scan = described.repositories()[0].image_scanning_configuration().unwrap().scan_on_push();
    assert!(scan, "ECR itself reports scan on push");

    let second = moto.aws.ensure_ecr_repository(&name, &tags).await.unwrap();
    assert_eq!(second, first);
    assert_eq!(moto.count_repositories(&name).await, 1);
    assert_eq!(moto.aws.ecr_repository_ownership(&name, tags.service_id).await.unwrap(), Ownership::Ours);
}

#[tokio::test]
async fn a_tagged_repository_left_by_an_earlier_attempt_is_adopted_and_corrected() {
    let moto = moto().await;
    let name = unique("app");
    let tags = tags_for(&name);
    // As if a previous attempt crashed after creating it with only the ownership tag.
    let id_tag =
        aws_sdk_ecr::types::Tag::builder().key("shipyard:service-id").value(tags.service_id.to_string());
    moto.ecr().create_repository().repository_name(&name).tags(id_tag.build().unwrap()).send().await.unwrap();

    let repo = moto.aws.ensure_ecr_repository(&name, &tags).await.unwrap();
    let read_back = moto.aws.find_ecr_repository(&name).await.unwrap().unwrap();
    assert!(repo.scan_on_push && read_back.scan_on_push);
    assert_eq!(read_back.tags, expected_tags(&tags));
}

#[tokio::test]
async fn a_foreign_ecr_repository_is_refused_and_left_untouched() {
    let moto = moto().await;
    let name = unique("theirs");
    moto.ecr().create_repository().repository_name(&name).send().await.unwrap();
    let tags = tags_for(&name);

    assert_eq!(moto.aws.ecr_repository_ownership(&name, tags.service_id).await.unwrap(), Ownership::Foreign);
    let err = moto.aws.ensure_ecr_repository(&name, &tags).await.unwrap_err();
    assert_eq!((err.system, err.kind), (System::Ecr, ErrorKind::Conflict));
    assert_eq!(err.message, format!("ECR repository {name} exists and is not managed by this service"));
    let err = moto.aws.delete_ecr_repository(&name, tags.service_id).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);

    let untouched = moto.aws.find_ecr_repository(&name).await.unwrap().expect("still there");
    assert!(untouched.tags.is_empty());
    assert!(!untouched.scan_on_push);
    moto.ecr().delete_repository().repository_name(&name).send().await.unwrap();
}

#[tokio::test]
async fn the_push_policy_document_is_exactly_the_one_we_build() {
    let moto = moto().await;
    let name = unique("app");
    let tags = tags_for(&name);
    let repo = moto.aws.ensure_ecr_repository(&name, &tags).await.unwrap();

    let arn = moto.aws.ensure_ecr_push_policy(&format!("ecr-push-{name}"), &repo.arn, &tags).await.unwrap();
    let account = moto.aws.account().await.unwrap();
    assert_eq!(arn, account.policy_arn(&format!("ecr-push-{name}")));
    assert_eq!(
        moto.aws.get_policy_document(&arn).await.unwrap().unwrap(),
        policy::ecr_push_policy(&repo.arn)
    );

    // Ensuring again changes nothing: still the one version.
    assert_eq!(
        moto.aws.ensure_ecr_push_policy(&format!("ecr-push-{name}"), &repo.arn, &tags).await.unwrap(),
        arn
    );
    let versions = moto.iam().list_policy_versions().policy_arn(&arn).send().await.unwrap();
    assert_eq!(versions.versions().len(), 1);
    let policy_tags = moto.iam().list_policy_tags().policy_arn(&arn).send().await.unwrap();
    let policy_tags: BTreeMap<_, _> =
        policy_tags.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    assert_eq!(policy_tags, expected_tags(&tags));
}

#[tokio::test]
async fn a_changed_policy_gets_a_new_default_version_within_the_five_version_limit() {
    let moto = moto().await;
    let name = unique("ecr-push");
    let tags = tags_for(&name);
    let account = moto.aws.account().await.unwrap();
    let repo_arn = |n: usize| account.ecr_repository_arn("us-east-1", &format!("repo-{n}"));

    let mut arn = String::new();
    for n in 0..7 {
        arn = moto.aws.ensure_ecr_push_policy(&name, &repo_arn(n), &tags).await.unwrap();
    }
    assert_eq!(
        moto.aws.get_policy_document(&arn).await.unwrap().unwrap(),
        policy::ecr_push_policy(&repo_arn(6))
    );
    let versions = moto.iam().list_policy_versions().policy_arn(&arn).send().await.unwrap();
    assert_eq!(versions.versions().len(), 5, "the oldest non-default versions were pruned");
    moto.aws.delete_policy(&name, tags.service_id).await.unwrap();
}

#[tokio::test]
async fn the_role_trusts_exactly_our_policy_and_has_the_push_policy_attached() {
    let moto = moto().await;
    let name = unique("gha-acme");
    let tags = tags_for(&name);
    let trust = moto.oidc_trust(&name, "main").await;

    let arn = moto.aws.ensure_role(&name, &trust, &tags).await.unwrap();
    assert!(arn.ends_with(&format!(":role/shipyard/{name}")), "{arn}");
    let account = moto.aws.account().await.unwrap();
    let policy_arn = moto
        .aws
        .ensure_ecr_push_policy(&name, &account.ecr_repository_arn("us-east-1", &name), &tags)
        .await
        .unwrap();
    moto.aws.ensure_policy_attached(&name, &policy_arn).await.unwrap();
    moto.aws.ensure_policy_attached(&name, &policy_arn).await.unwrap();

    let role = moto.aws.get_role(&name).await.unwrap().unwrap();
    assert_eq!(role.arn, arn);
    assert_eq!(role.trust_policy, trust);
    assert_eq!(role.tags, expected_tags(&tags));
    assert_eq!(role.attached_policy_arns, vec![policy_arn]);
    assert_eq!(moto.aws.ensure_role(&name, &trust, &tags).await.unwrap(), arn);
    assert_eq!(moto.count_roles(&name).await, 1);
}

#[tokio::test]
async fn a_trust_policy_changed_out_of_band_is_corrected_by_the_next_ensure() {
    let moto = moto().await;
    let name = unique("gha-acme");
    let tags = tags_for(&name);
    let trust = moto.oidc_trust(&name, "main").await;
    moto.aws.ensure_role(&name, &trust, &tags).await.unwrap();

    let widened = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]});
    moto.iam()
        .update_assume_role_policy()
        .role_name(&name)
        .policy_document(widened.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(moto.aws.get_role(&name).await.unwrap().unwrap().trust_policy, widened);

    moto.aws.ensure_role(&name, &trust, &tags).await.unwrap();
    assert_eq!(moto.aws.get_role(&name).await.unwrap().unwrap().trust_policy, trust);
}

#[tokio::test]
async fn a_foreign_role_and_policy_are_refused_and_left_untouched() {
    let moto = moto().await;
    let name = unique("gha-theirs");
    let tags = tags_for(&name);
    let their_trust = json!({"Version": "2012-10-17", "Statement": []});
    let their_doc = json!({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
    moto.iam()
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(their_trust.to_string())
        .send()
        .await
        .unwrap();
    let created = moto.iam().create_policy().policy_name(&name).path(policy::IAM_PATH);
    let policy_arn =
        created.policy_document(their_doc.to_string()).send().await.unwrap().policy.unwrap().arn.unwrap();

    let trust = moto.oidc_trust(&name, "main").await;
    assert_eq!(moto.aws.role_ownership(&name, tags.service_id).await.unwrap(), Ownership::Foreign);
    assert_eq!(moto.aws.policy_ownership(&name, tags.service_id).await.unwrap(), Ownership::Foreign);
    assert_eq!(moto.aws.ensure_role(&name, &trust, &tags).await.unwrap_err().kind, ErrorKind::Conflict);
    let err = moto
        .aws
        .ensure_ecr_push_policy(&name, "arn:aws:ecr:us-east-1:1:repository/x", &tags)
        .await
        .unwrap_err();
    assert_eq!(err.message, format!("IAM policy {name} exists and is not managed by this service"));
    assert_eq!(moto.aws.delete_role(&name, tags.service_id).await.unwrap_err().kind, ErrorKind::Conflict);
    assert_eq!(moto.aws.delete_policy(&name, tags.service_id).await.unwrap_err().kind, ErrorKind::Conflict);

    let role = moto.aws.get_role(&name).await.unwrap().expect("role still there");
    assert_eq!(role.trust_policy, their_trust);
    assert!(role.tags.is_empty());
    assert_eq!(moto.aws.get_policy_document(&policy_arn).await.unwrap(), Some(their_doc));
}

#[tokio::test]
async fn the_oidc_provider_is_created_once_and_reused() {
    let moto = moto().await;
    let first = moto.aws.ensure_oidc_provider().await.unwrap();
    let second = moto.aws.ensure_oidc_provider().await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first, moto.aws.account().await.unwrap().oidc_provider_arn(moto.aws.oidc_issuer()));

    let listed = moto.iam().list_open_id_connect_providers().send().await.unwrap();
    let same_url =
        listed.open_id_connect_provider_list().iter().filter(|p| p.arn() == Some(first.as_str())).count();
    assert_eq!(same_url, 1);
    let provider =
        moto.iam().get_open_id_connect_provider().open_id_connect_provider_arn(&first).send().await;
    assert_eq!(provider.unwrap().client_id_list(), ["sts.amazonaws.com"]);
}

#[tokio::test]
async fn deleting_a_service_removes_role_policy_and_repository_and_can_run_twice() {
    let moto = moto().await;
    let name = unique("svc");
    let tags = tags_for(&name);
    let repo = moto.aws.ensure_ecr_repository(&name, &tags).await.unwrap();
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
            "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"}, "layers": []});
    let put =
        moto.ecr().put_image().repository_name(&name).image_tag("v1").image_manifest(manifest.to_string());
    put.send().await.unwrap();
    let policy_arn = moto.aws.ensure_ecr_push_policy(&name, &repo.arn, &tags).await.unwrap();
    let trust = moto.oidc_trust(&name, "main").await;
    moto.aws.ensure_role(&name, &trust, &tags).await.unwrap();
    moto.aws.ensure_policy_attached(&name, &policy_arn).await.unwrap();
    moto.iam().put_role_policy().role_name(&name).policy_name("inline").policy_document(
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]})
            .to_string(),
    ).send().await.unwrap();

    for _ in 0..2 {
        moto.aws.delete_role(&name, tags.service_id).await.unwrap();
        moto.aws.delete_policy(&name, tags.service_id).await.unwrap();
        moto.aws.delete_ecr_repository(&name, tags.service_id).await.unwrap();
    }
    assert_eq!(moto.aws.get_role(&name).await.unwrap(), None);
    assert_eq!(moto.aws.get_policy_document(&policy_arn).await.unwrap(), None);
    assert_eq!(moto.aws.find_ecr_repository(&name).await.unwrap(), None);
    assert_eq!(moto.aws.role_ownership(&name, tags.service_id).await.unwrap(), Ownership::Absent);
}

#[tokio::test]
async fn deleting_the_policy_before_the_role_detaches_it_first() {
    let moto = moto().await;
    let name = unique("svc");
    let tags = tags_for(&name);
    let trust = moto.oidc_trust(&name, "main").await;
    moto.aws.ensure_role(&name, &trust, &tags).await.unwrap();
    let policy_arn =
        moto.aws.ensure_ecr_push_policy(&name, "arn:aws:ecr:us-east-1:1:repository/x", &tags).await.unwrap();
    moto.aws.ensure_policy_attached(&name, &policy_arn).await.unwrap();

    moto.aws.delete_policy(&name, tags.service_id).await.unwrap();
    assert_eq!(moto.aws.get_role(&name).await.unwrap().unwrap().attached_policy_arns, Vec::<String>::new());
    moto.aws.delete_role(&name, tags.service_id).await.unwrap();
    assert_eq!(moto.aws.get_role(&name).await.unwrap(), None);
}

#[tokio::test]
async fn throttled_calls_are_retried_and_create_exactly_one_resource() {
    let moto = moto().await;
    let name = unique("gha-throttled");
    let tags = tags_for(&name);
    let trust = moto.oidc_trust(&name, "main").await;

    moto.faults.inject("CreateRole", 3, Fault::Throttling);
    moto.aws.ensure_role(&name, &trust, &tags).await.unwrap();
    assert_eq!(moto.faults.calls("CreateRole"), 4);
    assert_eq!(moto.count_roles(&name).await, 1);

    moto.faults.inject("CreateRepository", 2, Fault::ServiceUnavailable);
    moto.faults.inject("ListTagsForResource", 1, Fault::Throttling);
    moto.aws.ensure_ecr_repository(&name, &tags).await.unwrap();
    assert_eq!(moto.faults.calls("CreateRepository"), 3);
    assert_eq!(moto.count_repositories(&name).await, 1);
}

#[tokio::test]
async fn access_denied_stops_at_once_with_the_providers_message_and_creates_nothing() {
    let moto = moto().await;
    let name = unique("gha-denied");
    let tags = tags_for(&name);
    let trust = moto.oidc_trust(&name, "main").await;

    moto.faults.inject("CreateRole", 1, Fault::AccessDenied);
    let err = moto.aws.ensure_role(&name, &trust, &tags).await.unwrap_err();
    assert_eq!((err.system, err.kind), (System::Iam, ErrorKind::Denied));
    assert!(err.message.starts_with("AccessDenied: User: "), "{}", err.message);
    assert!(err.message.contains("not authorized to perform: CreateRole"), "{}", err.message);
    assert!(!err.message.contains("testing"), "no credentials in messages");
    assert_eq!(moto.faults.calls("CreateRole"), 1, "denied is not retried");
    assert_eq!(moto.aws.get_role(&name).await.unwrap(), None);

    moto.faults.inject("CreateRepository", 1, Fault::AccessDenied);
    let err = moto.aws.ensure_ecr_repository(&name, &tags).await.unwrap_err();
    assert_eq!((err.system, err.kind), (System::Ecr, ErrorKind::Denied));
    assert!(err.message.starts_with("AccessDeniedException: "), "{}", err.message);
    assert_eq!(moto.aws.find_ecr_repository(&name).await.unwrap(), None);
}

#[tokio::test]
async fn preflight_sees_free_names_as_absent_and_another_services_resources_as_foreign() {
    let moto = moto().await;
    let name = unique("svc");
    let tags = tags_for(&name);
    let other = Uuid::new_v4();
    assert_eq!(moto.aws.role_ownership(&name, tags.service_id).await.unwrap(), Ownership::Absent);
    assert_eq!(moto.aws.policy_ownership(&name, tags.service_id).await.unwrap(), Ownership::Absent);
    assert_eq!(moto.aws.ecr_repository_ownership(&name, tags.service_id).await.unwrap(), Ownership::Absent);

    let repo = moto.aws.ensure_ecr_repository(&name, &tags).await.unwrap();
    moto.aws.ensure_ecr_push_policy(&name, &repo.arn, &tags).await.unwrap();
    moto.aws.ensure_role(&name, &moto.oidc_trust(&name, "main").await, &tags).await.unwrap();
    assert_eq!(moto.aws.role_ownership(&name, tags.service_id).await.unwrap(), Ownership::Ours);
    assert_eq!(moto.aws.policy_ownership(&name, tags.service_id).await.unwrap(), Ownership::Ours);
    assert_eq!(moto.aws.role_ownership(&name, other).await.unwrap(), Ownership::Foreign);
    assert_eq!(moto.aws.policy_ownership(&name, other).await.unwrap(), Ownership::Foreign);
    assert_eq!(moto.aws.ecr_repository_ownership(&name, other).await.unwrap(), Ownership::Foreign);
}
