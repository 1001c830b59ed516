//! The connections of the server: accepted, served with hyper, and closed when they stall.
//!
//! A client that opens connections and then sends nothing, or a header a byte at a time, holds
//! a file descriptor and a task for as long as it likes unless something closes it. So:
//! - a request's header must arrive within `server.headerTimeout`;
//! - its body may pause at most `server.bodyTimeout` between two reads;
//! - a connection that carries no request is closed after `server.idleTimeout`;
//! - at most `server.maxConnections` are open at once. When a new client arrives at the cap,
//!   the connection that has been idle the longest (no request under way: stalled in its
//!   header, or kept alive and silent) is closed to make room, so stalled connections can
//!   never lock new clients out. Only when every open connection is serving a request does
//!   the server wait for one to finish before it accepts again.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

pub use crate::config::ConnectionLimits;

/// One open connection, as the accept loop sees it.
struct Tracked {
    /// Requests under way on it (their handler runs or their response is being written).
    in_flight: AtomicUsize,
    /// Requests it carried so far.
    served: AtomicU64,
    /// When it last started or finished a request (or was accepted), in ms since `epoch`.
    last_active_ms: AtomicU64,
    /// Told to close (it had no request under way).
    evict: Notify,
}

/// The open connections.
struct Registry {
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Tracked>>>,
    /// Told whenever a connection closes or finishes a request.
    changed: Notify,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Tracked>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self) -> (u64, Arc<Tracked>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tracked = Arc::new(Tracked {
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            last_active_ms: AtomicU64::new(self.now_ms()),
            evict: Notify::new(),
        });
        self.lock().insert(id, tracked.clone());
        (id, tracked)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
        self.changed.notify_waiters();
    }

    /// Makes room for one more connection: true when there is room, or when an idle
    /// connection was told to close (it leaves the count at once). The first to go is the
    /// oldest that never carried a whole request head (stalled, or silent since it opened);
    /// only then the one kept alive the longest since its last request.
    fn make_room(&self, max: usize) -> bool {
        let mut open = self.lock();
        if open.len() < max {
            return true;
        }
        let idlest = open
            .iter()
            .filter(|(_, t)| t.in_flight.load(Ordering::Acquire) == 0)
            .min_by_key(|(_, t)| {
                (
                    t.served.load(Ordering::Relaxed) > 0,
                    t.last_active_ms.load(Ordering::Relaxed),
                )
            })
            .map(|(id, _)| *id);
        match idlest.and_then(|id| open.remove(&id)) {
            Some(tracked) => {
                tracked.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Marks a request of a connection under way until it is dropped with the response's body.
struct InFlight {
    tracked: Arc<Tracked>,
    registry: Arc<Registry>,
}

impl InFlight {
    fn start(tracked: &Arc<Tracked>, registry: &Arc<Registry>) -> Self {
        tracked.in_flight.fetch_add(1, Ordering::AcqRel);
        tracked.served.fetch_add(1, Ordering::Relaxed);
        tracked
            .last_active_ms
            .store(registry.now_ms(), Ordering::Relaxed);
        Self {
            tracked: tracked.clone(),
            registry: registry.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.tracked
            .last_active_ms
            .store(self.registry.now_ms(), Ordering::Relaxed);
        self.tracked.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.registry.changed.notify_waiters();
    }
}

/// Serves `service` on `listener` within `limits` until `shutdown` completes; then stops
/// accepting, lets requests under way finish, and returns when every connection is closed.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let registry = Arc::new(Registry {
        epoch: Instant::now(),
        next_id: AtomicU64::new(0),
        open: Mutex::default(),
        changed: Notify::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Room for the next client, or wait for a connection to close or go idle.
        while !registry.make_room(limits.max_connections) {
            let changed = registry.changed.notified();
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
                () = &mut shutdown => return finish(stop_tx, stop_rx).await,
            }
        }
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, or a connection reset before it was accepted.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return finish(stop_tx, stop_rx).await,
        };
        let (id, tracked) = registry.add();
        tokio::spawn(connection(
            stream,
            peer,
            service.clone(),
            limits.clone(),
            registry.clone(),
            id,
            tracked,
            stop_rx.clone(),
        ));
    }
}

/// Tells every connection to finish what it serves and close, and waits for them.
async fn finish(stop_tx: watch::Sender<bool>, stop_rx: watch::Receiver<bool>) -> std::io::Result<()> {
    let _ = stop_tx.send(true);
    drop(stop_rx);
    stop_tx.closed().await;
    Ok(())
}

#[expect(clippy::too_many_arguments, reason = "one task's whole context, passed once")]
async fn connection<S>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    service: S,
    limits: ConnectionLimits,
    registry: Arc<Registry>,
    id: u64,
    tracked: Arc<Tracked>,
    mut stop: watch::Receiver<bool>,
) where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let hyper_service = {
        let (tracked, registry) = (tracked.clone(), registry.clone());
        let body_timeout = limits.body_timeout;
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_flight = InFlight::start(&tracked, &registry);
            let mut request = request.map(|body| Body::new(TimeoutBody::new(body_timeout, body)));
            request.extensions_mut().insert(ConnectInfo(peer));
            let service = service.clone();
            async move {
                let response = service.oneshot(request).await?;
                // The request counts as under way until its response's body is written.
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        let _ = &in_flight;
                        frame
                    }))
                }))
            }
        })
    };
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), hyper_service);
    let mut connection = std::pin::pin!(connection);
    let mut stopping = false;
    loop {
        let idle_since = tracked.last_active_ms.load(Ordering::Relaxed);
        let idle_deadline = registry.epoch
            + Duration::from_millis(idle_since)
            + limits.idle_timeout;
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                break;
            }
            // Closed to make room: it had no request under way.
            () = tracked.evict.notified() => break,
            () = tokio::time::sleep_until(idle_deadline.into()) => {
                let idle_ms = registry.now_ms().saturating_sub(tracked.last_active_ms.load(Ordering::Relaxed));
                if tracked.in_flight.load(Ordering::Acquire) == 0
                    && Duration::from_millis(idle_ms) >= limits.idle_timeout
                {
                    break;
                }
                if tracked.in_flight.load(Ordering::Acquire) > 0 {
                    // Busy: look again one idle timeout after now.
                    tracked.last_active_ms.store(registry.now_ms(), Ordering::Relaxed);
                }
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_err() || *stop.borrow() {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
    registry.remove(id);
}
