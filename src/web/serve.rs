//! The HTTP server: accepts connections and runs the router on them, with the limits `axum::serve` cannot set.
//!
//! `axum::serve` gives hyper no timer, and without one hyper silently drops its header-read timeout
//! (hyper 1.x `common/time.rs`: "timeout has default, but no timer set"), so a client that never
//! finishes its request head holds a connection forever (slow-loris). hyper-util's auto (HTTP/1 +
//! h2c) builder would not help either: it first waits for 24 bytes to tell HTTP/2's preface apart,
//! with no timeout at all. Shipyard only speaks HTTP/1.1 (TLS and HTTP/2 end at the ingress), so each
//! connection is served by hyper's HTTP/1 builder with a timer and a header-read timeout.
//!
//! A request head may take at most [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`] headers; hyper answers a
//! larger one with 431. hyper's default buffer (~400 KiB per connection) let about 1,300 unfinished
//! heads exhaust the pod's memory. Each TCP peer address may hold at most
//! [`EdgeLimits::connections_per_peer`] connections, so one client cannot take every slot of
//! [`MAX_CONNECTIONS`] and stall `accept` for everyone else (the kubelet's probes included): a
//! connection over its peer's cap is closed at once.
//!
//! Accepted sockets get `TCP_NODELAY`: a response whose head and body leave in separate writes would
//! otherwise wait for the client's delayed ACK (~40 ms on Linux) before its second segment under
//! Nagle's algorithm, on every response after the first on a keep-alive connection.

use std::{
    collections::HashMap,
    convert::Infallible,
    io,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

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
/// hyper's read buffer per connection, which bounds a request head: a bigger head is answered 431.
/// Shipyard's own cookies and a proxy's forwarding headers need a few KiB.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// At most this many header fields in a request head (hyper answers more with 431).
pub const MAX_HEADERS: usize = 64;
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
    let peers = PeerConnections::new(limits.connections_per_peer.get());
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
        let Some(peer_slot) = peers.admit(peer.ip()) else {
            metrics::counter!(crate::metrics::RATE_LIMITED, "work" => "connection").increment(1);
            tracing::debug!(%peer, "connection refused: its address holds too many");
            drop(stream);
            continue;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let service = unwrap_infallible(make_service.call(peer).await);
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(MAX_HEAD_BYTES)
            .max_headers(MAX_HEADERS)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Timeouts and clients that hang up are routine at the edge: debug, not warn.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(peer_slot);
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

/// How many connections each peer address holds, capped per address.
#[derive(Clone)]
struct PeerConnections {
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
    cap: u32,
}

/// One admitted connection of a peer; dropping it frees the peer's slot.
struct PeerSlot {
    peers: PeerConnections,
    ip: IpAddr,
}

impl PeerConnections {
    fn new(cap: u32) -> Self {
        Self { open: Default::default(), cap }
    }

    /// A slot for one more connection from `ip`, unless it already holds its cap.
    fn admit(&self, ip: IpAddr) -> Option<PeerSlot> {
        let mut open = self.open.lock().expect("never poisoned: no panics while held");
        let count = open.entry(ip).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(PeerSlot { peers: self.clone(), ip })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.open.lock().expect("never poisoned: no panics while held");
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
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
