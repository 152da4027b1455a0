//! The HTTP surface: one module per resource, each with its own `router()`.

pub mod api;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod bearer;
pub mod cursor;
pub mod errors;
pub mod health;
pub mod limits;
pub mod listing;
pub mod membership;
pub mod metrics;
pub mod pages;
mod request_id;
pub mod serve;
pub mod services;
pub mod session;
mod state;
pub mod webhooks;

pub use state::AppState;

use std::time::Duration;

use axum::{
    Router,
    http::{HeaderName, HeaderValue, Request, header},
    middleware,
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    csrf::CsrfLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};

/// Requests that take longer than this are answered 408 (long work happens in the reconciler).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router(state: AppState) -> Router {
    crate::metrics::handle();
    let protected = Router::new()
        .merge(services::router())
        .merge(audit::router())
        .merge(auth::router())
        .route_layer(middleware::from_fn_with_state(state.clone(), session::require_session));

    let csrf = CsrfLayer::new()
        .add_trusted_origin(state.config.public_url.origin().ascii_serialization())
        .expect("PUBLIC_URL is a valid origin");

    let request_id = HeaderName::from_static(errors::REQUEST_ID_HEADER);
    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
        let id = request.headers().get(errors::REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
    })
    // One access-log line per request (status and latency), inside the span with the request id.
    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO));

    Router::new()
        .merge(protected)
        .merge(api::router(state.clone()))
        .merge(auth::public_router())
        .merge(health::router())
        .merge(metrics::router())
        .merge(assets::router())
        .merge(webhooks::router())
        .merge(errors::router())
        .fallback(errors::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), limits::limit_unauthenticated))
        .layer(middleware::from_fn_with_state(state.clone(), errors::render_errors))
        .layer(middleware::from_fn(crate::metrics::track_requests))
        .layer(
            ServiceBuilder::new()
                .map_request(request_id::drop_unsafe_request_id)
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(trace)
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::new())
                .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
                .layer(csrf)
                .layer(RequestBodyLimitLayer::new(limits::MAX_BODY_BYTES))
                .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
                .layer(security_header(header::REFERRER_POLICY, "same-origin"))
                .layer(security_header(
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'self'; img-src 'self' data: http: https:; style-src 'self'; script-src 'self'; \
                     form-action 'self' http: https:; frame-ancestors 'none'",
                )),
        )
        .with_state(state)
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}
