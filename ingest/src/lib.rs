//! `ingest`: the HTTP edge of Colloquy. It parses and validates events, enriches them with
//! what only the server knows (tenant, time, client IP), produces them to the `chat-events`
//! topic and answers 2xx only once the broker acknowledged every accepted event.
//!
//! # Layout
//! - [`config`]: [`IngestConfig`], read from the environment.
//! - [`keys`]: write keys and the websites they belong to.
//! - [`enrich`]: turns a client's [`schemas::IncomingEvent`] into a stored [`schemas::Event`].
//! - [`routes`]: the route table; one module per resource.
//! - [`error`]: [`error::ApiError`], the one error type every handler answers with.

pub mod config;
pub mod enrich;
pub mod error;
pub mod keys;
pub mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use runtime::kafka::EventSink;
use tokio::net::TcpListener;

pub use config::IngestConfig;
pub use keys::WriteKeys;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub sink: Arc<dyn EventSink>,
    pub keys: Arc<WriteKeys>,
    pub limits: config::Limits,
}

/// The router, without a socket, so tests can call it directly.
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// A bound, not yet running, ingest server.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(config: &IngestConfig, sink: Arc<dyn EventSink>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.addr).await?;
        let state = AppState {
            sink,
            keys: Arc::new(WriteKeys::new(config.websites.clone())),
            limits: config.limits.clone(),
        };
        Ok(Self {
            listener,
            router: app(state),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown` resolves, then stops accepting and finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
