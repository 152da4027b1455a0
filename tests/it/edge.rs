//! The server edge, against the real server on a real socket: request ids, the header-read timeout,
//! TCP_NODELAY on keep-alive connections, cached static files, the body limit, the logout cookie on
//! https, the deadline on bearer checks, and the per-address limit on unauthenticated work.

use std::time::{Duration, Instant};

use axum_extra::extract::cookie::Cookie;
use github_sim::{Fault, SimConfig};
use reqwest::{Client, StatusCode, header, redirect::Policy};
use sqlx::PgPool;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::common::app::{TestApp, csrf_in, location};

type Db = PgPool;

const BOB: &str = "ghp_sandbox_bob";

fn plain_client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = plain_client().get(app.at("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or(0.0)
}

async fn audit_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from audit_event").fetch_one(&app.db).await.unwrap()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_short_plain_request_id_is_kept_and_anything_else_replaced(db: Db) {
    let app = TestApp::spawn(db).await;
    let id_for = async |sent: &str| {
        let response =
            plain_client().get(app.at("/healthz")).header("x-request-id", sent).send().await.unwrap();
        response.headers()["x-request-id"].to_str().unwrap().to_owned()
    };
    assert_eq!(id_for("deploy-1234.retry_2").await, "deploy-1234.retry_2");
    for unsafe_id in ["a".repeat(65), "<b>hi</b>".into(), "id with spaces".into()] {
        let answered = id_for(&unsafe_id).await;
        assert_ne!(answered, unsafe_id);
        assert!(uuid::Uuid::parse_str(&answered).is_ok(), "{answered} is a generated UUID");
    }
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn anonymous_bad_callbacks_are_counted_not_audited(db: Db) {
    let app = TestApp::spawn(db).await;
    let series = r#"shipyard_sign_in_refusals_total{reason="expired"}"#;
    let before = metric(&app, series).await;
    for path in ["/auth/callback", "/auth/callback?state=forged&code=x", "/auth/callback?error=access_denied"]
    {
        for _ in 0..3 {
            let response =
                plain_client().get(app.at(path)).header("x-request-id", "a".repeat(60)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        }
    }
    assert_eq!(audit_rows(&app).await, 0, "no audit row for an anonymous refusal");
    // The recorder is shared by every test in this process: others may count too, never fewer.
    assert!(metric(&app, series).await - before >= 9.0);

    // A refused GitHub identity and a signed-in sign-out are still recorded.
    app.sign_in(&app.browser(), "mallory").await;
    let bob = app.signed_in("bob").await;
    let token = app.csrf_token(&bob).await;
    bob.post(app.at("/logout")).form(&[("csrf_token", token)]).send().await.unwrap();
    let actions: Vec<(String, String)> =
        app.audit_actions().await.into_iter().map(|(action, outcome, _)| (action, outcome)).collect();
    let expected = [("login", "denied"), ("login", "success"), ("logout", "success")];
    assert_eq!(actions, expected.map(|(a, o)| (a.to_owned(), o.to_owned())));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_client_that_never_finishes_its_headers_is_cut_off(db: Db) {
    let app = TestApp::spawn_with(db, SimConfig::default(), |config| {
        config.edge.header_read_timeout = Duration::from_millis(500);
    })
    .await;
    let address = app.url.trim_start_matches("http://").to_owned();

    for partial in ["GET /healthz HTTP/1.1\r\nHost: shipyard\r\nX-Slow: aaa", ""] {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream.write_all(partial.as_bytes()).await.unwrap();
        let started = Instant::now();
        let mut buffer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buffer)).await;
        let elapsed = started.elapsed();
        assert!(read.is_ok(), "the server still holds a connection that sent {partial:?} after 5 s");
        assert!(elapsed >= Duration::from_millis(400), "cut off by the timeout, not at once: {elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }

    // A client that sends its request in time is served as usual.
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let (status, _, body) = exchange(&mut stream, "/healthz").await;
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));
}

/// One request on an open keep-alive connection; returns the status, the head and the body.
async fn exchange(stream: &mut TcpStream, path: &str) -> (u16, String, Vec<u8>) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: shipyard\r\nAccept: */*\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection closed mid-response");
        received.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(received[..head_end].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
        })
        .expect("a Content-Length (this helper reads no chunked bodies)");
    while received.len() < head_end + length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection closed mid-body");
        received.extend_from_slice(&chunk[..n]);
    }
    let status = head[9..12].parse().unwrap();
    (status, head, received[head_end..head_end + length].to_vec())
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn responses_on_a_keep_alive_connection_do_not_wait_for_delayed_acks(db: Db) {
    let app = TestApp::spawn(db).await;
    let stylesheet = shipyard::web::assets::url("shipyard.css");
    let mut stream = TcpStream::connect(app.url.trim_start_matches("http://")).await.unwrap();
    // Our side sends each request in one segment at once; only the server's side is under test.
    stream.set_nodelay(true).unwrap();
    exchange(&mut stream, "/").await;

    let mut times = Vec::new();
    for round in 0..6 {
        for path in [stylesheet.as_str(), "/"] {
            let started = Instant::now();
            let (status, _, _) = exchange(&mut stream, path).await;
            times.push(started.elapsed());
            assert_eq!(status, 200, "round {round}: {path}");
        }
    }
    // A response whose head and body leave in separate writes waits ~40 ms for the client's delayed
    // ACK under Nagle (static files streamed from disk did, on every response after the first). The
    // median is robust to a scheduler hiccup on a busy machine. TCP_NODELAY itself is pinned by the
    // streamed test below: these responses now leave in one write either way.
    times.sort();
    let median = times[times.len() / 2];
    assert!(median < Duration::from_millis(20), "median {median:?} of {times:?}");
}

/// A body that arrives in two parts after its head, as a streamed (file, proxy) body does.
async fn two_part_body() -> axum::response::Response {
    use futures::StreamExt;
    let parts = futures::stream::iter([&b"first "[..], &b"second"[..]]).then(async |part| {
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok::<_, std::convert::Infallible>(bytes::Bytes::from_static(part))
    });
    let mut response = axum::response::Response::new(axum::body::Body::from_stream(parts));
    response.headers_mut().insert(header::CONTENT_LENGTH, 12.into());
    response
}

#[tokio::test]
async fn streamed_responses_on_a_keep_alive_connection_are_not_held_back_by_nagle() {
    // The production server with a stand-in app whose one route streams; Shipyard's own routes
    // answer from memory in one write, so only a streamed body shows what TCP_NODELAY is for.
    let app = axum::Router::new().route("/two-part", axum::routing::get(two_part_body));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(shipyard::web::serve::serve(listener, app, Default::default(), stop.clone()));

    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut times = Vec::new();
    for _ in 0..8 {
        let started = Instant::now();
        let (status, _, body) = exchange(&mut stream, "/two-part").await;
        times.push(started.elapsed());
        assert_eq!((status, body.as_slice()), (200, b"first second".as_slice()));
    }
    // Each part after the first waits ~40 ms for the client's delayed ACK under Nagle; without it a
    // response takes the handler's 4 ms plus a little.
    times.sort();
    let median = times[times.len() / 2];
    assert!(median < Duration::from_millis(20), "median {median:?} of {times:?}");

    // Stopping the server ends its accept loop; the open keep-alive connection is closed gracefully.
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("serve returns").unwrap().unwrap();
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn static_files_are_linked_by_content_hash_and_cached_for_a_year(db: Db) {
    let app = TestApp::spawn(db).await;
    let client = plain_client();
    let landing = client.get(app.at("/")).send().await.unwrap().text().await.unwrap();
    let html = scraper::Html::parse_document(&landing);
    let links = crate::common::fixtures::attrs(&html, "link", "href");
    let css = links.iter().find(|href| href.ends_with(".css")).expect("a stylesheet link").clone();
    let hash = css.strip_prefix("/static/shipyard.").and_then(|rest| rest.strip_suffix(".css")).unwrap();
    assert!(hash.len() >= 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{css}");
    assert!(
        links.iter().any(|href| href.starts_with("/static/favicon.") && href.ends_with(".svg")),
        "{links:?}"
    );

    let response = client.get(app.at(&css)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/css"));
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let body = response.bytes().await.unwrap();
    assert_eq!(body.as_ref(), std::fs::read("static/shipyard.css").unwrap(), "the file as it is in static/");

    let revalidated = client.get(app.at(&css)).header(header::IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.headers()[header::ETAG], etag.as_str());
    assert!(revalidated.bytes().await.unwrap().is_empty());

    // The old unhashed path still answers, but is revalidated before each use.
    let plain = client.get(app.at("/static/shipyard.css")).send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(plain.headers()[header::CACHE_CONTROL], "no-cache");
    assert_eq!(plain.headers()[header::ETAG], etag.as_str());
    let plain =
        client.get(app.at("/static/shipyard.css")).header(header::IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::NOT_MODIFIED);

    for missing in ["/static/nothing.css", "/static/shipyard.0000000000.css", "/static/../Cargo.toml"] {
        assert_eq!(
            client.get(app.at(missing)).send().await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_oversized_body_is_refused_before_anything_reads_it(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let token = app.csrf_token(&browser).await;
    let huge = format!("csrf_token={token}&name=big&description={}", "x".repeat(100 * 1024));
    let response = browser
        .post(app.at("/services"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let services: i64 = sqlx::query_scalar("select count(*) from service").fetch_one(&app.db).await.unwrap();
    assert_eq!(services, 0);
}

/// The `Set-Cookie` values of a response, parsed.
fn set_cookies(response: &reqwest::Response) -> Vec<Cookie<'static>> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| Cookie::parse(v.to_str().unwrap().to_owned()).unwrap())
        .collect()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn signing_out_on_https_clears_the_host_cookie(db: Db) {
    // Shipyard behind TLS: browsers reach it at https://..., the test reaches the same server on its port.
    const PUBLIC: &str = "https://shipyard.example.test";
    let mut sim = SimConfig::default();
    sim.seed.oauth_apps[0].callback_urls.push(format!("{PUBLIC}/auth/callback"));
    let app = TestApp::spawn_with(db, sim, |config| config.public_url = PUBLIC.parse().unwrap()).await;
    let client = plain_client();
    // The cookie jar is kept by hand: a client's store would not send Secure cookies over plain http.
    let header_of = |cookie: &Cookie| format!("{}={}", cookie.name(), cookie.value());

    let login = client.get(app.at("/login")).send().await.unwrap();
    let oauth_cookie = set_cookies(&login).pop().expect("the sign-in cookie");
    assert_eq!(oauth_cookie.secure(), Some(true));
    let approved = client.get(format!("{}&login=bob", location(&login))).send().await.unwrap();
    let callback = location(&approved).replace(PUBLIC, &app.url);
    let signed_in =
        client.get(callback).header(header::COOKIE, header_of(&oauth_cookie)).send().await.unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let session = set_cookies(&signed_in)
        .into_iter()
        .find(|c| c.name() == "__Host-shipyard_session")
        .expect("the __Host- session cookie");
    assert_eq!((session.secure(), session.path()), (Some(true), Some("/")));

    let page =
        client.get(app.at("/services")).header(header::COOKIE, header_of(&session)).send().await.unwrap();
    let token = csrf_in(&page.text().await.unwrap()).expect("a signed-in page");
    let logout = client
        .post(app.at("/logout"))
        .header(header::COOKIE, header_of(&session))
        .form(&[("csrf_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    let removal = set_cookies(&logout)
        .into_iter()
        .find(|c| c.name() == "__Host-shipyard_session")
        .expect("a Set-Cookie that clears the session cookie");
    assert_eq!(removal.value(), "");
    assert_eq!(removal.secure(), Some(true), "browsers ignore a __Host- cookie without Secure");
    assert_eq!(removal.path(), Some("/"));
    assert_eq!(removal.max_age(), Some(time::Duration::ZERO));
    let expires = removal.expires_datetime().expect("an Expires date");
    assert!(expires < time::OffsetDateTime::now_utc(), "{expires}");

    let after =
        client.get(app.at("/services")).header(header::COOKIE, header_of(&session)).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "the session ended server-side too");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_github_outage_answers_503_within_the_check_deadline(db: Db) {
    // Production's retry policy (the tests' default is a fast one), so the deadline is what cuts in.
    let app = TestApp::spawn_with(db, SimConfig::default(), |config| {
        config.retry = shipyard::provider::RetryPolicy::default();
    })
    .await;
    let deadline = shipyard::web::bearer::CHECK_DEADLINE;
    let api = |token: &'static str| plain_client().get(app.at("/api/v1/services")).bearer_auth(token).send();

    // GitHub failing fast (5xx on every call) and GitHub hanging (no answer for a minute).
    app.sim().inject_fault(Fault::new("/user", 503));
    let started = Instant::now();
    let response = api(BOB).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "github_unavailable", "{body}");
    assert!(elapsed < deadline + Duration::from_secs(2), "{elapsed:?}");
    app.sim().clear_faults();

    app.sim().set_latency(None, "/user", Duration::from_secs(60));
    let started = Instant::now();
    let response = api("ghp_sandbox_alice").await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(elapsed < deadline + Duration::from_secs(2), "{elapsed:?}");
    app.sim().clear_latency();

    // Nothing was remembered: once GitHub answers, so do we.
    assert_eq!(api(BOB).await.unwrap().status(), StatusCode::OK);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_burst_of_unauthenticated_work_from_one_address_gets_429(db: Db) {
    let app = TestApp::spawn_with(db, SimConfig::default(), |config| {
        config.edge.unauthenticated_burst = 4.try_into().unwrap();
        config.edge.unauthenticated_per_minute = 1.try_into().unwrap();
    })
    .await;
    let attempts = async || -> i64 {
        sqlx::query_scalar("select count(*) from oauth_attempt").fetch_one(&app.db).await.unwrap()
    };
    let user_calls = || app.sim().request_count("GET", "/user");
    let api = |token: &str| plain_client().get(app.at("/api/v1/services")).bearer_auth(token).send();

    // Budget: 4. A script's token (checked once, then remembered) spends 1, a browser sign-in 2
    // (its start and its callback); the session it starts is known, so its pages spend nothing.
    assert_eq!(api(BOB).await.unwrap().status(), StatusCode::OK);
    let browser = app.signed_in("bob").await;

    // A burst of sign-in starts: the one left in the budget, then 429s that insert nothing.
    let burst = plain_client();
    assert_eq!(burst.get(app.at("/login")).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    for _ in 0..5 {
        let refused = burst.get(app.at("/login")).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = refused.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after), "Retry-After: {retry_after}");
        assert!(refused.text().await.unwrap().contains("Too many"), "an error page that says why");
    }
    assert_eq!(attempts().await, 1, "only the admitted sign-in start left a row");

    // Unknown bearer tokens are refused before GitHub is asked about them.
    let calls = user_calls();
    for n in 0..3 {
        let refused = api(&format!("ghp_made_up_{n}")).await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key(header::RETRY_AFTER));
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["code"], "too_many_requests", "{body}");
    }
    assert_eq!(user_calls(), calls, "no GitHub call for a rate-limited token");

    // What is already signed in or verified is not limited.
    for _ in 0..10 {
        assert_eq!(browser.get(app.at("/services")).send().await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(api(BOB).await.unwrap().status(), StatusCode::OK, "a remembered token is free");

    // Callbacks and made-up session cookies are refused before they cost a query.
    let refused = plain_client().get(app.at("/auth/callback?state=forged&code=x")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let forged = plain_client()
        .get(app.at("/services"))
        .header(header::COOKIE, "shipyard_session=made-up-cookie-value")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn behind_a_proxy_each_forwarded_client_has_its_own_budget(db: Db) {
    let app = TestApp::spawn_with(db, SimConfig::default(), |config| {
        config.edge.unauthenticated_burst = 2.try_into().unwrap();
        config.edge.unauthenticated_per_minute = 1.try_into().unwrap();
        config.client_ip_header = Some(header::HeaderName::from_static("x-forwarded-for"));
    })
    .await;
    // The proxy appends the address it saw; what the client sent before that is not believed.
    let login_from = async |forwarded: &str| {
        let response = plain_client().get(app.at("/login")).header("x-forwarded-for", forwarded).send().await;
        response.unwrap().status()
    };
    assert_eq!(login_from("203.0.113.1").await, StatusCode::SEE_OTHER);
    assert_eq!(login_from("198.51.100.7, 203.0.113.1").await, StatusCode::SEE_OTHER);
    assert_eq!(login_from("198.51.100.8, 203.0.113.1").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login_from("203.0.113.2").await, StatusCode::SEE_OTHER, "another client behind the proxy");
}

/// hyper starts the header-read timer whenever it waits for a request head, between requests too:
/// the timeout is also the keep-alive idle timeout (README "The HTTP edge" says what that means
/// behind a proxy).
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout(db: Db) {
    let app = TestApp::spawn_with(db, SimConfig::default(), |config| {
        config.edge.header_read_timeout = Duration::from_millis(500);
    })
    .await;
    let mut stream = TcpStream::connect(app.url.trim_start_matches("http://")).await.unwrap();
    assert_eq!(exchange(&mut stream, "/healthz").await.0, 200);
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0))), "closed without another byte: {closed:?} {rest:?}");
}

/// Sends `head` on a fresh connection and returns the status line's code (None: closed without one).
async fn status_of_raw(address: &str, head: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(address).await.unwrap();
    // The server may answer and close before it has read all of an oversized head.
    let _ = stream.write_all(head.as_bytes()).await;
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received)).await;
    let text = String::from_utf8_lossy(&received);
    text.strip_prefix("HTTP/1.1 ").and_then(|rest| rest.get(..3)).and_then(|code| code.parse().ok())
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_oversized_or_overlong_request_head_gets_431(db: Db) {
    let app = TestApp::spawn(db).await;
    let address = app.url.trim_start_matches("http://").to_owned();
    let ok = "GET /healthz HTTP/1.1\r\nHost: shipyard\r\nConnection: close\r\n\r\n";
    assert_eq!(status_of_raw(&address, ok).await, Some(200));

    // One 20 KiB header: past the 16 KiB buffer (hyper's default took ~400 KiB).
    let big = format!("GET /healthz HTTP/1.1\r\nHost: shipyard\r\nX-Big: {}\r\n\r\n", "a".repeat(20 * 1024));
    assert_eq!(status_of_raw(&address, &big).await, Some(431));

    // 80 small headers: under the byte limit, over the count of 64 (hyper's default allowed 100).
    let many: String = (0..80).map(|n| format!("X-H{n}: v\r\n")).collect();
    let many = format!("GET /healthz HTTP/1.1\r\nHost: shipyard\r\n{many}\r\n");
    assert!(many.len() < 16 * 1024);
    assert_eq!(status_of_raw(&address, &many).await, Some(431));

    // The server is unharmed.
    assert_eq!(status_of_raw(&address, ok).await, Some(200));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn one_peer_cannot_hold_more_than_its_connections(db: Db) {
    let app = TestApp::spawn_with(db, SimConfig::default(), |config| {
        config.edge.connections_per_peer = 3.try_into().unwrap();
    })
    .await;
    let address: std::net::SocketAddr = app.url.trim_start_matches("http://").parse().unwrap();
    let from = async |source: &str| {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        socket.connect(address).await.unwrap()
    };
    // Three idle connections from 127.0.0.1 (half-sent requests, as a slow client's).
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = from("127.0.0.1").await;
        stream.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    // A fourth from the same address is closed without an answer.
    let mut fourth = from("127.0.0.1").await;
    let _ = fourth.write_all(b"GET /healthz HTTP/1.1\r\nHost: s\r\n\r\n").await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), fourth.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "closed at once, not left waiting");
    assert!(received.is_empty(), "{:?}", String::from_utf8_lossy(&received));

    // Another address is served meanwhile.
    let mut other = from("127.0.0.2").await;
    assert_eq!(exchange(&mut other, "/healthz").await.0, 200);

    // Once one of the three hangs up, the address may connect again.
    drop(held.pop());
    let mut again = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut stream = from("127.0.0.1").await;
        let request = b"GET /healthz HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n";
        let _ = stream.write_all(request).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        if answer.starts_with(b"HTTP/1.1 200") {
            again = Some(());
            break;
        }
    }
    assert!(again.is_some(), "a freed slot is usable again");
}
