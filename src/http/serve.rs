//! The HTTP/1.1 listener with the limits a public endpoint needs: a connection must send its
//! request head within `header_read_timeout` (from the moment it opens, or from the end of the
//! previous response on a kept-alive one); a connection on which no byte moves either way for
//! `idle_timeout` while it waits on the peer is closed (slow uploads, slow readers); at most
//! `max_connections` are open, and at most `max_connections_per_address` from one address
//! (trusted proxies are exempt). Over a limit, the oldest connection with no request in
//! progress — half-open or idle — is closed to make room; when every connection is busy the
//! new one is answered `503` at once and closed. Requests in progress are never cut.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

use super::client_ip::{ClientIp, client_of};
use crate::config::TrustedProxies;

/// The listener's limits (`server.*` settings).
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub trusted_proxies: TrustedProxies,
}

/// One open connection, as the registry sees it.
struct Entry {
    addr: IpAddr,
    /// Requests in progress (head read, response not yet finished).
    busy: Arc<AtomicUsize>,
    evict: Arc<Notify>,
}

#[derive(Default)]
struct Open {
    /// By admission order: the first idle entry is the oldest.
    entries: BTreeMap<u64, Entry>,
    per_address: HashMap<IpAddr, usize>,
    next_id: u64,
}

impl Open {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        if let Some(n) = self.per_address.get_mut(&entry.addr) {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&entry.addr);
            }
        }
        Some(entry)
    }

    /// Closes the oldest connection without a request in progress (of `addr`, if given).
    fn evict_oldest_idle(&mut self, addr: Option<IpAddr>) -> bool {
        let victim = self
            .entries
            .iter()
            .find(|(_, e)| addr.is_none_or(|a| e.addr == a) && e.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match victim.and_then(|id| self.remove(id)) {
            Some(entry) => {
                entry.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// The open connections and the room left.
pub struct Connections {
    open: Mutex<Open>,
    limits: ServerLimits,
    /// Woken when the last connection closes (shutdown waits for it).
    emptied: Notify,
    evicted: AtomicUsize,
    refused: AtomicUsize,
    lingering: AtomicUsize,
}

/// A connection's place; leaving it (drop) frees the slot.
struct Admitted {
    id: u64,
    busy: Arc<AtomicUsize>,
    evict: Arc<Notify>,
    connections: Arc<Connections>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.connections.lock();
        open.remove(self.id);
        if open.entries.is_empty() {
            self.connections.emptied.notify_waiters();
        }
    }
}

impl Connections {
    pub fn new(limits: ServerLimits) -> Arc<Self> {
        Arc::new(Connections {
            open: Mutex::new(Open::default()),
            limits,
            emptied: Notify::new(),
            evicted: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            lingering: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.lock().entries.len()
    }

    /// Connections closed to make room, and connections refused, since start.
    pub fn pressure(&self) -> (usize, usize) {
        (
            self.evicted.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    fn admit(self: &Arc<Self>, addr: IpAddr) -> Option<Admitted> {
        let mut open = self.lock();
        let exempt = self.limits.trusted_proxies.contains(addr);
        if !exempt
            && open.per_address.get(&addr).copied().unwrap_or(0)
                >= self.limits.max_connections_per_address
        {
            if !open.evict_oldest_idle(Some(addr)) {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
        if open.entries.len() >= self.limits.max_connections {
            if !open.evict_oldest_idle(None) {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
        let id = open.next_id;
        open.next_id += 1;
        let busy = Arc::new(AtomicUsize::new(0));
        let evict = Arc::new(Notify::new());
        open.entries.insert(
            id,
            Entry {
                addr,
                busy: Arc::clone(&busy),
                evict: Arc::clone(&evict),
            },
        );
        *open.per_address.entry(addr).or_insert(0) += 1;
        Some(Admitted {
            id,
            busy,
            evict,
            connections: Arc::clone(self),
        })
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the requests in
/// progress finish (long-lived responses end on their own through `AppState::stopping`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    connections: Arc<Connections>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    let mut accept_errors_logged_at: Option<Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and the like: say so (not every time), back off
                    // briefly and go on; the connections already admitted keep being served.
                    if accept_errors_logged_at.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                        tracing::error!(error = %error, "accepting a connection failed");
                        accept_errors_logged_at = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            },
        };
        let Some(admitted) = connections.admit(peer.ip()) else {
            refuse(stream, &connections);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            admitted,
            router.clone(),
            stop_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    loop {
        let emptied = connections.emptied.notified();
        if connections.open() == 0 {
            break;
        }
        emptied.await;
    }
    Ok(())
}

/// Answers a connection there is no room for with a 503 and closes it. The answer is written
/// without waiting; what the client already sent is read and dropped for a moment so that the
/// close is a FIN the client can read the answer before, not a reset that discards it. At most
/// [`MAX_LINGERING`] refused connections linger at once; past that they are closed at once.
fn refuse(stream: TcpStream, connections: &Arc<Connections>) {
    const BODY: &str = "{\"type\":\"urn:switchboard:problem:overloaded\",\"title\":\"Service Unavailable\",\"status\":503,\"code\":\"overloaded\"}";
    let busy = format!(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-type: application/problem+json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(busy.as_bytes());
    if connections.lingering.fetch_add(1, Ordering::AcqRel) >= MAX_LINGERING {
        connections.lingering.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    let connections = Arc::clone(connections);
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut stream = stream;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
        connections.lingering.fetch_sub(1, Ordering::AcqRel);
    });
}

/// Refused connections drained before their close, at most.
const MAX_LINGERING: usize = 256;

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    admitted: Admitted,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let busy = Arc::clone(&admitted.busy);
    let connections = Arc::clone(&admitted.connections);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let guard = Busy::enter(&busy);
        let client = client_of(
            &connections.limits.trusted_proxies,
            peer.ip(),
            request.headers(),
        );
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ClientIp(client));
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            // The connection counts as busy until the response body is finished.
            Ok::<_, std::convert::Infallible>(response.map(|body| {
                Body::new(Guarded {
                    body,
                    _guard: guard,
                })
            }))
        }
    });
    let limits = &admitted.connections.limits;
    let io = TokioIo::new(Watched::new(stream, limits.idle_timeout));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(64 * 1024);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let evict = Arc::clone(&admitted.evict);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            () = evict.notified(), if !closing => {
                if admitted.busy.load(Ordering::Acquire) == 0 {
                    break; // nothing in progress: close now
                }
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            changed = stop.changed(), if !closing => {
                if changed.is_err() || *stop.borrow() {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
    drop(admitted);
}

/// Counts a request in progress on its connection.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn enter(count: &Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(count))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its connection counted as busy until it is done.
struct Guarded {
    body: Body,
    _guard: Busy,
}

impl http_body::Body for Guarded {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A socket that fails with `TimedOut` once no byte has moved for `idle` while it waits on the
/// peer.
struct Watched {
    stream: TcpStream,
    idle: Duration,
    last: Instant,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Watched {
    fn new(stream: TcpStream, idle: Duration) -> Self {
        Watched {
            stream,
            idle,
            last: Instant::now(),
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }

    /// Called when the socket is not ready: has it been quiet too long?
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let quiet = self.last.elapsed();
            if quiet >= self.idle {
                return true;
            }
            let deadline = tokio::time::Instant::now() + (self.idle - quiet);
            self.timer.as_mut().reset(deadline);
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.last = Instant::now();
                }
                Poll::Ready(result)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "idle connection",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Watched {
    /// Notes bytes written, or fails a write the peer has not taken for too long.
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.last = Instant::now();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "slow reader")))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, data);
        self.wrote(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.wrote(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
