//! Deleting a service from its page or the API: who may, what the reconciler tears down (checked in
//! github-sim and moto, not in our own records), what it leaves alone, and the name being free again.

use shipyard::domain::ServiceStatus;

use crate::common::{
    app::{TestApp, location, unique_name},
    aws_faults::{Fault as AwsFault, moto_sdk_config},
    fixtures::{create_foreign_ecr_repository, create_foreign_role, retry_via_form},
};
use github_sim::{Fault, SimConfig};
use reqwest::{Client, StatusCode};
use scraper::{Html, Selector};
use serde_json::{Value, json};
use shipyard::aws::policy;
use sqlx::PgPool;

/// Posts the Delete form as `browser` with its own CSRF token.
async fn submit_delete(
    app: &TestApp,
    browser: &Client,
    name: &str,
    confirm: &str,
    keep: bool,
) -> reqwest::Response {
    let token = app.csrf_token(browser).await;
    let mut form = vec![("csrf_token", token.as_str()), ("confirm_name", confirm)];
    if keep {
        form.push(("keep_repository", "on"));
    }
    browser.post(app.at(&format!("/services/{name}/delete"))).form(&form).send().await.unwrap()
}

/// Deletes through the form (confirmed) and expects the redirect back to the page.
async fn delete_via_form(app: &TestApp, browser: &Client, name: &str, keep: bool) {
    let response = submit_delete(app, browser, name, name, keep).await;
    let status = response.status();
    if status != StatusCode::SEE_OTHER {
        panic!("deleting {name} answered {status}: {}", response.text().await.unwrap());
    }
    assert_eq!(location(&response), format!("/services/{name}"));
}

async fn page(app: &TestApp, browser: &Client, name: &str) -> (StatusCode, Html) {
    let response = browser.get(app.at(&format!("/services/{name}"))).send().await.unwrap();
    (response.status(), Html::parse_document(&response.text().await.unwrap()))
}

fn select<'a>(html: &'a Html, selector: &str) -> Vec<scraper::ElementRef<'a>> {
    html.select(&Selector::parse(selector).unwrap()).collect()
}

fn text_of(html: &Html, selector: &str) -> String {
    select(html, selector).iter().map(|e| e.text().collect::<String>()).collect::<Vec<_>>().join(" ")
}

fn role_name(name: &str) -> String {
    format!("gha.acme.{name}.dev.main")
}

async fn policy_arn(app: &TestApp, name: &str) -> String {
    let account = app.aws.account_id().await.unwrap();
    policy::policy_arn(&account, &format!("{}-ecr-push", role_name(name)))
}

/// What is left of a service in moto and github-sim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Leftovers {
    role: bool,
    policy: bool,
    ecr: bool,
    repo: bool,
}

impl Leftovers {
    const NOTHING: Leftovers = Leftovers { role: false, policy: false, ecr: false, repo: false };
    const EVERYTHING: Leftovers = Leftovers { role: true, policy: true, ecr: true, repo: true };
    /// The GitHub repository alone (archived, or someone else's).
    const ONLY_REPO: Leftovers = Leftovers { repo: true, ..Leftovers::NOTHING };
}

/// What is left of `name` in moto and github-sim.
async fn leftovers(app: &TestApp, name: &str) -> Leftovers {
    Leftovers {
        role: app.aws.get_role(&role_name(name)).await.unwrap().is_some(),
        policy: app.aws.get_policy_document(&policy_arn(app, name).await).await.unwrap().is_some(),
        ecr: app.aws.find_ecr_repository(name).await.unwrap().is_some(),
        repo: app.sim().repo("acme", name).is_some(),
    }
}

async fn assert_nothing_left(app: &TestApp, name: &str) {
    assert_eq!(leftovers(app, name).await, Leftovers::NOTHING, "what is left of {name}");
}

async fn oidc_provider_arns() -> Vec<String> {
    let iam = aws_sdk_iam::Client::new(&moto_sdk_config(&Default::default()).await);
    let listed = iam.list_open_id_connect_providers().send().await.unwrap();
    listed.open_id_connect_provider_list().iter().filter_map(|p| p.arn().map(str::to_owned)).collect()
}

/// (action, outcome, actor, detail) of the audit rows about `name`, oldest first.
async fn audit_of(app: &TestApp, name: &str) -> Vec<(String, String, Option<String>, String)> {
    sqlx::query_as(
        "select action, outcome, actor_login, detail from audit_event where service_name = $1 order by audit_event_id",
    )
    .bind(name)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// Status, desired state and the number of delete step rows: what a refused request must not change.
async fn deletion_state(app: &TestApp, name: &str) -> (String, String, i64) {
    sqlx::query_as(
        "select s.status, s.desired, (select count(*) from step t where t.service_id = s.service_id
                                       and t.step like 'delete_%')
         from service s where s.name = $1 order by s.created_at desc limit 1",
    )
    .bind(name)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// Creates `name` as `browser` and lets the reconciler finish it.
async fn provision(app: &TestApp, browser: &Client, name: &str) {
    app.create_service(browser, name).await;
    assert_eq!(app.settle(&app.reconciler(), name).await, ServiceStatus::Ready);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn deleting_a_ready_service_removes_everything_but_the_shared_oidc_provider(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("doomed");
    provision(&app, &browser, &name).await;
    let recorded_policy: String = sqlx::query_scalar(
        "select outputs->>'arn' from step join service using (service_id) where name = $1 and step = 'iam_policy'",
    )
    .bind(&name)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(recorded_policy, policy_arn(&app, &name).await);
    assert_eq!(leftovers(&app, &name).await, Leftovers::EVERYTHING);
    let provider = policy::oidc_provider_arn(&app.aws.account_id().await.unwrap());
    assert!(oidc_provider_arns().await.contains(&provider));

    let (_, html) = page(&app, &browser, &name).await;
    assert_eq!(
        select(&html, "[data-testid=delete-section] fieldset[disabled]").len(),
        0,
        "the creator may delete"
    );
    assert!(select(&html, "[data-testid=delete-refusal]").is_empty());

    delete_via_form(&app, &browser, &name, false).await;
    assert_eq!(app.status_of(&name).await, ServiceStatus::Deleting);
    let (_, html) = page(&app, &browser, &name).await;
    assert_eq!(text_of(&html, "#service-status"), "deleting");
    assert_eq!(select(&html, "#steps[data-progress-url]").len(), 1, "the page follows the deletion");
    assert_eq!(select(&html, "li[data-step=delete_role]").len(), 1);
    assert!(select(&html, "[data-testid=delete-section]").is_empty(), "no second delete while deleting");

    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    assert_nothing_left(&app, &name).await;
    assert!(app.aws.get_policy_document(&recorded_policy).await.unwrap().is_none());
    assert!(oidc_provider_arns().await.contains(&provider), "the shared OIDC provider stays");

    let (status, html) = page(&app, &browser, &name).await;
    assert_eq!(status, StatusCode::OK, "a deleted service's page stays for the audit trail");
    assert_eq!(text_of(&html, "#service-status"), "deleted");
    assert_eq!(select(&html, "[data-testid=deleted-note]").len(), 1);
    assert!(select(&html, "form[action$='/delete']").is_empty());
    let audit = audit_of(&app, &name).await;
    let requested = audit.iter().find(|(action, ..)| action == "delete_requested").expect("delete_requested");
    assert_eq!((requested.1.as_str(), requested.2.as_deref()), ("success", Some("bob")));
    assert!(requested.3.contains("delete the GitHub repository"), "{}", requested.3);
    assert!(audit.iter().any(|(a, o, who, _)| (a.as_str(), o.as_str(), who.as_deref())
        == ("delete_done", "success", Some("shipyard"))));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn keeping_the_repository_archives_it_and_removes_the_aws_resources(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("keeper");
    provision(&app, &browser, &name).await;
    delete_via_form(&app, &browser, &name, true).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);

    let repo = app.sim().repo("acme", &name).expect("the repository is kept");
    assert!(repo.archived, "and archived");
    assert_eq!(leftovers(&app, &name).await, Leftovers::ONLY_REPO);
    let audit = audit_of(&app, &name).await;
    assert!(audit.iter().any(|(a, _, _, detail)| a == "delete_requested" && detail.contains("archive")));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn resources_removed_out_of_band_do_not_stop_the_deletion(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("vanished");
    provision(&app, &browser, &name).await;

    let sdk = moto_sdk_config(&Default::default()).await;
    let (iam, ecr) = (aws_sdk_iam::Client::new(&sdk), aws_sdk_ecr::Client::new(&sdk));
    let arn = policy_arn(&app, &name).await;
    iam.detach_role_policy().role_name(role_name(&name)).policy_arn(&arn).send().await.unwrap();
    iam.delete_role().role_name(role_name(&name)).send().await.unwrap();
    iam.delete_policy().policy_arn(&arn).send().await.unwrap();
    ecr.delete_repository().repository_name(&name).force(true).send().await.unwrap();
    app.sim().delete_repo("acme", &name);
    assert_nothing_left(&app, &name).await;

    delete_via_form(&app, &browser, &name, false).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn deleting_a_service_that_failed_at_the_iam_role_removes_what_it_made(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    app.aws_faults.inject("CreateRole", 1, AwsFault::AccessDenied);
    let name = unique_name("norole");
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    let Leftovers { ecr, repo, .. } = leftovers(&app, &name).await;
    assert!(ecr && repo, "the ECR and GitHub repositories were made before the role failed");

    let (_, html) = page(&app, &browser, &name).await;
    assert_eq!(select(&html, "[data-testid=delete-section]").len(), 1, "a failed service offers Delete");
    delete_via_form(&app, &browser, &name, false).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    assert_nothing_left(&app, &name).await;
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn deleting_a_service_that_failed_at_the_secrets_removes_what_it_made(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    app.sim().inject_fault(
        Fault::new("/repos/*/*/actions/secrets/*", 403)
            .method("PUT")
            .body(json!({ "message": "Resource not accessible by integration" })),
    );
    let name = unique_name("nosecrets");
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    assert_eq!(leftovers(&app, &name).await, Leftovers::EVERYTHING, "everything before the secrets exists");

    app.sim().clear_faults();
    delete_via_form(&app, &browser, &name, false).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    assert_nothing_left(&app, &name).await;
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn deleting_a_service_that_failed_in_preflight_leaves_the_foreign_repository_alone(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("squatted");
    app.sim().create_repo("acme", &name);
    let foreign = app.sim().repo("acme", &name).unwrap();
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);

    delete_via_form(&app, &browser, &name, false).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    assert_eq!(app.sim().repo("acme", &name), Some(foreign), "someone else's repository is untouched");
    assert_eq!(leftovers(&app, &name).await, Leftovers::ONLY_REPO);
    assert_eq!(app.sim().request_count("DELETE", "/repos/*/*"), 0);
    assert_eq!(app.sim().request_count("PATCH", "/repos/*/*"), 0);
}

/// Someone else's ECR repository and IAM role made preflight fail: deleting the service leaves them
/// exactly as they are and still ends `deleted`, freeing the name in Shipyard.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn deleting_a_service_that_failed_in_preflight_leaves_foreign_aws_resources_alone(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("awssquat");
    create_foreign_ecr_repository(&name).await;
    let trust = create_foreign_role(&role_name(&name)).await;
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);

    delete_via_form(&app, &browser, &name, false).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    let ecr =
        app.aws.find_ecr_repository(&name).await.unwrap().expect("the foreign repository is still there");
    assert!(ecr.tags.is_empty(), "and untagged");
    let role = app.aws.get_role(&role_name(&name)).await.unwrap().expect("the foreign role is still there");
    assert_eq!(role.trust_policy, trust, "with its own trust");
}

/// The reconciler dies after k steps (in-flight calls dropped, some of them maybe half-done), the
/// person asks for deletion, and the next reconciler tears down whatever exists.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_deletion_requested_mid_provisioning_leaves_nothing_behind(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    for k in [1, 3, 6] {
        let name = unique_name(&format!("midway{k}"));
        app.create_service(&browser, &name).await;
        app.reconciler().stopping_after_steps(k).run_until_idle().await.unwrap();
        assert_eq!(app.status_of(&name).await, ServiceStatus::Provisioning, "k={k}");
        delete_via_form(&app, &browser, &name, false).await;
        assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted, "k={k}");
        assert_nothing_left(&app, &name).await;
    }
}

/// The delete request lands while a live reconciler is in the middle of the create pass: it lets
/// its running steps finish, then runs the delete pass.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_deletion_requested_while_a_reconciler_is_working_switches_it_to_deleting(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    // Slow generation keeps the create pass busy while the request comes in.
    app.sim().set_latency(Some("POST"), "/repos/*/*/generate", std::time::Duration::from_millis(800));
    let name = unique_name("racing");
    app.create_service(&browser, &name).await;
    let reconciler = app.reconciler();
    let working = tokio::spawn({
        let reconciler = reconciler.clone();
        async move { reconciler.run_until_idle().await.unwrap() }
    });
    while sqlx::query_scalar::<_, i64>(
        "select count(*) from step where step = 'github_repository' and status = 'running'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap()
        == 0
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    delete_via_form(&app, &browser, &name, false).await;
    working.await.unwrap();
    assert_eq!(app.settle(&reconciler, &name).await, ServiceStatus::Deleted);
    assert_nothing_left(&app, &name).await;
    let first_build: String = sqlx::query_scalar(
        "select step.status from step join service using (service_id) where name = $1 and step = 'first_build'",
    )
    .bind(&name)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(first_build, "pending", "no create step started after the request");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_member_may_not_delete_someone_elses_service(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("alices");
    app.create_service(&alice, &name).await;
    let before = deletion_state(&app, &name).await;

    let (_, html) = page(&app, &bob, &name).await;
    assert_eq!(select(&html, "[data-testid=delete-section] fieldset[disabled]").len(), 1, "shown disabled");
    assert!(text_of(&html, "[data-testid=delete-refusal]").contains("Only alice"), "with the reason");

    let response = submit_delete(&app, &bob, &name, &name, false).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(deletion_state(&app, &name).await, before, "nothing changes");
    let audit = audit_of(&app, &name).await;
    assert!(audit.contains(&(
        "delete_requested".into(),
        "denied".into(),
        Some("bob".into()),
        "not the creator, an organization admin or a Shipyard admin".into()
    )));
    assert!(!audit.iter().any(|(a, o, ..)| a == "delete_requested" && o == "success"));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_org_admin_may_delete_a_members_service(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let alice = app.signed_in("alice").await;
    let name = unique_name("bobs");
    app.create_service(&bob, &name).await;
    let (_, html) = page(&app, &alice, &name).await;
    assert!(select(&html, "[data-testid=delete-refusal]").is_empty());
    delete_via_form(&app, &alice, &name, false).await;
    assert_eq!(deletion_state(&app, &name).await, ("deleting".into(), "absent".into(), 4));
    let audit = audit_of(&app, &name).await;
    assert!(
        audit.iter().any(|(a, o, who, _)| a == "delete_requested"
            && o == "success"
            && who.as_deref() == Some("alice"))
    );
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_user_id_in_shipyard_admins_may_delete_any_service(db: PgPool) {
    // 2002 is bob's GitHub user id in the sandbox seed.
    let admins = vec![shipyard::config::AdminRef::Id(2002)];
    let app = TestApp::spawn_with(db, SimConfig::default(), |c| c.admins = admins).await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("anyones");
    app.create_service(&alice, &name).await;
    delete_via_form(&app, &bob, &name, false).await;
    assert_eq!(deletion_state(&app, &name).await, ("deleting".into(), "absent".into(), 4));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_forged_token_or_a_wrong_confirmation_changes_nothing(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("careful");
    app.create_service(&bob, &name).await;
    let before = deletion_state(&app, &name).await;

    let forged = bob
        .post(app.at(&format!("/services/{name}/delete")))
        .form(&[("csrf_token", "forged"), ("confirm_name", name.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(deletion_state(&app, &name).await, before);

    let typo = format!("{name}x");
    let wrong = submit_delete(&app, &bob, &name, &typo, true).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = Html::parse_document(&wrong.text().await.unwrap());
    assert!(text_of(&html, "#confirm_name-error").contains(&format!("Type the service name, {name}")));
    let typed: Vec<_> = select(&html, "#confirm_name").iter().filter_map(|e| e.attr("value")).collect();
    assert_eq!(typed, [typo.as_str()], "the typed value comes back");
    assert_eq!(select(&html, "input[name=keep_repository][checked]").len(), 1, "so does the checkbox");
    assert_eq!(deletion_state(&app, &name).await, before, "nothing changes");
    assert!(!audit_of(&app, &name).await.iter().any(|(a, ..)| a == "delete_requested"));

    delete_via_form(&app, &bob, &name, false).await;
    let again = submit_delete(&app, &bob, &name, &name, false).await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "already deleting");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_deleted_name_can_be_provisioned_again(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("phoenix");
    provision(&app, &browser, &name).await;
    delete_via_form(&app, &browser, &name, false).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);

    provision(&app, &browser, &name).await;
    let Leftovers { role, policy, ecr, repo } = leftovers(&app, &name).await;
    assert!(role && policy && ecr && repo);
    let (_, html) = page(&app, &browser, &name).await;
    assert_eq!(text_of(&html, "#service-status"), "ready", "the page shows the new service");
    let statuses: Vec<String> =
        sqlx::query_scalar("select status from service where name = $1 order by created_at")
            .bind(&name)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(statuses, ["deleted", "ready"], "the deleted row stays for the audit trail");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_failed_deletion_shows_the_step_and_error_and_retry_finishes_it(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("stubborn");
    provision(&app, &browser, &name).await;
    app.sim().inject_fault(
        Fault::new("/repos/*/*", 403)
            .method("DELETE")
            .body(json!({ "message": "Must have admin rights to Repository." })),
    );
    delete_via_form(&app, &browser, &name, false).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::DeleteFailed);
    assert_eq!(leftovers(&app, &name).await, Leftovers::ONLY_REPO, "IAM and ECR went first");

    let (_, html) = page(&app, &browser, &name).await;
    let failure = text_of(&html, "[data-testid=failure]");
    assert!(failure.contains("Must have admin rights to Repository."), "{failure}");
    assert!(
        failure.contains(
            shipyard::provision::steps::def(shipyard::domain::StepName::DeleteGithubRepository).label
        ),
        "{failure}"
    );
    assert_eq!(select(&html, "[data-testid=failure] form[action$='/retry']").len(), 1);

    app.sim().clear_faults();
    let retry = retry_via_form(&app, &browser, &name).await;
    assert_eq!(retry.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    assert_nothing_left(&app, &name).await;
}

async fn api_delete(
    app: &TestApp,
    browser: &Client,
    name: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = browser.delete(app.at(&format!("/api/v1/services/{name}")));
    if let Some(token) = token {
        request = request.header("x-csrf-token", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_api_deletes_with_the_csrf_header_and_refuses_without_it(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("scripted");
    provision(&app, &bob, &name).await;
    let before = deletion_state(&app, &name).await;

    let refused = api_delete(&app, &bob, &name, None, None).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "forbidden");
    assert_eq!(deletion_state(&app, &name).await, before);

    let token = app.csrf_token(&bob).await;
    let missing = api_delete(&app, &bob, "no-such-service", Some(&token), None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let accepted = api_delete(&app, &bob, &name, Some(&token), None).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let body: Value = accepted.json().await.unwrap();
    assert_eq!((body["name"].as_str(), body["status"].as_str()), (Some(name.as_str()), Some("deleting")));

    let twice = api_delete(&app, &bob, &name, Some(&token), None).await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    assert_eq!(twice.json::<Value>().await.unwrap()["code"], "conflict");

    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    assert_nothing_left(&app, &name).await;
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_api_keeps_the_repository_on_request_and_applies_the_same_permissions(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("apikeep");
    provision(&app, &alice, &name).await;

    let bob_token = app.csrf_token(&bob).await;
    let denied = api_delete(&app, &bob, &name, Some(&bob_token), None).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready);

    let token = app.csrf_token(&alice).await;
    let unknown = api_delete(&app, &alice, &name, Some(&token), Some(json!({"keep": true}))).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST, "an unknown field is not silently ignored");
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready);

    let accepted =
        api_delete(&app, &alice, &name, Some(&token), Some(json!({"keep_repository": true}))).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    assert!(app.sim().repo("acme", &name).expect("kept").archived);
    assert_eq!(leftovers(&app, &name).await, Leftovers::ONLY_REPO);
}
