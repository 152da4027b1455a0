//! Prometheus metrics: one recorder per process, the HTTP middleware, the reconciler's recording
//! helpers and the gauges read from the database at scrape time. `GET /metrics` renders them.
//!
//! The recorder is global (the `metrics` facade's), installed once per process by [`handle`]:
//! tests build many apps in one process, and they all share it, as one app's parts share it in
//! production.

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request},
    http::Method,
    middleware::Next,
    response::Response,
};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

use crate::{
    domain::{ServiceStatus, StepName},
    provider::ErrorKind,
};

pub const HTTP_REQUESTS: &str = "shipyard_http_requests_total";
pub const HTTP_DURATION: &str = "shipyard_http_request_duration_seconds";
pub const PROVISIONING_DURATION: &str = "shipyard_provisioning_duration_seconds";
pub const DELETION_DURATION: &str = "shipyard_deletion_duration_seconds";
pub const STEP_FAILURES: &str = "shipyard_step_failures_total";
pub const SERVICES: &str = "shipyard_services";
pub const RECONCILER_LAG: &str = "shipyard_reconciler_lag_seconds";
pub const SIGN_IN_REFUSALS: &str = "shipyard_sign_in_refusals_total";
pub const RATE_LIMITED: &str = "shipyard_rate_limited_total";

/// Web requests answer in milliseconds; anything near the 30 s timeout is a problem.
const HTTP_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Provisioning takes seconds to minutes (template generation, IAM propagation, the first build).
const WORK_BUCKETS: &[f64] = &[1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0];
/// Histogram buckets are drained into the exposition this often, scraped or not.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use. If something else installed a
/// global recorder first, our handle still renders (what it has), and a warning says why it is empty.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), HTTP_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(PROVISIONING_DURATION.into()), WORK_BUCKETS))
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(DELETION_DURATION.into()), WORK_BUCKETS))
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder was installed first; /metrics will not see Shipyard's metrics");
        }
        describe();
        // A plain thread, not a task: it must outlive whichever tokio runtime installed the recorder.
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no metrics upkeep thread; histograms are drained at scrape time only");
        }
        handle
    })
}

fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by method, matched route and status.");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by method and matched route."
    );
    describe_histogram!(
        PROVISIONING_DURATION,
        Unit::Seconds,
        "Reconciler work on a service's create steps in the pass that settled it, by outcome (ready or failed)."
    );
    describe_histogram!(
        DELETION_DURATION,
        Unit::Seconds,
        "Reconciler work on a service's delete steps in the pass that settled it, by outcome (deleted or delete_failed)."
    );
    describe_counter!(STEP_FAILURES, "Provisioning and deletion steps that failed, by step and error kind.");
    describe_gauge!(SERVICES, "Services by status (read from the database at scrape time).");
    describe_gauge!(
        RECONCILER_LAG,
        Unit::Seconds,
        "Age of the oldest service waiting to be claimed by a reconciler; 0 when none waits."
    );
    describe_counter!(
        SIGN_IN_REFUSALS,
        "Sign-ins that ended without a session, by reason (expired, cancelled, failed, not_member)."
    );
    describe_counter!(
        RATE_LIMITED,
        "Requests answered 429 because their address spent its budget of unauthenticated work, by work (login, bearer)."
    );
}

/// Middleware: counts and times every request by the route it matched (its pattern, such as
/// `/api/v1/services/{name}`, never the raw path, which would make one series per service name).
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    histogram!(HTTP_DURATION, "method" => method, "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status).increment(1);
    response
}

/// The method as a label; methods we never route collapse into one value.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Records that the reconciler settled a service after `elapsed` of work: `from` is the status it
/// worked in (provisioning or deleting), `to` where it ended.
pub fn record_settled(from: ServiceStatus, to: ServiceStatus, elapsed: Duration) {
    let name = if from == ServiceStatus::Deleting { DELETION_DURATION } else { PROVISIONING_DURATION };
    histogram!(name, "outcome" => to.as_str()).record(elapsed.as_secs_f64());
}

/// Records a failed step with the provider error's kind.
pub fn record_step_failure(step: StepName, kind: ErrorKind) {
    counter!(STEP_FAILURES, "step" => step.as_str(), "kind" => kind_label(kind)).increment(1);
}

fn kind_label(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Transient => "transient",
        ErrorKind::NotFound => "not_found",
        ErrorKind::Conflict => "conflict",
        ErrorKind::Denied => "denied",
        ErrorKind::Invalid => "invalid",
        ErrorKind::Other => "other",
    }
}

/// Sets the gauges that describe the database: services by status (every status, zero included,
/// so a status that empties does not keep its last count) and the reconciler's lag.
pub async fn refresh_gauges(db: &PgPool) -> sqlx::Result<()> {
    let counts = sqlx::query!(r#"select status, count(*) as "count!" from service group by status"#)
        .fetch_all(db)
        .await?;
    // Claimable = work to do and no live lease; `updated_at` is the last time anyone touched it.
    let lag = sqlx::query_scalar!(
        r#"
        select coalesce(extract(epoch from now() - min(updated_at))::float8, 0) as "lag!" from service
        where status in ('provisioning', 'deleting') and (lease_until is null or lease_until < now())
        "#
    )
    .fetch_one(db)
    .await?;
    for status in ServiceStatus::ALL {
        let count = counts.iter().find(|c| c.status == status.as_str()).map_or(0, |c| c.count);
        gauge!(SERVICES, "status" => status.as_str()).set(count as f64);
    }
    gauge!(RECONCILER_LAG).set(lag.max(0.0));
    Ok(())
}
