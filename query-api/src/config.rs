//! Query API configuration, from the environment (see the README for every variable).

use std::net::SocketAddr;

use runtime::config::{ConfigError, Source};
use runtime::postgres::PostgresConfig;

#[derive(Debug, Clone)]
pub struct QueryApiConfig {
    /// `QUERY_API_ADDR`.
    pub addr: SocketAddr,
    pub postgres: PostgresConfig,
    /// `ADMIN_TOKEN`: the bootstrap admin token; it sees every website.
    pub admin_token: String,
}

impl QueryApiConfig {
    pub fn from_source(env: &impl Source) -> Result<Self, ConfigError> {
        let admin_token = env.string_or("ADMIN_TOKEN", "dev-admin-token");
        Ok(Self {
            addr: env.parse_or("QUERY_API_ADDR", SocketAddr::from(([127, 0, 0, 1], 8081)))?,
            postgres: PostgresConfig::from_source(env, 8)?,
            admin_token,
        })
    }
}
