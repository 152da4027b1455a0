//! Shipyard's GitHub client against github-sim (in-process, random port): the calls provisioning makes,
//! GitHub's inconvenient answers (async generation, 201/204, 409, 422), and transient vs permanent faults.

use std::{collections::BTreeMap, time::Duration};

use github_sim::{Fault, RunningSim, Seed, SimConfig};
use secrecy::SecretString;
use serde_json::json;
use shipyard::{
    domain::OrgRole,
    github::{DispatchOutcome, GitHub, Repo},
    provider::{ErrorKind, RetryPolicy},
};
use tokio::time::Instant;

const BOT: &str = "ghp_sandbox_shipyard_bot";

struct Harness {
    running: RunningSim,
    github: GitHub,
}

impl Harness {
    async fn start(adjust: impl FnOnce(&mut SimConfig)) -> Self {
        let mut config = SimConfig::new(Seed::sandbox());
        adjust(&mut config);
        let running = github_sim::spawn(config).await.expect("github-sim starts");
        let github = GitHub::new(&running.url(), token(BOT), RetryPolicy::fast()).expect("client builds");
        Harness { running, github }
    }

    async fn default() -> Self {
        Self::start(|_| {}).await
    }

    fn sim(&self) -> github_sim::Sim {
        self.running.sim()
    }

    /// Generates `acme/<name>` from `template` and waits for its content.
    async fn generate(&self, template: &str, name: &str) -> Repo {
        let repo =
            self.github.generate_repo("acme", template, "acme", name, None, true).await.expect("generate");
        self.github
            .wait_for_branch("acme", name, "main", Duration::from_secs(5))
            .await
            .expect("content lands");
        repo
    }
}

fn token(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

#[tokio::test]
async fn a_generated_repository_gets_content_later_and_its_branch_can_be_renamed() {
    let h = Harness::start(|c| c.generate_delay = Duration::from_millis(300)).await;

    let repo = h
        .github
        .generate_repo("acme", "service-template", "acme", "payments", Some("Payments API"), true)
        .await
        .unwrap();
    assert_eq!(repo.full_name, "acme/payments");
    assert_eq!((repo.owner.as_str(), repo.owner_id), ("acme", 1000));
    assert!(repo.private);
    assert_eq!(repo.template_full_name.as_deref(), Some("acme/service-template"));
    assert!(repo.ssh_url.contains("acme/payments"), "{}", repo.ssh_url);

    // GitHub copies the content after answering: 409 "Git Repository is empty." until then.
    assert!(!h.github.branch_exists("acme", "payments", "main").await.unwrap());
    h.github.wait_for_branch("acme", "payments", "main", Duration::from_secs(5)).await.unwrap();
    assert!(h.github.branch_exists("acme", "payments", "main").await.unwrap());
    assert!(h.sim().request_count("GET", "/repos/acme/payments/branches/main") >= 3, "polled until ready");

    h.github.rename_branch("acme", "payments", "main", "trunk").await.unwrap();
    let found = h.github.find_repo("acme", "payments").await.unwrap().expect("repo exists");
    assert_eq!(found.default_branch, "trunk");
    assert_eq!(found.id, repo.id);
    assert_eq!(h.sim().repo("acme", "payments").unwrap().default_branch, "trunk");
}

#[tokio::test]
async fn generation_that_does_not_finish_in_time_is_a_transient_error() {
    let h = Harness::start(|c| c.generate_delay = Duration::from_secs(30)).await;
    h.github.generate_repo("acme", "service-template", "acme", "slow", None, true).await.unwrap();

    let err = h.github.wait_for_branch("acme", "slow", "main", Duration::from_millis(200)).await.unwrap_err();

    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(err.message.contains("did not finish generating acme/slow"), "{}", err.message);
}

#[tokio::test]
async fn a_taken_repository_name_is_a_conflict() {
    let h = Harness::default().await;
    h.github.generate_repo("acme", "service-template", "acme", "taken", None, true).await.unwrap();

    let err =
        h.github.generate_repo("acme", "service-template", "acme", "taken", None, true).await.unwrap_err();

    assert_eq!(err.kind, ErrorKind::Conflict);
    assert!(err.message.contains("already exists"), "{}", err.message);
}

#[tokio::test]
async fn only_existing_template_repositories_are_usable_templates() {
    let h = Harness::default().await;
    h.generate("service-template", "not-a-template").await;

    assert!(h.github.template_is_usable("acme", "service-template").await.unwrap());
    assert!(!h.github.template_is_usable("acme", "not-a-template").await.unwrap());
    assert!(!h.github.template_is_usable("acme", "no-such-template").await.unwrap());
    assert_eq!(h.github.find_repo("acme", "no-such-template").await.unwrap(), None);
}

#[tokio::test]
async fn visibility_can_be_set_to_internal_after_generation() {
    let h = Harness::default().await;
    h.generate("service-template", "internal-svc").await;

    h.github.set_visibility("acme", "internal-svc", "internal").await.unwrap();

    assert_eq!(h.github.find_repo("acme", "internal-svc").await.unwrap().unwrap().visibility, "internal");
}

#[tokio::test]
async fn the_oidc_subject_prefix_of_a_new_repository_is_the_immutable_form() {
    let h = Harness::default().await;
    let repo = h.generate("service-template", "oidc-svc").await;

    let prefix = h.github.oidc_sub_claim_prefix(&repo).await.unwrap();

    assert_eq!(prefix, format!("repo:acme@1000/oidc-svc@{}", repo.id));
}

#[tokio::test]
async fn without_the_customization_endpoint_the_subject_falls_back_to_the_name() {
    let h = Harness::start(|c| c.oidc_customization_endpoint = false).await;
    let repo = h.generate("service-template", "ghes-svc").await;

    assert_eq!(h.github.oidc_sub_claim_prefix(&repo).await.unwrap(), "repo:acme/ghes-svc");

    // A 404 for a repository that is gone is not "endpoint missing".
    h.sim().delete_repo("acme", "ghes-svc");
    assert_eq!(h.github.oidc_sub_claim_prefix(&repo).await.unwrap_err().kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn secrets_arrive_sealed_and_can_be_updated() {
    let h = Harness::default().await;
    h.generate("service-template", "secret-svc").await;
    let values = [
        ("AWS_REGION", "eu-west-1"),
        ("GHA_DEFAULT_ROLE_ARN", "arn:aws:iam::123456789012:role/gha-acme-secret-svc-prod-main"),
        ("ECR_REPO_URL", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/secret-svc"),
    ];

    for (name, value) in values {
        h.github.put_secret("acme", "secret-svc", name, &token(value)).await.unwrap();
    }

    let expected: BTreeMap<String, String> =
        values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(h.sim().secrets("acme", "secret-svc"), expected);
    let mut names = h.github.secret_names("acme", "secret-svc").await.unwrap();
    names.sort();
    assert_eq!(names, ["AWS_REGION", "ECR_REPO_URL", "GHA_DEFAULT_ROLE_ARN"]);

    // The second PUT of a name is an update: GitHub answers 204 instead of 201.
    h.github.put_secret("acme", "secret-svc", "AWS_REGION", &token("us-east-1")).await.unwrap();
    assert_eq!(h.sim().secrets("acme", "secret-svc")["AWS_REGION"], "us-east-1");
}

#[tokio::test]
async fn the_initial_run_fails_without_secrets_and_a_rerun_after_them_succeeds() {
    let h = Harness::default().await;
    h.generate("service-template", "build-svc").await;

    let runs = h.github.list_runs("acme", "build-svc", Some("main"), Some("push")).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let initial = &runs[0];
    assert!(initial.has_failed(), "{initial:?}");
    assert_eq!(
        h.github.list_runs("acme", "build-svc", None, Some("workflow_dispatch")).await.unwrap(),
        vec![]
    );

    for name in ["AWS_REGION", "GHA_DEFAULT_ROLE_ARN", "ECR_REPO_URL"] {
        h.github.put_secret("acme", "build-svc", name, &token("set")).await.unwrap();
    }
    h.github.rerun_failed_jobs("acme", "build-svc", initial.id).await.unwrap();

    let rerun = h.github.get_run("acme", "build-svc", initial.id).await.unwrap();
    assert_eq!(rerun.run_attempt, 2);
    assert_eq!((rerun.status.as_str(), rerun.conclusion.as_deref()), ("completed", Some("success")));
}

#[tokio::test]
async fn a_workflow_with_workflow_dispatch_can_be_started() {
    let h = Harness::default().await;
    h.generate("service-template", "dispatch-svc").await;
    let workflows = h.github.list_workflows("acme", "dispatch-svc").await.unwrap();
    assert_eq!(workflows.iter().map(|w| w.file_name()).collect::<Vec<_>>(), ["build.yml"]);

    let outcome = h.github.dispatch_workflow("acme", "dispatch-svc", "build.yml", "main").await.unwrap();

    let DispatchOutcome::Started { run_id, html_url } = outcome else {
        panic!("expected run details: {outcome:?}")
    };
    let run = h.github.get_run("acme", "dispatch-svc", run_id).await.unwrap();
    assert_eq!((run.event.as_str(), run.head_branch.as_deref()), ("workflow_dispatch", Some("main")));
    assert_eq!(html_url, run.html_url);
}

#[tokio::test]
async fn a_dispatch_answered_without_run_details_is_accepted() {
    let h = Harness::default().await;
    h.generate("service-template", "old-server-svc").await;
    // A server that does not know `return_run_details` answers 204 with no body.
    h.sim()
        .inject_fault(Fault::new("/repos/acme/old-server-svc/actions/workflows/*/dispatches", 204).times(1));

    let outcome = h.github.dispatch_workflow("acme", "old-server-svc", "build.yml", "main").await.unwrap();

    assert_eq!(outcome, DispatchOutcome::Accepted);
}

#[tokio::test]
async fn dispatching_a_workflow_without_workflow_dispatch_is_invalid() {
    let h = Harness::default().await;
    h.generate("worker-template", "worker-svc").await;

    let err = h.github.dispatch_workflow("acme", "worker-svc", "ci.yml", "main").await.unwrap_err();

    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("workflow_dispatch"), "{}", err.message);
}

#[tokio::test]
async fn deleting_twice_and_archiving_what_is_gone_both_succeed() {
    let h = Harness::default().await;
    h.generate("service-template", "doomed").await;
    h.generate("service-template", "kept").await;

    h.github.delete_repo("acme", "doomed").await.unwrap();
    assert_eq!(h.sim().repo("acme", "doomed"), None);
    h.github.delete_repo("acme", "doomed").await.unwrap();

    h.github.archive_repo("acme", "kept").await.unwrap();
    assert!(h.sim().repo("acme", "kept").unwrap().archived);
    h.github.archive_repo("acme", "never-existed").await.unwrap();
}

#[tokio::test]
async fn bad_gateways_are_retried_without_generating_twice() {
    let h = Harness::default().await;
    h.sim().inject_fault(Fault::new("/repos/acme/service-template/generate", 502).method("POST").times(3));

    let repo = h.github.generate_repo("acme", "service-template", "acme", "flaky", None, true).await.unwrap();

    assert_eq!(repo.full_name, "acme/flaky");
    // The three faulted attempts never reach GitHub's handler; exactly one request got through.
    assert_eq!(h.sim().request_count("POST", "/repos/acme/service-template/generate"), 1);
}

#[tokio::test]
async fn a_secondary_rate_limit_is_waited_out_as_github_asks() {
    let h = Harness::default().await;
    h.generate("service-template", "limited").await;
    let limit = json!({
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
    });
    h.sim().inject_fault(
        Fault::new("/repos/acme/limited/actions/secrets/*", 403)
            .method("PUT")
            .body(limit)
            .retry_after(1)
            .times(1),
    );

    let started = Instant::now();
    h.github.put_secret("acme", "limited", "AWS_REGION", &token("eu-west-1")).await.unwrap();

    assert!(started.elapsed() >= Duration::from_secs(1), "retry-after honoured: {:?}", started.elapsed());
    assert_eq!(h.sim().request_count("PUT", "/repos/acme/limited/actions/secrets/*"), 1);
    assert_eq!(h.sim().secrets("acme", "limited")["AWS_REGION"], "eu-west-1");
}

#[tokio::test]
async fn too_many_requests_is_retried() {
    let h = Harness::default().await;
    h.sim().inject_fault(Fault::new("/user", 429).method("GET").times(2));

    let user = h.github.current_user().await.unwrap();

    assert_eq!(user.login, "shipyard-bot");
    assert_eq!(h.sim().request_count("GET", "/user"), 1);
}

#[tokio::test]
async fn an_unreachable_github_is_a_transient_error_that_names_no_token() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let github = GitHub::new(&url, token(BOT), RetryPolicy::fast()).unwrap();

    let err = github.current_user().await.unwrap_err();

    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(err.message.starts_with("could not reach GitHub"), "{}", err.message);
    assert!(!err.message.contains(BOT) && !format!("{err:?} {github:?}").contains(BOT));
}

#[tokio::test]
async fn permanent_faults_are_not_retried_and_keep_githubs_message() {
    let h = Harness::default().await;
    h.generate("service-template", "strict").await;
    let restricted = "Although you appear to have the correct authorization credentials, the `acme` organization \
                      has enabled OAuth App access restrictions, meaning that data access to third-parties is limited.";
    let cases = [
        (404, json!({ "message": "Not Found" }), ErrorKind::NotFound, "404 Not Found".to_owned()),
        (
            422,
            json!({ "message": "Invalid request.\n\n\"key_id\" wasn't supplied." }),
            ErrorKind::Invalid,
            "422 Invalid request.\n\n\"key_id\" wasn't supplied.".to_owned(),
        ),
        (401, json!({ "message": "Bad credentials" }), ErrorKind::Denied, "401 Bad credentials".to_owned()),
        (403, json!({ "message": restricted }), ErrorKind::Denied, format!("403 {restricted}")),
    ];

    for (status, body, kind, message) in cases {
        h.sim().inject_fault(
            Fault::new("/repos/acme/strict/actions/secrets/*", status).method("PUT").body(body).times(1),
        );
        let err = h.github.put_secret("acme", "strict", "AWS_REGION", &token("x")).await.unwrap_err();
        assert_eq!((err.kind, err.message.as_str()), (kind, message.as_str()), "status {status}");
        assert_eq!(err.retry_after, None);
    }
    assert_eq!(h.sim().request_count("PUT", "/repos/acme/strict/actions/secrets/*"), 0, "no retries");
    assert!(h.sim().secrets("acme", "strict").is_empty());
}

#[tokio::test]
async fn a_missing_run_is_not_found() {
    let h = Harness::default().await;
    h.generate("service-template", "runless").await;

    let err = h.github.get_run("acme", "runless", 999_999_999).await.unwrap_err();

    assert_eq!(err.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn user_tokens_tell_who_is_a_member_of_the_organization() {
    let h = Harness::default().await;
    let as_user = |t: &str| h.github.as_token(&token(t)).unwrap();

    let alice = as_user("ghp_sandbox_alice");
    let me = alice.current_user().await.unwrap();
    assert_eq!((me.id, me.login.as_str(), me.name.as_deref()), (2001, "alice", Some("Alice Admin")));
    let role = |m: Option<shipyard::github::Membership>| m.map(|m| (m.state.clone(), m.admitted_role()));
    assert_eq!(
        role(alice.org_membership("acme").await.unwrap()),
        Some(("active".into(), Some(OrgRole::Admin)))
    );
    assert_eq!(
        role(as_user("ghp_sandbox_bob").org_membership("acme").await.unwrap()),
        Some(("active".into(), Some(OrgRole::Member)))
    );
    assert_eq!(
        role(as_user("ghp_sandbox_carol").org_membership("acme").await.unwrap()),
        Some(("pending".into(), None))
    );
    assert_eq!(as_user("ghp_sandbox_mallory").org_membership("acme").await.unwrap(), None);

    let err = as_user("ghp_not_a_token").current_user().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied);
    assert!(err.message.contains("Bad credentials"), "{}", err.message);
    // The server's own client is unchanged by the per-user views.
    assert_eq!(h.github.current_user().await.unwrap().login, "shipyard-bot");
}

#[tokio::test]
async fn every_request_carries_one_shipyard_user_agent_the_pinned_api_version_and_the_bearer_token() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A bare socket, so we see the request head exactly as sent.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            head.extend_from_slice(&buf[..n]);
        }
        let body = r#"{"id":2100,"login":"shipyard-bot","name":null,"avatar_url":""}"#;
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(reply.as_bytes()).await.unwrap();
        String::from_utf8(head).unwrap().to_ascii_lowercase()
    });
    let github = GitHub::new(&url, token(BOT), RetryPolicy::fast()).unwrap();

    assert_eq!(github.current_user().await.unwrap().login, "shipyard-bot");

    let head = server.await.unwrap();
    let lines: Vec<&str> = head.lines().collect();
    assert_eq!(lines[0], "get /user http/1.1");
    let agents: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("user-agent:")).collect();
    assert_eq!(agents, ["user-agent: shipyard"]);
    assert!(lines.contains(&"x-github-api-version: 2022-11-28"), "{head}");
    assert!(lines.contains(&"accept: application/vnd.github+json"), "{head}");
    assert!(lines.contains(&format!("authorization: bearer {BOT}").as_str()), "{head}");
}
