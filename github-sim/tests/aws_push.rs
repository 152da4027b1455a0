//! The runner against moto: a build assumes the role through OIDC and pushes to ECR only when AWS would let
//! it. One green push and one denial per check. These tests require moto at `MOTO_URL`.

mod common;

use std::time::Duration;

use common::aws::{ACCOUNT, AUDIENCE, Aws, REGION, aws, moto_url, push_policy, trust, unique};
use common::{BOT, generate, put_secret, start_with};
use github_sim::{GITHUB_COM_ISSUER, RunView, RunningSim, SimConfig};

const GITHUB_HOST: &str = "token.actions.githubusercontent.com";

/// A repository generated from `service-template`, wired to AWS by the test, and its build dispatched.
struct Setup {
    sim: RunningSim,
    aws: Aws,
    repo: String,
    ecr_name: String,
    ecr_url: String,
    ecr_arn: String,
    role_name: String,
    role_arn: String,
    /// The default subject for `main`.
    sub: String,
    /// The permissions boundary `wire` gives the role, if any.
    boundary: Option<String>,
}

async fn setup(adjust: impl FnOnce(&mut SimConfig)) -> Setup {
    let sim = start_with(|c| {
        c.aws_endpoint_url = Some(moto_url());
        adjust(c);
    })
    .await;
    let repo = unique("svc");
    assert!(generate(&sim, BOT, "service-template", &repo).await.status().is_success());
    let id = sim.sim().repo("acme", &repo).unwrap().id;
    let aws = aws().await;
    let ecr_name = unique("sim-push");
    let (ecr_url, ecr_arn) = aws.create_repository(&ecr_name).await;
    Setup {
        sim,
        aws,
        sub: format!("repo:acme@1000/{repo}@{id}:ref:refs/heads/main"),
        repo,
        ecr_name,
        ecr_url,
        ecr_arn,
        role_name: unique("gha"),
        role_arn: String::new(),
        boundary: None,
    }
}

impl Setup {
    /// Creates the role with `trust`, optionally the push policy (attached or not), and writes the secrets.
    async fn wire(&mut self, trust: &str, policy: Option<(&str, bool)>) {
        self.role_arn = self.aws.create_bounded_role(&self.role_name, trust, self.boundary.as_deref()).await;
        if let Some((resource, attach)) = policy {
            let document = push_policy(resource);
            let role = attach.then_some(self.role_name.as_str());
            self.aws.create_policy(&unique("push"), &document, role).await;
        }
        put_secret(&self.sim, &self.repo, "AWS_REGION", REGION).await;
        put_secret(&self.sim, &self.repo, "GHA_DEFAULT_ROLE_ARN", &self.role_arn).await;
        put_secret(&self.sim, &self.repo, "ECR_REPO_URL", &self.ecr_url).await;
    }

    /// Dispatches the build on `main` and waits for it; returns the run and its log.
    async fn build(&self) -> (RunView, String) {
        let id = self.sim.sim().dispatch("acme", &self.repo, "build.yml", "main").expect("dispatch");
        let run = self.sim.sim().wait_for_run("acme", &self.repo, id, Duration::from_secs(30)).await.unwrap();
        assert_eq!(run.status, "completed");
        let log = self.sim.sim().job_log("acme", &self.repo, id).unwrap();
        (run, log)
    }

    /// The run failed with exactly one `Error:` line containing `expected`, and nothing was pushed.
    async fn assert_denied(&self, expected: &str) {
        let (run, log) = self.build().await;
        assert_eq!(run.conclusion.as_deref(), Some("failure"), "{log}");
        let errors: Vec<&str> = log.lines().filter(|l| l.contains(" Error: ")).collect();
        assert_eq!(errors.len(), 1, "{log}");
        assert!(errors[0].contains(expected), "expected {expected:?} in {:?}", errors[0]);
        assert!(self.aws.image_tags(&self.ecr_name).await.is_empty(), "nothing was pushed");
    }
}

fn github_provider() -> String {
    format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB_HOST}")
}

#[tokio::test]
async fn a_build_with_the_right_trust_and_policy_pushes_its_image_to_ecr() {
    let mut s = setup(|_| {}).await;
    let provider = s.aws.ensure_provider(GITHUB_HOST, &[AUDIENCE]).await;
    let (sub, arn) = (s.sub.clone(), s.ecr_arn.clone());
    s.wire(&trust(&provider, GITHUB_HOST, &sub), Some((&arn, true))).await;
    let (run, log) = s.build().await;
    assert_eq!(run.conclusion.as_deref(), Some("success"), "{log}");
    let short: String = run.head_sha.chars().take(7).collect();
    let mut tags = s.aws.image_tags(&s.ecr_name).await;
    tags.sort();
    assert_eq!(tags, vec!["main".to_string(), format!("sha-{short}")]);
    assert!(!log.contains(&s.role_arn), "the role secret is masked in the log");
    assert!(log.contains("role-to-assume: ***"), "{log}");
    assert!(!log.contains("Error:"), "{log}");

    // A second build is a distinct image that takes the tags over.
    let digest = |images: &aws_sdk_ecr::operation::describe_images::DescribeImagesOutput| {
        images
            .image_details()
            .iter()
            .find(|d| d.image_tags().contains(&"main".to_string()))
            .unwrap()
            .image_digest
            .clone()
    };
    let first = digest(&s.aws.ecr.describe_images().repository_name(&s.ecr_name).send().await.unwrap());
    let (again, _) = s.build().await;
    assert_eq!(again.conclusion.as_deref(), Some("success"));
    let second = digest(&s.aws.ecr.describe_images().repository_name(&s.ecr_name).send().await.unwrap());
    assert_ne!(first, second, "each push is a fresh image");
    assert_eq!(GITHUB_COM_ISSUER, format!("https://{GITHUB_HOST}"));
}

#[tokio::test]
async fn a_trust_for_another_repository_refuses_the_role() {
    let mut s = setup(|_| {}).await;
    let provider = s.aws.ensure_provider(GITHUB_HOST, &[AUDIENCE]).await;
    let other = "repo:acme@1000/other@1:ref:refs/heads/main";
    let arn = s.ecr_arn.clone();
    s.wire(&trust(&provider, GITHUB_HOST, other), Some((&arn, true))).await;
    s.assert_denied(&format!(
        "Error: Not authorized to perform sts:AssumeRoleWithWebIdentity: trust condition StringEquals \
         {GITHUB_HOST}:sub = {} does not match {other}",
        s.sub
    ))
    .await;
}

#[tokio::test]
async fn a_trust_for_another_branch_refuses_the_role() {
    let mut s = setup(|_| {}).await;
    let provider = s.aws.ensure_provider(GITHUB_HOST, &[AUDIENCE]).await;
    let production = s.sub.replace("refs/heads/main", "refs/heads/production");
    let arn = s.ecr_arn.clone();
    s.wire(&trust(&provider, GITHUB_HOST, &production), Some((&arn, true))).await;
    s.assert_denied(&format!("does not match {production}")).await;
}

#[tokio::test]
async fn a_provider_without_the_sts_audience_refuses_the_token() {
    let host = format!("{}.ghes.example/_services/token", unique("aud"));
    let issuer = format!("https://{host}");
    let mut s =
        setup(|c| *c = c.clone().ghes(issuer.trim_start_matches("https://").split('/').next().unwrap()))
            .await;
    let provider = s.aws.ensure_provider(&host, &["sigstore"]).await;
    let sub = s.sub.clone();
    let arn = s.ecr_arn.clone();
    s.wire(&trust(&provider, &host, &sub), Some((&arn, true))).await;
    s.assert_denied(&format!(
        "Incorrect token audience: the OIDC provider {provider} does not list audience sts.amazonaws.com"
    ))
    .await;
}

#[tokio::test]
async fn a_missing_provider_refuses_the_token() {
    let host = format!("{}.ghes.example/_services/token", unique("none"));
    let mut s = setup(|c| *c = c.clone().ghes(host.split('/').next().unwrap())).await;
    let provider = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host}");
    let sub = s.sub.clone();
    let arn = s.ecr_arn.clone();
    s.wire(&trust(&provider, &host, &sub), Some((&arn, true))).await;
    s.assert_denied(&format!("No OpenIDConnect provider found in your account for https://{host}")).await;
}

#[tokio::test]
async fn a_role_without_its_push_policy_attached_cannot_log_in_to_ecr() {
    let mut s = setup(|_| {}).await;
    let provider = s.aws.ensure_provider(GITHUB_HOST, &[AUDIENCE]).await;
    let (sub, arn) = (s.sub.clone(), s.ecr_arn.clone());
    s.wire(&trust(&provider, GITHUB_HOST, &sub), Some((&arn, false))).await;
    s.assert_denied(
        "is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no identity-based policy \
         allows the ecr:GetAuthorizationToken action",
    )
    .await;
    assert_eq!(github_provider(), provider);
}

#[tokio::test]
async fn a_policy_for_another_repository_cannot_push() {
    let mut s = setup(|_| {}).await;
    let provider = s.aws.ensure_provider(GITHUB_HOST, &[AUDIENCE]).await;
    let sub = s.sub.clone();
    let elsewhere = format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{}", unique("elsewhere"));
    s.wire(&trust(&provider, GITHUB_HOST, &sub), Some((&elsewhere, true))).await;
    // The region secret (`us-east-1`) is masked wherever it appears, as GitHub masks secrets.
    let masked_arn = s.ecr_arn.replace(REGION, "***");
    s.assert_denied(&format!(
        "is not authorized to perform: ecr:BatchCheckLayerAvailability on resource: {masked_arn}"
    ))
    .await;
}

#[tokio::test]
async fn a_customized_subject_no_longer_matches_a_trust_built_for_the_default_one() {
    let mut s = setup(|_| {}).await;
    let provider = s.aws.ensure_provider(GITHUB_HOST, &[AUDIENCE]).await;
    let (sub, arn) = (s.sub.clone(), s.ecr_arn.clone());
    s.wire(&trust(&provider, GITHUB_HOST, &sub), Some((&arn, true))).await;
    s.sim.sim().set_repo_subject_template("acme", &s.repo, Some(&["repo", "context", "job_workflow_ref"]));
    let presented =
        format!("{sub}:job_workflow_ref:acme/{}/.github/workflows/build.yml@refs/heads/main", s.repo);
    s.assert_denied(&format!("{GITHUB_HOST}:sub = {presented} does not match {sub}")).await;
}

/// A boundary allowing ECR login and push to `resource` (the shape of `deploy/aws/shipyard-boundary.json`).
fn boundary_document(push_resource: &str) -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Effect": "Allow", "Action": ["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"], "Resource": push_resource},
    ]})
    .to_string()
}

#[tokio::test]
async fn a_push_the_role_policy_allows_but_its_permissions_boundary_does_not_fails() {
    let mut s = setup(|_| {}).await;
    let provider = s.aws.ensure_provider(GITHUB_HOST, &[AUDIENCE]).await;
    let elsewhere = format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{}", unique("elsewhere"));
    s.boundary = Some(s.aws.create_policy(&unique("boundary"), &boundary_document(&elsewhere), None).await);
    let (sub, arn) = (s.sub.clone(), s.ecr_arn.clone());
    s.wire(&trust(&provider, GITHUB_HOST, &sub), Some((&arn, true))).await;
    let masked_arn = s.ecr_arn.replace(REGION, "***");
    s.assert_denied(&format!(
        "is not authorized to perform: ecr:BatchCheckLayerAvailability on resource: {masked_arn} because no \
         permissions boundary allows the ecr:BatchCheckLayerAvailability action"
    ))
    .await;
}

#[tokio::test]
async fn a_push_allowed_by_both_the_role_policy_and_its_boundary_succeeds() {
    let mut s = setup(|_| {}).await;
    let provider = s.aws.ensure_provider(GITHUB_HOST, &[AUDIENCE]).await;
    let every_repository = format!("arn:aws:ecr:*:{ACCOUNT}:repository/*");
    s.boundary =
        Some(s.aws.create_policy(&unique("boundary"), &boundary_document(&every_repository), None).await);
    let (sub, arn) = (s.sub.clone(), s.ecr_arn.clone());
    s.wire(&trust(&provider, GITHUB_HOST, &sub), Some((&arn, true))).await;
    let (run, log) = s.build().await;
    assert_eq!(run.conclusion.as_deref(), Some("success"), "{log}");
    assert_eq!(s.aws.image_tags(&s.ecr_name).await.len(), 2, "main and sha- tags were pushed");
}

#[tokio::test]
async fn with_an_iam_propagation_delay_a_new_role_is_unknown_and_a_changed_trust_is_late_until_it_passes() {
    let delay = Duration::from_secs(2);
    let mut s = setup(|c| c.iam_propagation_delay = delay).await;
    let provider = s.aws.ensure_provider(GITHUB_HOST, &[AUDIENCE]).await;
    let (sub, arn) = (s.sub.clone(), s.ecr_arn.clone());
    s.wire(&trust(&provider, GITHUB_HOST, &sub), Some((&arn, true))).await;
    let made = tokio::time::Instant::now();
    s.assert_denied("Not authorized to perform sts:AssumeRoleWithWebIdentity: the role does not exist").await;
    tokio::time::sleep_until(made + delay).await;
    let (run, log) = s.build().await;
    assert_eq!(run.conclusion.as_deref(), Some("success"), "once propagated the role is assumed: {log}");

    // A trust rewritten for another branch: the old one stays in force until the change has propagated.
    let other = sub.replace("refs/heads/main", "refs/heads/release");
    s.aws
        .iam
        .update_assume_role_policy()
        .role_name(&s.role_name)
        .policy_document(trust(&provider, GITHUB_HOST, &other))
        .send()
        .await
        .unwrap();
    let (run, log) = s.build().await;
    assert_eq!(run.conclusion.as_deref(), Some("success"), "the previous trust still applies: {log}");
    // moto stamps no time on a trust update, so the runner dates a change from when it first reads it: during
    // the build above, so at the latest now (counting from before that build raced it under load).
    let read = tokio::time::Instant::now();
    tokio::time::sleep_until(read + delay).await;
    let (run, log) = s.build().await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "the new trust is in force: {log}");
    assert!(log.contains("Not authorized to perform sts:AssumeRoleWithWebIdentity"), "{log}");
}
