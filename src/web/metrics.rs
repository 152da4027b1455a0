//! `GET /metrics`: Prometheus text exposition, public like `/healthz` (restrict it at the network
//! edge if service names or counts are not for everyone).

use axum::{
    Router,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};

use crate::{metrics, web::AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

/// Scrapes take turns: the database gauges are process-wide, so refreshing and rendering must not
/// interleave with another app's scrape (tests run many apps in one process).
static SCRAPE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn scrape(State(state): State<AppState>) -> Response {
    let _turn = SCRAPE.lock().await;
    // A database that does not answer leaves the gauges as they were; the rest still renders.
    if let Err(e) = metrics::refresh_gauges(&state.db).await {
        tracing::warn!(error = %e, "could not refresh the database gauges");
    }
    let handle = metrics::handle();
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
}
