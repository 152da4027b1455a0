//! The inventory at `GET /services`: what each row shows, the filters, the sort orders, the pages,
//! refused parameters and the empty states. Services are written straight into the database in
//! the states the reconciler would leave them; no provisioning runs.

use crate::common::app::{Member, TestApp};
use crate::common::fixtures::{attrs, page, texts, user_id};
use reqwest::StatusCode;
use scraper::Html;
use sqlx::PgPool;
use uuid::Uuid;

type Db = PgPool;

/// The names in the inventory table, top to bottom.
fn names(html: &Html) -> Vec<String> {
    texts(html, "table.inventory tbody a.service-name")
}

/// A service as the reconciler would leave it, created `minutes_ago`.
async fn add(app: &TestApp, by: Uuid, name: &str, environment: &str, status: &str, minutes_ago: i32) {
    sqlx::query(
        "insert into service (name, org, environment, visibility, template, default_branch, created_by, status,
                              created_at)
         values ($1, 'acme', $2, 'private', 'acme/service-template', 'main', $3, $4,
                 now() - make_interval(mins => $5))",
    )
    .bind(name)
    .bind(environment)
    .bind(by)
    .bind(status)
    .bind(minutes_ago)
    .execute(&app.db)
    .await
    .unwrap();
}

/// bob, signed in, and his id.
async fn app_as_bob(db: Db) -> (TestApp, Member, Uuid) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let bob = user_id(&app, "bob").await;
    (app, browser, bob)
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn each_live_service_is_a_row_with_its_link_badge_creator_and_quick_links(db: Db) {
    let (app, browser, bob) = app_as_bob(db).await;
    add(&app, bob, "payments", "prod", "ready", 30).await;
    sqlx::query(
        "update service set html_url = 'https://github.example/acme/payments',
                ecr_repository_uri = '123456789012.dkr.ecr.us-east-1.amazonaws.com/payments',
                description = 'Takes payments' where name = 'payments'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    add(&app, bob, "orders", "dev", "provisioning", 10).await;
    add(&app, bob, "delete-me", "dev", "delete_failed", 5).await;
    add(&app, bob, "gone", "dev", "deleted", 1).await;

    let (status, body) = page(&app, &browser, "/services").await;
    assert_eq!(status, StatusCode::OK);
    let html = Html::parse_document(&body);
    assert!(body.contains("Welcome, bob."));
    assert_eq!(names(&html), ["delete-me", "orders", "payments"], "newest first, the deleted one not listed");
    assert_eq!(texts(&html, "[data-testid=count]"), ["Showing 1–3 of 3 services."]);

    let row = |name: &str, part: &str| texts(&html, &format!("tr[data-service={name}] [data-part={part}]"));
    let row_attr =
        |name: &str, sel: &str, attr: &str| attrs(&html, &format!("tr[data-service={name}] {sel}"), attr);
    assert_eq!(row_attr("payments", "a.service-name", "href"), ["/services/payments"]);
    assert_eq!(row("payments", "environment"), ["prod"]);
    assert_eq!(row("payments", "status"), ["ready"]);
    assert_eq!(row_attr("payments", "[data-part=status]", "class"), ["badge ready"]);
    assert_eq!(row("delete-me", "status"), ["delete failed"]);
    assert_eq!(row_attr("delete-me", "[data-part=status]", "class"), ["badge delete_failed"]);
    assert_eq!(row("payments", "created-by"), ["bob"]);
    let avatar: String = sqlx::query_scalar("select avatar_url from app_user where login = 'bob'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(row_attr("payments", "img.avatar", "src"), [avatar]);
    assert_eq!(texts(&html, "tr[data-service=payments] .description"), ["Takes payments"]);
    let created = texts(&html, "tr[data-service=payments] time");
    assert!(created[0].ends_with(" UTC") && created[0].len() == "2026-01-01 12:00 UTC".len(), "{created:?}");

    assert_eq!(
        row_attr("payments", "[data-part=repository]", "href"),
        ["https://github.example/acme/payments"]
    );
    assert_eq!(
        row_attr("payments", "[data-part=actions]", "href"),
        ["https://github.example/acme/payments/actions"]
    );
    assert_eq!(row("payments", "ecr"), ["123456789012.dkr.ecr.us-east-1.amazonaws.com/payments"]);
    let ecr_id = row_attr("payments", "[data-part=ecr]", "id");
    assert_eq!(row_attr("payments", "button.copy", "data-copy"), ecr_id, "the copy button names the URI");
    assert!(row_attr("orders", "a", "href") == ["/services/orders"], "no quick links until they exist");
    assert_eq!(
        attrs(&html, "script", "src"),
        [shipyard::web::assets::url("shipyard.js")],
        "the copy buttons' script"
    );
    assert!(texts(&html, "[data-testid=pager]").is_empty(), "one page needs no pager");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn each_filter_narrows_the_list_and_the_form_keeps_it(db: Db) {
    let (app, browser, bob) = app_as_bob(db).await;
    add(&app, bob, "payments", "prod", "ready", 50).await;
    add(&app, bob, "payroll", "dev", "failed", 40).await;
    add(&app, bob, "repay-jobs", "prod", "provisioning", 30).await;
    add(&app, bob, "orders", "prod", "failed", 20).await;
    add(&app, bob, "pay-old", "prod", "deleted", 10).await;

    let listed = |path: &'static str| {
        let (app, browser) = (&app, &browser);
        async move {
            let (status, body) = page(app, browser, path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            names(&Html::parse_document(&body))
        }
    };
    assert_eq!(listed("/services?q=PAY").await, ["repay-jobs", "payroll", "payments"], "anywhere, any case");
    assert_eq!(listed("/services?q=pay&environment=prod").await, ["repay-jobs", "payments"]);
    assert_eq!(listed("/services?environment=prod").await, ["orders", "repay-jobs", "payments"]);
    assert_eq!(listed("/services?status=failed").await, ["orders", "payroll"]);
    assert_eq!(listed("/services?status=failed&environment=dev").await, ["payroll"]);
    assert_eq!(listed("/services?q=+pay+&status=ready&environment=prod").await, ["payments"], "trimmed");
    assert_eq!(listed("/services?q=&environment=&status=").await.len(), 4, "blank fields filter nothing");
    // LIKE's wildcards are taken literally: nobody's name contains "%" or "_".
    assert!(listed("/services?q=%25").await.is_empty());
    assert!(listed("/services?q=p_y").await.is_empty());

    let html =
        Html::parse_document(&page(&app, &browser, "/services?q=pay&environment=prod&status=ready").await.1);
    assert_eq!(attrs(&html, "#filter-q", "value"), ["pay"]);
    assert_eq!(attrs(&html, "#filter-environment option[selected]", "value"), ["prod"]);
    assert_eq!(attrs(&html, "#filter-status option[selected]", "value"), ["ready"]);
    let statuses = attrs(&html, "#filter-status option", "value");
    assert_eq!(statuses, ["", "provisioning", "ready", "drifted", "failed", "deleting", "delete_failed"]);
    assert_eq!(attrs(&html, "[data-testid=clear-filters]", "href"), ["/services"]);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn sorts_by_name_or_date_either_way_and_the_headings_switch_it(db: Db) {
    let (app, browser, bob) = app_as_bob(db).await;
    add(&app, bob, "bravo", "dev", "ready", 10).await;
    add(&app, bob, "alpha", "dev", "ready", 20).await;
    add(&app, bob, "charlie", "dev", "ready", 30).await;

    let html = |path: &'static str| {
        let (app, browser) = (&app, &browser);
        async move { Html::parse_document(&page(app, browser, path).await.1) }
    };
    let newest = html("/services").await;
    assert_eq!(names(&newest), ["bravo", "alpha", "charlie"]);
    assert_eq!(attrs(&newest, "[data-testid=sort-name]", "href"), ["/services?sort=name&dir=asc"]);
    assert_eq!(attrs(&newest, "[data-testid=sort-created]", "href"), ["/services?sort=created&dir=asc"]);
    assert_eq!(texts(&newest, "[data-testid=sort-created]"), ["Created ▼"]);

    assert_eq!(names(&html("/services?sort=created&dir=asc").await), ["charlie", "alpha", "bravo"]);
    let by_name = html("/services?sort=name").await;
    assert_eq!(names(&by_name), ["alpha", "bravo", "charlie"], "names A to Z unless told otherwise");
    assert_eq!(attrs(&by_name, "[data-testid=sort-name]", "href"), ["/services?sort=name&dir=desc"]);
    assert_eq!(names(&html("/services?sort=name&dir=desc").await), ["charlie", "bravo", "alpha"]);

    // The order survives a filter change: the form carries it along.
    let filtered = html("/services?status=ready&sort=name&dir=desc").await;
    assert_eq!(attrs(&filtered, "[data-testid=filters] input[type=hidden]", "value"), ["name", "desc"]);
    assert_eq!(
        attrs(&filtered, "[data-testid=sort-created]", "href"),
        ["/services?status=ready"],
        "back to the default order, filter kept"
    );
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn pages_of_fifty_keep_the_filters_and_number_themselves(db: Db) {
    let (app, browser, bob) = app_as_bob(db).await;
    sqlx::query(
        "insert into service (name, org, environment, visibility, template, default_branch, created_by, status)
         select 'svc-' || lpad(g::text, 3, '0'), 'acme', case when g <= 120 then 'dev' else 'prod' end, 'private',
                'acme/service-template', 'main', $1, 'ready'
         from generate_series(1, 130) g",
    )
    .bind(bob)
    .execute(&app.db)
    .await
    .unwrap();

    let first = Html::parse_document(&page(&app, &browser, "/services?environment=dev&sort=name").await.1);
    let page1 = names(&first);
    assert_eq!(page1.len(), 50);
    assert_eq!((page1[0].as_str(), page1[49].as_str()), ("svc-001", "svc-050"));
    assert_eq!(texts(&first, "[data-testid=count]"), ["Showing 1–50 of 120 services."]);
    assert_eq!(texts(&first, "[data-testid=page-of]"), ["Page 1 of 3"]);
    assert!(attrs(&first, "[data-testid=prev]", "href").is_empty());
    let next = attrs(&first, "[data-testid=next]", "href");
    assert!(next[0].starts_with("/services?environment=dev&sort=name&dir=asc&after="), "{next:?}");

    let second = Html::parse_document(&page(&app, &browser, &next[0]).await.1);
    assert_eq!(names(&second).first().map(String::as_str), Some("svc-051"));
    assert_eq!(texts(&second, "[data-testid=count]"), ["Showing 51–100 of 120 services."]);
    assert_eq!(texts(&second, "[data-testid=page-of]"), ["Page 2 of 3"]);
    let prev = attrs(&second, "[data-testid=prev]", "href");
    assert!(prev[0].starts_with("/services?environment=dev&sort=name&dir=asc&before="), "{prev:?}");
    let back = Html::parse_document(&page(&app, &browser, &prev[0]).await.1);
    assert_eq!(names(&back), page1, "previous goes back to the first page");
    assert_eq!(texts(&back, "[data-testid=count]"), ["Showing 1–50 of 120 services."]);
    assert!(attrs(&back, "[data-testid=prev]", "href").is_empty());
    let next = attrs(&second, "[data-testid=next]", "href");

    let third = Html::parse_document(&page(&app, &browser, &next[0]).await.1);
    let page3 = names(&third);
    assert_eq!((page3.len(), page3[19].as_str()), (20, "svc-120"), "prod services stay filtered out");
    assert_eq!(texts(&third, "[data-testid=count]"), ["Showing 101–120 of 120 services."]);
    assert!(attrs(&third, "[data-testid=next]", "href").is_empty());

    // Old page-number links go to the cursor page they mean: page 2 is where page 1's "next" leads.
    let response = browser.get(app.at("/services?environment=dev&sort=name&page=2")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, attrs(&first, "[data-testid=next]", "href")[0]);
    let (status, body) = page(&app, &browser, &location).await;
    assert_eq!(status, StatusCode::OK);
    let redirected = Html::parse_document(&body);
    assert_eq!(names(&redirected), names(&second));
    assert_eq!(texts(&redirected, "[data-testid=count]"), ["Showing 51–100 of 120 services."]);
    let response = browser.get(app.at("/services?environment=dev&page=3")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "newest first too");
    let (_, body) = page(&app, &browser, response.headers()["location"].to_str().unwrap()).await;
    assert_eq!(
        texts(&Html::parse_document(&body), "[data-testid=count]"),
        ["Showing 101–120 of 120 services."]
    );

    let (status, body) = page(&app, &browser, "/services?environment=dev&page=9").await;
    assert_eq!(status, StatusCode::OK);
    let past = Html::parse_document(&body);
    assert!(names(&past).is_empty());
    assert!(texts(&past, "[data-testid=no-results] h2")[0].contains("past the end"));
    assert_eq!(attrs(&past, "[data-testid=no-results] a", "href"), ["/services?environment=dev&before=end"]);
    assert_eq!(attrs(&past, "[data-testid=prev]", "href"), ["/services?environment=dev&before=end"]);
    let last = Html::parse_document(&page(&app, &browser, "/services?environment=dev&before=end").await.1);
    assert_eq!(names(&last).len(), 50, "the last page is the last fifty, counted from the end");
    assert_eq!(texts(&last, "[data-testid=count]"), ["Showing 71–120 of 120 services."]);
    assert!(attrs(&last, "[data-testid=next]", "href").is_empty());
}

/// The `href` of the pager link `which` (next or prev), if the page has one.
fn pager_link(html: &Html, which: &str) -> Option<String> {
    attrs(html, &format!("[data-testid={which}]"), "href").into_iter().next()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn cursor_pages_show_every_service_once_while_services_are_added(db: Db) {
    let (app, browser, bob) = app_as_bob(db).await;
    // 130 services in ten groups created at the same instant: ties that only service_id orders.
    sqlx::query(
        "insert into service (name, org, environment, visibility, template, default_branch, created_by, status,
                              created_at)
         select 'svc-' || lpad(g::text, 3, '0'), 'acme', 'dev', 'private', 'acme/service-template', 'main', $1,
                'ready', now() - make_interval(mins => g % 10)
         from generate_series(1, 130) g",
    )
    .bind(bob)
    .execute(&app.db)
    .await
    .unwrap();
    let existing: Vec<String> =
        sqlx::query_scalar("select name from service order by name").fetch_all(&app.db).await.unwrap();

    let mut added = 0;
    for order in ["", "?sort=created&dir=asc", "?sort=name&dir=asc", "?sort=name&dir=desc"] {
        // Forwards by the next links, then back by the prev links, adding services between fetches
        // that sort before, among and after the ones already seen.
        let end = format!("/services{order}{}before=end", if order.is_empty() { "?" } else { "&" });
        for (mut url, link) in [(format!("/services{order}"), "next"), (end, "prev")] {
            let mut seen = vec![];
            loop {
                let (status, body) = page(&app, &browser, &url).await;
                assert_eq!(status, StatusCode::OK, "{url}");
                let html = Html::parse_document(&body);
                let shown = names(&html);
                assert!(!shown.is_empty() && shown.len() <= 50, "{url}: {shown:?}");
                if link == "next" {
                    seen.extend(shown);
                } else {
                    seen.splice(0..0, shown);
                }
                for name in [format!("aaa-{added}"), format!("svc-065-{added}"), format!("zzz-{added}")] {
                    let minutes = [-5, 5, 20][added % 3];
                    add(&app, bob, &name, "dev", "ready", minutes).await;
                    added += 1;
                }
                match pager_link(&html, link) {
                    Some(next) => url = next,
                    None => break,
                }
            }
            let mut unique = seen.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), seen.len(), "{order} {link}: a service is shown twice: {seen:?}");
            let missing: Vec<&String> = existing.iter().filter(|name| !seen.contains(name)).collect();
            assert!(missing.is_empty(), "{order} {link}: skipped {missing:?}");
        }
    }
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_count_from_a_moment_ago_never_contradicts_the_page_it_is_on(db: Db) {
    let (app, browser, bob) = app_as_bob(db).await;
    for g in 1..=60 {
        add(&app, bob, &format!("svc-{g:03}"), "dev", "ready", 120 - g).await;
    }
    let oldest_first = "/services?sort=created&dir=asc";
    let first = Html::parse_document(&page(&app, &browser, oldest_first).await.1);
    assert_eq!(texts(&first, "[data-testid=count]"), ["Showing 1–50 of 60 services."]);
    // Five newer services land at the end of this order, on the page after.
    for g in 61..=65 {
        add(&app, bob, &format!("svc-{g:03}"), "dev", "ready", 0).await;
    }
    let second = Html::parse_document(&page(&app, &browser, &pager_link(&first, "next").unwrap()).await.1);
    assert_eq!(names(&second).len(), 15);
    assert_eq!(texts(&second, "[data-testid=count]"), ["Showing 51–65 of 65 services."]);
    assert_eq!(texts(&second, "[data-testid=page-of]"), ["Page 2 of 2"]);
    let last = Html::parse_document(&page(&app, &browser, &format!("{oldest_first}&before=end")).await.1);
    assert_eq!(texts(&last, "[data-testid=count]"), ["Showing 16–65 of 65 services."]);

    // And thirteen deleted: the page after the first now ends the list, and says how long it is.
    sqlx::query("update service set status = 'deleted', deleted_at = now() where name > 'svc-052'")
        .execute(&app.db)
        .await
        .unwrap();
    let second = Html::parse_document(&page(&app, &browser, &pager_link(&first, "next").unwrap()).await.1);
    assert_eq!(names(&second), ["svc-051", "svc-052"]);
    assert_eq!(texts(&second, "[data-testid=count]"), ["Showing 51–52 of 52 services."]);
    assert_eq!(texts(&second, "[data-testid=page-of]"), ["Page 2 of 2"]);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn past_a_thousand_matches_the_count_stops_and_says_so(db: Db) {
    let (app, browser, bob) = app_as_bob(db).await;
    sqlx::query(
        "insert into service (name, org, environment, visibility, template, default_branch, created_by, status)
         select 'svc-' || lpad(g::text, 4, '0'), 'acme', 'dev', 'private', 'acme/service-template', 'main', $1,
                'ready'
         from generate_series(1, 1200) g",
    )
    .bind(bob)
    .execute(&app.db)
    .await
    .unwrap();
    let first = Html::parse_document(&page(&app, &browser, "/services?sort=name").await.1);
    assert_eq!(texts(&first, "[data-testid=count]"), ["Showing 1–50 of 1,000+ services."]);
    assert_eq!(texts(&first, "[data-testid=page-of]"), ["Page 1"]);
    let second = Html::parse_document(&page(&app, &browser, &pager_link(&first, "next").unwrap()).await.1);
    assert_eq!(texts(&second, "[data-testid=count]"), ["Showing 51–100 of 1,000+ services."]);
    let filtered = Html::parse_document(&page(&app, &browser, "/services?q=svc-11").await.1);
    assert_eq!(
        texts(&filtered, "[data-testid=count]"),
        ["Showing 1–50 of 100 services."],
        "svc-1100 to svc-1199"
    );
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_cursor_the_page_did_not_make_is_a_400_that_names_it(db: Db) {
    let (app, browser, bob) = app_as_bob(db).await;
    add(&app, bob, "payments", "dev", "ready", 1).await;
    add(&app, bob, "orders", "dev", "ready", 2).await;
    // A cursor like the name order's links carry: it works there and is refused in the other order.
    let orders: Uuid = sqlx::query_scalar("select service_id from service where name = 'orders'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let cursor = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        format!("n.1.{orders}.orders"),
    );
    let (status, body) = page(&app, &browser, &format!("/services?sort=name&after={cursor}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names(&Html::parse_document(&body)), ["payments"], "the rows after orders by name");
    let cases = [
        ("/services?after=garbage".to_owned(), "The cursor (after) is not a cursor this inventory made"),
        ("/services?before=bm9wZQ".to_owned(), "The cursor (before) is not a cursor this inventory made"),
        (format!("/services?after={cursor}"), "The cursor (after) belongs to the other sort order"),
        (format!("/services?page=2&after={cursor}"), "Use only one of page, after and before."),
    ];
    for (path, message) in cases {
        let (status, body) = page(&app, &browser, &path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(body.contains(message), "{path}: {body}");
    }
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn parameters_it_cannot_honour_are_a_400_that_names_them(db: Db) {
    let (app, browser, _) = app_as_bob(db).await;
    let long = format!("/services?q={}", "a".repeat(101));
    let cases: [(&str, &str); 9] = [
        ("/services?status=archived", "Unknown status “archived”"),
        ("/services?status=deleted", "Deleted services are not listed"),
        ("/services?page=0", "Page “0” is not a page number"),
        ("/services?page=two", "Page “two” is not a page number"),
        ("/services?page=-1", "Page “-1” is not a page number"),
        ("/services?sort=size", "Unknown sort “size”"),
        ("/services?dir=up", "Unknown direction (dir) “up”"),
        ("/services?environment=qa", "Unknown environment “qa”: choose one of dev, staging, prod."),
        (&long, "The search text (q) is too long"),
    ];
    for (path, message) in cases {
        let (status, body) = page(&app, &browser, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(body.contains(message), "{path}: {body}");
    }
    let (status, body) = page(&app, &browser, "/services?status=gone&page=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("status “gone”") && body.contains("Page “0”"), "both are named at once: {body}");
    let (status, body) = page(&app, &browser, "/services?status=%3Cb%3Ex").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("“&#60;b&#62;x”") && !body.contains("<b>x"), "echoed escaped: {body}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_empty_inventory_explains_shipyard_and_offers_the_form(db: Db) {
    let (app, browser, bob) = app_as_bob(db).await;
    add(&app, bob, "gone", "dev", "deleted", 1).await;
    let (status, body) = page(&app, &browser, "/services").await;
    assert_eq!(status, StatusCode::OK);
    let html = Html::parse_document(&body);
    assert_eq!(texts(&html, "[data-testid=empty-inventory] h2"), ["No services yet"]);
    assert!(texts(&html, "[data-testid=empty-inventory] p")[0].contains("an ECR repository, an IAM role"));
    assert_eq!(attrs(&html, "[data-testid=empty-inventory] a", "href"), ["/services/new"]);
    assert!(texts(&html, "table").is_empty() && texts(&html, "[data-testid=filters]").is_empty());
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_filter_that_matches_nothing_says_so_and_offers_to_clear_it(db: Db) {
    let (app, browser, bob) = app_as_bob(db).await;
    add(&app, bob, "payments", "dev", "ready", 1).await;
    let (status, body) = page(&app, &browser, "/services?q=zebra&status=failed").await;
    assert_eq!(status, StatusCode::OK);
    let html = Html::parse_document(&body);
    assert_eq!(texts(&html, "[data-testid=no-results] h2"), ["No services match these filters"]);
    assert_eq!(attrs(&html, "[data-testid=no-results] a", "href"), ["/services"]);
    assert_eq!(attrs(&html, "[data-testid=clear-filters]", "href"), ["/services"]);
    assert_eq!(attrs(&html, "#filter-q", "value"), ["zebra"], "the filter can be corrected in place");
    assert!(texts(&html, "[data-testid=empty-inventory]").is_empty(), "not the first-run text");
    assert!(texts(&html, "table").is_empty());
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn descriptions_logins_and_urls_are_shown_as_text(db: Db) {
    let (app, browser, _) = app_as_bob(db).await;
    let eve: Uuid = sqlx::query_scalar(
        "insert into app_user (github_id, login, avatar_url)
         values (666, '<img src=x onerror=alert(1)>', 'javascript:alert(2)') returning user_id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    add(&app, eve, "payments", "dev", "ready", 1).await;
    sqlx::query(
        "update service set description = '<script>alert(3)</script> & more',
                html_url = 'javascript:alert(4)', ecr_repository_uri = '\"><script>alert(5)</script>'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let (status, body) = page(&app, &browser, "/services").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("<script>alert") && !body.contains("<img src=x"), "{body}");
    assert!(body.contains("&#60;script&#62;alert(3)&#60;/script&#62; &#38; more"), "{body}");
    let html = Html::parse_document(&body);
    assert_eq!(texts(&html, "[data-part=created-by]"), ["<img src=x onerror=alert(1)>"]);
    assert_eq!(texts(&html, "[data-part=ecr]"), ["\"><script>alert(5)</script>"]);
    assert_eq!(attrs(&html, "script", "src"), [shipyard::web::assets::url("shipyard.js")]);
    assert!(attrs(&html, "a", "href").iter().all(|href| !href.starts_with("javascript:")), "{body}");
    assert!(
        texts(&html, "[data-part=repository]").is_empty() && texts(&html, "[data-part=actions]").is_empty()
    );
}
