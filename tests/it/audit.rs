//! The audit trail: the `/audit` page and its filters, a service's recent events on its page, and
//! the database refusing to change or remove what was recorded.

use crate::common::app::{Member, TestApp};
use crate::common::fixtures::{attrs, create_service_via_api, page, service_id, texts};
use reqwest::StatusCode;
use scraper::{Html, Selector};
use sqlx::PgPool;
use uuid::Uuid;

type Db = PgPool;

/// Records an event the way the handlers do (service id optional), `minutes_ago`.
async fn record(
    app: &TestApp,
    actor: Option<&str>,
    action: &str,
    service: Option<(&str, Uuid)>,
    outcome: &str,
    detail: &str,
    minutes_ago: i32,
) {
    sqlx::query(
        "insert into audit_event (at, actor_login, action, service_name, service_id, outcome, detail)
         values (now() - make_interval(mins => $1), $2, $3, $4, $5, $6, $7)",
    )
    .bind(minutes_ago)
    .bind(actor)
    .bind(action)
    .bind(service.map(|(name, _)| name))
    .bind(service.map(|(_, id)| id))
    .bind(outcome)
    .bind(detail)
    .execute(&app.db)
    .await
    .unwrap();
}

/// One row per event in the audit table: (actor, action, service, outcome, detail).
fn rows(html: &Html) -> Vec<[String; 5]> {
    let row = Selector::parse("table.audit tbody tr").unwrap();
    let part = |tr: scraper::ElementRef, name: &str| {
        let sel = Selector::parse(&format!("[data-part={name}]")).unwrap();
        tr.select(&sel).map(|e| e.text().collect::<String>().trim().to_owned()).next().unwrap_or_default()
    };
    html.select(&row)
        .map(|tr| ["actor", "action", "service", "outcome", "detail"].map(|name| part(tr, name)))
        .collect()
}

fn row(actor: &str, action: &str, service: &str, outcome: &str, detail: &str) -> [String; 5] {
    [actor, action, service, outcome, detail].map(str::to_owned)
}

/// bob signed in, with a trail: events for payments and orders by bob and alice, oldest first.
async fn app_with_trail(db: Db) -> (TestApp, Member) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let (payments, orders) = (Some(("payments", Uuid::new_v4())), Some(("orders", Uuid::new_v4())));
    record(&app, Some("bob"), "create", payments, "success", "dev from acme/service-template", 50).await;
    record(&app, Some("alice"), "retry", payments, "failure", "from <github_repository>", 40).await;
    record(&app, Some("alice"), "create", orders, "success", "prod", 30).await;
    record(&app, None, "step_failed", orders, "denied", "IAM said no", 20).await;
    (app, browser)
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_trail_lists_events_newest_first_with_every_column(db: Db) {
    let (app, browser) = app_with_trail(db).await;
    let (status, body) = page(&app, &browser, "/audit").await;
    assert_eq!(status, StatusCode::OK);
    let html = Html::parse_document(&body);
    let listed = rows(&html);
    // Signing in is recorded too (as `login`); it is the newest event.
    assert_eq!(listed[0][..2], ["bob".to_owned(), "login".to_owned()], "{listed:?}");
    assert_eq!(
        listed[1..],
        [
            row("system", "step_failed", "orders", "denied", "IAM said no"),
            row("alice", "create", "orders", "success", "prod"),
            row("alice", "retry", "payments", "failure", "from <github_repository>"),
            row("bob", "create", "payments", "success", "dev from acme/service-template"),
        ]
    );
    assert!(body.contains("from &#60;github_repository&#62;"), "details are escaped");
    let times = texts(&html, "[data-part=at]");
    assert!(
        times.iter().all(|t| t.ends_with(" UTC") && t.len() == "2026-01-01 12:00:00 UTC".len()),
        "{times:?}"
    );
    let hrefs = attrs(&html, "[data-part=service] a", "href");
    assert_eq!(hrefs, ["/services/orders", "/services/orders", "/services/payments", "/services/payments"]);
    assert_eq!(attrs(&html, "[data-part=outcome]", "class")[1], "badge denied");
    assert_eq!(attrs(&html, "[data-part=actor] a", "href")[1], "/audit?actor=alice");
    assert!(texts(&html, "[data-testid=truncated]").is_empty());
    // The nav's link leads here.
    assert!(attrs(&html, "nav.nav a", "href").contains(&"/audit".to_owned()));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn filters_by_service_and_actor(db: Db) {
    let (app, browser) = app_with_trail(db).await;
    let listed = |path: &'static str| {
        let (app, browser) = (&app, &browser);
        async move {
            let (status, body) = page(app, browser, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            rows(&Html::parse_document(&body))
                .into_iter()
                .map(|r| format!("{} {}", r[0], r[1]))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("/audit?service=payments").await, ["alice retry", "bob create"]);
    assert_eq!(listed("/audit?actor=alice").await, ["alice create", "alice retry"]);
    assert_eq!(listed("/audit?service=payments&actor=alice").await, ["alice retry"]);
    assert_eq!(listed("/audit?service=+orders+&actor=").await, ["system step_failed", "alice create"]);

    let (_, body) = page(&app, &browser, "/audit?service=payments&actor=mallory").await;
    let html = Html::parse_document(&body);
    assert!(rows(&html).is_empty());
    assert!(texts(&html, "[data-testid=no-events]")[0].contains("No events match these filters."));
    assert_eq!(attrs(&html, "[data-testid=clear-filters]", "href"), ["/audit"]);
    assert_eq!(attrs(&html, "#filter-service", "value"), ["payments"]);
    assert_eq!(attrs(&html, "#filter-actor", "value"), ["mallory"]);

    let (status, body) = page(&app, &browser, &format!("/audit?actor={}", "x".repeat(101))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("The actor filter is too long"), "{body}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_long_trail_shows_the_newest_200_and_says_so(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    sqlx::query(
        "insert into audit_event (at, actor_login, action, service_name, detail)
         select now() - make_interval(mins => 300 - g), 'bob', 'create', 'svc-' || g, '' from generate_series(1, 250) g",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let html = Html::parse_document(&page(&app, &browser, "/audit?actor=bob").await.1);
    let listed = rows(&html);
    assert_eq!(listed.len(), 200);
    assert_eq!(listed[0][1], "login");
    assert_eq!((listed[1][2].as_str(), listed[199][2].as_str()), ("svc-250", "svc-52"));
    assert!(texts(&html, "[data-testid=truncated]")[0].contains("Showing the newest 200 events."));
    let html = Html::parse_document(&page(&app, &browser, "/audit?service=svc-7").await.1);
    assert_eq!(rows(&html).len(), 1, "a filter reaches the older ones");
    assert!(texts(&html, "[data-testid=truncated]").is_empty());
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_service_page_shows_its_last_ten_events(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    create_service_via_api(&app, &browser, "payments").await;
    let id = service_id(&app, "payments").await;

    let html = Html::parse_document(&page(&app, &browser, "/services/payments").await.1);
    let events = |html: &Html| texts(html, "[data-testid=service-events] [data-part=action]");
    let details = |html: &Html| texts(html, "[data-testid=service-events] [data-part=detail]");
    assert_eq!(events(&html), ["create"], "the create itself was recorded");
    assert_eq!(texts(&html, "[data-testid=service-events] [data-part=actor]"), ["bob"]);

    for n in 1..=12 {
        let detail = format!("step-{n:02}");
        record(&app, Some("alice"), "step_failed", Some(("payments", id)), "success", &detail, 0).await;
    }
    // An earlier, deleted service of the same name is another service: its events stay off this page.
    record(&app, Some("alice"), "retry", Some(("payments", Uuid::new_v4())), "success", "old", 0).await;
    record(&app, Some("alice"), "retry", Some(("orders", Uuid::new_v4())), "success", "other", 0).await;

    let html = Html::parse_document(&page(&app, &browser, "/services/payments").await.1);
    let expected: Vec<String> = (3..=12).rev().map(|n| format!("step-{n:02}")).collect();
    assert_eq!(details(&html), expected, "the newest ten, newest first");
    assert_eq!(attrs(&html, "[data-testid=all-events]", "href"), ["/audit?service=payments"]);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_database_refuses_to_change_or_remove_audit_events(db: Db) {
    let app = TestApp::spawn(db).await;
    record(&app, Some("bob"), "create", None, "success", "as it happened", 0).await;
    for sql in [
        "update audit_event set detail = 'rewritten'",
        "update audit_event set outcome = 'failure' where action = 'create'",
        "delete from audit_event",
        "truncate audit_event",
    ] {
        let error = sqlx::query(sql).execute(&app.db).await.expect_err(sql);
        assert!(error.to_string().contains("audit_event is append-only"), "{sql}: {error}");
    }
    let left: Vec<(String, String)> =
        sqlx::query_as("select detail, outcome from audit_event").fetch_all(&app.db).await.unwrap();
    assert_eq!(left, [("as it happened".to_owned(), "success".to_owned())]);
}
