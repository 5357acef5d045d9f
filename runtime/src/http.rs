//! Serving an axum router: bind, report the bound address (tests bind port 0), serve until a
//! shutdown future resolves, then stop accepting and let in-flight requests finish.
//!
//! The accept loop is ours rather than `axum::serve`'s because that one installs no timer, and
//! without a timer hyper enforces no header read timeout: a client could hold a connection
//! forever by sending its request head one byte at a time (slowloris). Here the head must
//! arrive within [`HEADER_READ_TIMEOUT`] or the connection is closed, and a whole request —
//! reading a slowly sent body included — must be answered within [`REQUEST_TIMEOUT`] or it is
//! answered `408 Request Timeout`. Idle connections cost a parked task each and nothing else.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::Service;
use tower_http::timeout::TimeoutLayer;

/// How long a client has to send a request's head (its request line and headers).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request may take from its head to the answer, reading its body included.
/// Longer than anything a handler waits for (the broker's delivery timeout, an admin action's
/// wait), so only a client that sends too slowly meets it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct HttpServer {
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    request_timeout: Duration,
}

impl HttpServer {
    pub async fn bind(addr: SocketAddr, router: Router) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            router,
            header_read_timeout: HEADER_READ_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        })
    }

    /// Other timeouts than [`HEADER_READ_TIMEOUT`] and [`REQUEST_TIMEOUT`] (tests use short ones).
    pub fn with_timeouts(mut self, header_read: Duration, request: Duration) -> Self {
        self.header_read_timeout = header_read;
        self.request_timeout = request;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves with the peer address available to handlers (`ConnectInfo<SocketAddr>`).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self
            .router
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                self.request_timeout,
            ))
            // The rest of a body that stopped arriving is not waited for: the connection closes.
            .layer(axum::middleware::map_response(close_after_timeout))
            .layer(axum::middleware::map_response(nosniff));
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors, most likely: wait for connections to close.
                        tracing::warn!(%error, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let router = router.clone();
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let mut router = router.clone();
                async move {
                    Ok::<_, Infallible>(router.call(request).await.unwrap_or_else(|e| match e {}))
                }
            });
            let connection =
                graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
            });
        }
        drop(self.listener);
        graceful.shutdown().await;
        Ok(())
    }
}

/// Every answer is what its `Content-Type` says: a browser must not guess otherwise (a CSV
/// export or an error text read as HTML).
async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn close_after_timeout(mut response: Response) -> Response {
    if response.status() == StatusCode::REQUEST_TIMEOUT {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A container's health check (`<binary> healthcheck`): `GET path` on the service's own
/// address, true when it answers 200. Blocking and dependency-free, so the runtime image needs
/// no `curl`. A wildcard address (`0.0.0.0`, `[::]`) is asked on loopback.
pub fn probe(addr: SocketAddr, path: &str) -> bool {
    use std::io::{Read, Write};
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let timeout = Duration::from_secs(3);
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Runs [`probe`] as a process: exit status 0 when healthy, 1 otherwise.
pub fn healthcheck(addr: SocketAddr, path: &str) -> ! {
    std::process::exit(if probe(addr, path) { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_probe_is_healthy_only_when_the_path_answers_200() {
        let router = Router::new().route("/_readiness", axum::routing::get(|| async { "ready" }));
        let server = HttpServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), router)
            .await
            .unwrap();
        let addr = server.local_addr();
        tokio::spawn(server.run_until_stopped(std::future::pending()));
        let wildcard = SocketAddr::from(([0, 0, 0, 0], addr.port()));
        let (ready, missing, wild) = tokio::task::spawn_blocking(move || {
            (
                probe(addr, "/_readiness"),
                probe(addr, "/nothing-here"),
                probe(wildcard, "/_readiness"),
            )
        })
        .await
        .unwrap();
        assert!(ready);
        assert!(!missing, "a 404 is not healthy");
        assert!(wild, "a wildcard address is probed on loopback");
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(
            !tokio::task::spawn_blocking(move || probe(closed, "/"))
                .await
                .unwrap()
        );
    }
}
