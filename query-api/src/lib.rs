//! `query-api`: the admin API. It reads only the Postgres read models the projector
//! maintains; admin actions (later) are produced as events, never written here directly.
//!
//! # Layout
//! - [`config`]: [`QueryApiConfig`], read from the environment.
//! - [`auth`]: bearer-token extraction and checking.
//! - [`routes`]: the route table; one module per resource.
//! - [`store`]: the SQL behind each view, as small functions returning `*Row` types.
//! - [`error`]: [`error::ApiError`], the one error type handlers answer with.

pub mod auth;
pub mod config;
pub mod error;
pub mod routes;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use config::QueryApiConfig;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub admin_token: Arc<str>,
}

pub fn app(state: AppState) -> Router {
    routes::router(state)
}

pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(config: &QueryApiConfig, pool: PgPool) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.addr).await?;
        let state = AppState {
            pool,
            admin_token: config.admin_token.as_str().into(),
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

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
