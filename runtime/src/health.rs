//! The probes every service answers: liveness (the process serves) and readiness (what it
//! depends on answers), with their documented answers.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use schemars::{JsonSchema, SchemaGenerator};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::documented::{Answer, json_content, response};

#[derive(Debug, Serialize, JsonSchema)]
pub struct Alive {
    /// `alive`.
    pub status: &'static str,
}

pub async fn liveness() -> Json<Alive> {
    Json(Alive { status: "alive" })
}

/// 200 `ready`, or 503 `unavailable` with each dependency that did not answer named
/// `unreachable` (e.g. `"postgres": "unreachable"`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    #[serde(flatten)]
    pub unreachable: BTreeMap<&'static str, &'static str>,
}

impl Readiness {
    /// Ready unless checking `dependency` failed (the error is logged).
    pub fn of<E: std::fmt::Display>(dependency: &'static str, checked: Result<(), E>) -> Self {
        match checked {
            Ok(()) => Self {
                status: "ready",
                unreachable: BTreeMap::new(),
            },
            Err(error) => {
                tracing::warn!(%error, dependency, "not ready");
                Self {
                    status: "unavailable",
                    unreachable: BTreeMap::from([(dependency, "unreachable")]),
                }
            }
        }
    }
}

impl IntoResponse for Readiness {
    fn into_response(self) -> Response {
        let status = if self.unreachable.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, Json(self)).into_response()
    }
}

impl Answer for Readiness {
    fn responses(g: &mut SchemaGenerator) -> Map<String, Value> {
        let schema = g.subschema_for::<Self>();
        let mut out = response("200", "ready", json_content(schema.clone()));
        out.extend(response(
            "503",
            "a dependency did not answer",
            json_content(schema),
        ));
        out
    }
}
