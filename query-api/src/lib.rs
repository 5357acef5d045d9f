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

use std::sync::Arc;

use axum::Router;
use runtime::http::HttpServer;
use sqlx::PgPool;

pub use config::QueryApiConfig;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub admin_token: Arc<str>,
}

pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// Binds the query API server; run it with [`HttpServer::run_until_stopped`].
pub async fn build(config: &QueryApiConfig, pool: PgPool) -> std::io::Result<HttpServer> {
    let state = AppState {
        pool,
        admin_token: config.admin_token.as_str().into(),
    };
    HttpServer::bind(config.addr, app(state)).await
}
