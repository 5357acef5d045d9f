//! The shapes answers share, and the inputs handlers read: an admin action's answer
//! ([`Action`]), a list's ([`Page`]), a JSON body ([`Body`]), and how each documents itself
//! ([`runtime::documented`]).

use std::borrow::Cow;

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use runtime::documented::{Answer, Described, Input, json_content, response};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::params::Params;
use crate::actions::Outcome;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::freshness::AsOf;

impl Input for Admin {
    fn describe(op: &mut Described, _: &mut SchemaGenerator) {
        op.authenticated = true;
    }
}

impl Input for AsOf {}

impl<T: JsonSchema> Input for Params<T> {
    fn describe(op: &mut Described, g: &mut SchemaGenerator) {
        op.query = Some(g.root_schema_for::<T>());
    }
}

/// The one row of `found` (the rows an id names in the token's websites): 404 naming `what`
/// when there is none, 400 asking for `website_id` when the id is on several websites.
pub fn the_one<T>(mut found: Vec<T>, what: &'static str) -> Result<T, ApiError> {
    if found.len() > 1 {
        return Err(ApiError::BadRequest(format!(
            "{what} id exists in several websites; add ?website_id="
        )));
    }
    found.pop().ok_or(ApiError::NotFound(what))
}

/// A JSON request body, or a 400 that names what is wrong with it.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("body: {}", e.body_text())))?;
        super::read_json(&bytes).map(Body)
    }
}

impl<T: JsonSchema> Input for Body<T> {
    fn describe(op: &mut Described, g: &mut SchemaGenerator) {
        op.body = Some(g.root_schema_for::<T>());
    }
}

/// The answer to an admin action: the new state with the event's id once the projector applied
/// it (201 when `CREATES`, else 200), or, with `status: accepted`, 202 when the broker
/// acknowledged the event but the projector had not applied it within `ADMIN_WAIT_MS` (the
/// state then is as it was).
pub struct Acting<T, const CREATES: bool> {
    pub outcome: Outcome,
    pub state: T,
}

/// An action that changes something.
pub type Action<T> = Acting<T, false>;
/// An action that creates something.
pub type Creation<T> = Acting<T, true>;

impl<T, const CREATES: bool> Acting<T, CREATES> {
    /// The same answer with its state transformed, e.g. wrapped for an older client.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Acting<U, CREATES> {
        Acting {
            outcome: self.outcome,
            state: f(self.state),
        }
    }
}

pub fn acted<T, const CREATES: bool>(outcome: Outcome, state: T) -> Acting<T, CREATES> {
    Acting { outcome, state }
}

/// What an [`Acting`] answers with.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Acted<T> {
    #[serde(flatten)]
    pub state: T,
    /// The id of the event the action produced.
    pub event_id: Uuid,
    /// Present (`accepted`) when the projector has not applied the event yet (202).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Accepted>,
}

#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Accepted {
    Accepted,
}

impl<T: Serialize, const CREATES: bool> IntoResponse for Acting<T, CREATES> {
    fn into_response(self) -> Response {
        let (status, accepted) = match self.outcome {
            Outcome::Applied(_) if CREATES => (StatusCode::CREATED, None),
            Outcome::Applied(_) => (StatusCode::OK, None),
            Outcome::Pending(_) => (StatusCode::ACCEPTED, Some(Accepted::Accepted)),
        };
        let body = Acted {
            state: self.state,
            event_id: self.outcome.event_id(),
            status: accepted,
        };
        (status, axum::Json(body)).into_response()
    }
}

impl<T: JsonSchema, const CREATES: bool> Answer for Acting<T, CREATES> {
    fn responses(g: &mut SchemaGenerator) -> Map<String, Value> {
        let schema = g.subschema_for::<Acted<T>>();
        let applied = if CREATES { "201" } else { "200" };
        let mut out = response(
            applied,
            "the projector applied the event: the new state and `event_id`",
            json_content(schema.clone()),
        );
        out.extend(response(
            "202",
            "the event is stored and will be applied (`status: accepted`); the state is as it was",
            json_content(schema),
        ));
        out.extend(response(
            "409",
            "conflicts with the current state, named in `message`",
            None,
        ));
        out
    }
}

/// The rows a list answers with, under the name of what they are.
pub trait Listed {
    /// The member the rows are under, e.g. `conversations`.
    const KEY: &'static str;
}

/// `{KEY: [rows]}`, to flatten into a [`Page`].
#[derive(Debug)]
pub struct Rows<T>(pub Vec<T>);

impl<T: Listed + Serialize> Serialize for Rows<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(T::KEY, &self.0)?;
        map.end()
    }
}

impl<T: Listed + JsonSchema> JsonSchema for Rows<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("{}s", T::schema_name()).into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let rows = g.subschema_for::<T>();
        json_schema!({
            "type": "object",
            "properties": { T::KEY: { "type": "array", "items": rows } },
            "required": [T::KEY],
        })
    }
}

/// A list: its rows, how to get more (`P`), and the projector position it reflects.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(bound(serialize = "T: Listed + Serialize, P: Serialize"))]
#[schemars(bound = "T: Listed + JsonSchema, P: JsonSchema")]
pub struct Page<T, P> {
    #[serde(flatten)]
    pub rows: Rows<T>,
    #[serde(flatten)]
    pub paging: P,
    pub as_of: AsOf,
}

impl<T, P> Page<T, P> {
    pub fn new(rows: Vec<T>, paging: P, as_of: AsOf) -> Self {
        Self {
            rows: Rows(rows),
            paging,
            as_of,
        }
    }
}

/// A list that is answered whole.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Whole {}

/// A page of a list ordered by a keyset: the next page starts after `next_cursor`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Cursor {
    /// The rows on this page.
    pub count: usize,
    /// Every row that matches, exact up to 10,000; past that 10,000 and `total_capped`.
    pub total: i64,
    pub total_capped: bool,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A numbered page of a list.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Numbered {
    /// Every row that matches, exact up to 10,000; past that 10,000 and `total_capped`.
    pub total: i64,
    pub total_capped: bool,
    pub page: i64,
}

/// One of two answers, e.g. an action's or, when there was nothing to do, the state as it is.
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

impl<A: IntoResponse, B: IntoResponse> IntoResponse for Either<A, B> {
    fn into_response(self) -> Response {
        match self {
            Either::Left(a) => a.into_response(),
            Either::Right(b) => b.into_response(),
        }
    }
}

impl<A: Answer, B: Answer> Answer for Either<A, B> {
    fn responses(g: &mut SchemaGenerator) -> Map<String, Value> {
        let mut out = A::responses(g);
        for (status, b) in B::responses(g) {
            match out.get_mut(&status) {
                // Both answer with this status: its content is either (`anyOf`: an action's
                // answer holds the other's members too).
                Some(a) => {
                    let (sa, sb) = (
                        a.pointer("/content/application~1json/schema").cloned(),
                        b.pointer("/content/application~1json/schema").cloned(),
                    );
                    if let (Some(sa), Some(sb)) = (sa, sb) {
                        a["content"]["application/json"]["schema"] = json!({ "anyOf": [sa, sb] });
                    }
                }
                None => {
                    out.insert(status, b);
                }
            }
        }
        out
    }
}

/// A read of one thing, and the projector position it reflects.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Read<T> {
    #[serde(flatten)]
    pub body: T,
    pub as_of: AsOf,
}

pub fn read<T>(body: T, as_of: AsOf) -> Result<axum::Json<Read<T>>, ApiError> {
    Ok(axum::Json(Read { body, as_of }))
}
