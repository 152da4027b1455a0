//! The HTTP server: accepts connections and runs the router on them, with the limits `axum::serve` cannot set.
//!
//! `axum::serve` gives hyper no timer, and without one hyper silently drops its header-read timeout
//! (hyper 1.x `common/time.rs`: "timeout has default, but no timer set"), so a client that never
//! finishes its request head holds a connection forever (slow-loris). hyper-util's auto (HTTP/1 +
//! h2c) builder would not help either: it first waits for 24 bytes to tell HTTP/2's preface apart,
//! with no timeout at all. Shipyard only speaks HTTP/1.1 (TLS and HTTP/2 end at the ingress), so each
//! connection is served by hyper's HTTP/1 builder with a timer and a header-read timeout.
//!
//! Accepted sockets get `TCP_NODELAY`: a response whose head and body leave in separate writes would
//! otherwise wait for the client's delayed ACK (~40 ms on Linux) before its second segment under
//! Nagle's algorithm, on every response after the first on a keep-alive connection.

use std::{convert::Infallible, io, net::SocketAddr, sync::Arc, time::Duration};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;
use tower::Service;

use super::limits::EdgeLimits;

/// At most this many connections are served at once; further clients wait in the listen backlog.
const MAX_CONNECTIONS: usize = 4096;
/// On shutdown, open requests get this long to finish (the request timeout is 30 s).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(35);
/// After an accept error that is not about one connection (e.g. out of file descriptors), wait
/// before accepting again instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `stop` is cancelled, then lets open requests finish.
///
/// Handlers see the client's address as `ConnectInfo<SocketAddr>` (the per-address rate limit uses it).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    stop: CancellationToken,
) -> io::Result<()> {
    let mut make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = stop.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let service = unwrap_infallible(make_service.call(peer).await);
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Timeouts and clients that hang up are routine at the edge: debug, not warn.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!(after = ?DRAIN_TIMEOUT, "shutting down with requests still open");
        }
    }
    Ok(())
}

/// Errors that concern one connection only (the client went away before we accepted it).
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

fn unwrap_infallible<T>(result: Result<T, Infallible>) -> T {
    match result {
        Ok(value) => value,
        Err(never) => match never {},
    }
}
