//! Conditional requests (ETag / If-None-Match → 304, free of rate limit when authorized) and GitHub's
//! secondary rate limits (content creation per minute and hour, concurrency), per credential.

mod common;

use std::time::Duration;

use common::{ALICE, BOT, api, generate, start, start_with};
use github_sim::SecondaryLimits;
use reqwest::Method;
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH, VARY};
use serde_json::{Value, json};

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

#[tokio::test]
async fn a_matching_if_none_match_gets_304_without_a_body_and_costs_no_rate_limit() {
    let sim = start().await;
    let path = "/repos/acme/service-template";
    let first = api(Method::GET, &sim, path, ALICE).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = header(&first, "etag");
    assert!(etag.starts_with("W/\"") && etag.len() == 68, "a weak tag over a SHA-256: {etag}");
    assert_eq!(first.headers()[CACHE_CONTROL], "private, max-age=60, s-maxage=60");
    assert!(header(&first, "vary").contains("Authorization"));
    let remaining = header(&first, "x-ratelimit-remaining");
    let used = header(&first, "x-ratelimit-used");

    let again = api(Method::GET, &sim, path, ALICE).header(IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()[ETAG], etag.as_str());
    assert_eq!(header(&again, "x-ratelimit-remaining"), remaining, "a 304 is not charged");
    assert_eq!(header(&again, "x-ratelimit-used"), used);
    assert_eq!(again.text().await.unwrap(), "", "a 304 has no body");
    assert_eq!(sim.sim().request_count("GET", path), 2, "GitHub answered both");
    assert_eq!(sim.sim().charged_count("GET", path), 1, "only the 200 was charged");

    let other =
        api(Method::GET, &sim, path, ALICE).header(IF_NONE_MATCH, "W/\"stale\"").send().await.unwrap();
    assert_eq!(other.status(), 200, "a tag that does not match gets the full answer");
    assert_eq!(other.headers()[VARY], first.headers()[VARY]);
    assert_eq!(
        header(&other, "x-ratelimit-remaining").parse::<u64>().unwrap() + 1,
        remaining.parse::<u64>().unwrap()
    );
    assert_eq!(sim.sim().charged_count("GET", path), 2);
}

#[tokio::test]
async fn a_changed_resource_gets_a_new_etag_and_the_old_one_no_longer_matches() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "svc").await;
    let path = "/repos/acme/svc";
    let before = header(&api(Method::GET, &sim, path, BOT).send().await.unwrap(), "etag");
    let patch =
        api(Method::PATCH, &sim, path, BOT).json(&json!({"description": "new"})).send().await.unwrap();
    assert_eq!(patch.status(), 200);
    assert!(patch.headers().get(ETAG).is_none(), "only GETs carry ETags");
    let after = api(Method::GET, &sim, path, BOT).header(IF_NONE_MATCH, &before).send().await.unwrap();
    assert_eq!(after.status(), 200);
    assert_ne!(header(&after, "etag"), before);
    let body: Value = after.json().await.unwrap();
    assert_eq!(body["description"], "new");
}

#[tokio::test]
async fn an_unauthenticated_304_is_still_charged_and_public() {
    let sim = start().await;
    let url = format!("{}/users/alice", sim.url());
    let first = common::http().get(&url).header("user-agent", "t").send().await.unwrap();
    assert_eq!(first.headers()[CACHE_CONTROL], "public, max-age=60, s-maxage=60");
    let remaining: u64 = header(&first, "x-ratelimit-remaining").parse().unwrap();
    let etag = header(&first, "etag");
    let again =
        common::http().get(&url).header("user-agent", "t").header(IF_NONE_MATCH, etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "x-ratelimit-remaining").parse::<u64>().unwrap(), remaining - 1);
    assert_eq!(sim.sim().charged_count("GET", "/users/alice"), 2);
}

#[tokio::test]
async fn an_unchanged_run_list_keeps_its_etag() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "svc").await;
    let path = "/repos/acme/svc/actions/runs";
    let first = header(&api(Method::GET, &sim, path, BOT).send().await.unwrap(), "etag");
    let second = header(&api(Method::GET, &sim, path, BOT).send().await.unwrap(), "etag");
    assert_eq!(first, second, "a completed run's answer is stable, so polling it can be conditional");
    let response = api(Method::GET, &sim, path, BOT).header(IF_NONE_MATCH, first).send().await.unwrap();
    assert_eq!(response.status(), 304);
}

/// DELETE of a secret that does not exist: a cheap content-creating request (404), as GitHub counts it.
async fn delete_missing_secret(sim: &github_sim::RunningSim, token: &str) -> reqwest::Response {
    api(Method::DELETE, sim, "/repos/acme/svc/actions/secrets/NOPE", token).send().await.unwrap()
}

#[tokio::test]
async fn the_81st_content_creating_request_in_a_minute_gets_403_with_retry_after() {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201, "write 1");
    for _ in 2..=80 {
        assert_eq!(delete_missing_secret(&sim, BOT).await.status(), 404);
    }
    let refused = delete_missing_secret(&sim, BOT).await;
    assert_eq!(refused.status(), 403);
    let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "retry-after {retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().starts_with("You have exceeded a secondary rate limit"));
    assert_eq!(body["status"], "403");
    assert_eq!(sim.sim().secondary_limit_hits(), 1);
    assert_eq!(
        sim.sim().request_count("DELETE", "/repos/**"),
        79,
        "the refused request never reached GitHub"
    );

    let read = api(Method::GET, &sim, "/repos/acme/svc", BOT).send().await.unwrap();
    assert_eq!(read.status(), 200, "reads are not content-creating");
    assert_eq!(
        delete_missing_secret(&sim, ALICE).await.status(),
        404,
        "another credential has its own budget"
    );
    assert_eq!(delete_missing_secret(&sim, BOT).await.status(), 403, "still refused within the minute");
    assert_eq!(sim.sim().secondary_limit_hits(), 2);
}

#[tokio::test]
async fn the_hourly_limit_answers_with_the_wait_until_the_oldest_write_is_an_hour_old() {
    let sim = start_with(|c| {
        c.secondary_limits = SecondaryLimits { content_per_hour: 3, ..SecondaryLimits::GITHUB };
    })
    .await;
    generate(&sim, BOT, "service-template", "svc").await;
    delete_missing_secret(&sim, BOT).await;
    delete_missing_secret(&sim, BOT).await;
    let refused = delete_missing_secret(&sim, BOT).await;
    assert_eq!(refused.status(), 403);
    let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((3590..=3600).contains(&retry_after), "retry-after {retry_after}");
}

#[tokio::test]
async fn requests_past_the_concurrency_limit_are_refused_while_the_others_run() {
    let sim =
        start_with(|c| c.secondary_limits = SecondaryLimits { concurrent: 2, ..SecondaryLimits::GITHUB })
            .await;
    sim.sim().set_latency(Some("GET"), "/user", Duration::from_millis(500));
    let call = || api(Method::GET, &sim, "/user", BOT).send();
    let (a, b, c) = tokio::join!(call(), call(), call());
    let mut answers = [a, b, c].map(|r| {
        let r = r.unwrap();
        (r.status().as_u16(), r.headers().contains_key("retry-after"))
    });
    answers.sort();
    assert_eq!(answers, [(200, false), (200, false), (403, true)], "three at once with room for two");
    assert_eq!(sim.sim().secondary_limit_hits(), 1);
    sim.sim().clear_latency();
    assert_eq!(call().await.unwrap().status(), 200, "slots are released when answers are sent");
}

#[tokio::test]
async fn with_secondary_limits_off_bulk_writes_all_reach_github_and_faults_still_apply() {
    let sim = start_with(|c| c.secondary_limits = SecondaryLimits::OFF).await;
    generate(&sim, BOT, "service-template", "svc").await;
    for _ in 0..100 {
        assert_eq!(delete_missing_secret(&sim, BOT).await.status(), 404);
    }
    sim.sim()
        .inject_fault(github_sim::Fault::new("/repos/*/*/actions/secrets/*", 429).retry_after(3).times(1));
    let faulted = delete_missing_secret(&sim, BOT).await;
    assert_eq!(faulted.status(), 429);
    assert_eq!(header(&faulted, "retry-after"), "3");
    assert_eq!(sim.sim().secondary_limit_hits(), 0, "injected faults are not the automatic limiter");
}

#[tokio::test]
async fn the_sim_routes_report_charged_requests_and_secondary_limit_hits() {
    let sim = start_with(|c| {
        c.secondary_limits = SecondaryLimits { content_per_minute: 1, ..SecondaryLimits::GITHUB };
    })
    .await;
    let first = api(Method::GET, &sim, "/user", BOT).send().await.unwrap();
    let etag = header(&first, "etag");
    api(Method::GET, &sim, "/user", BOT).header(IF_NONE_MATCH, etag).send().await.unwrap();
    generate(&sim, BOT, "service-template", "svc").await;
    generate(&sim, BOT, "service-template", "svc2").await;
    let base = sim.url();
    let http = common::http();
    let counts: Value = http
        .get(format!("{base}/_sim/requests?method=GET&path_pattern=/user"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts, json!({"count": 2, "charged": 1}));
    let hits: Value =
        http.get(format!("{base}/_sim/secondary-limits")).send().await.unwrap().json().await.unwrap();
    assert_eq!(hits, json!({"hits": 1}));
}
