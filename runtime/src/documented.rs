//! Routes that document themselves. Every route is added through [`Api`], which records its
//! operation beside the handler: the query parameters, body and answers come from the types of
//! the handler's arguments ([`Input`]) and of what it returns ([`Answer`]), so the OpenAPI
//! document ([`openapi`]) cannot list a route that is not served, nor miss one that is,
//! nor describe an answer other than the one the handler's type produces.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::handler::Handler;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

/// What one operation takes and answers, from its handler's types.
#[derive(Debug, Default)]
pub struct Described {
    /// The struct its query string is parsed into.
    pub query: Option<Schema>,
    /// The struct its JSON body is parsed into.
    pub body: Option<Schema>,
    /// The body's whole content object, by media type, when it is more than one JSON type.
    pub body_content: Option<Value>,
    /// By status code, as OpenAPI response objects.
    pub responses: Map<String, Value>,
    /// It takes a credential (the service's document says which).
    pub authenticated: bool,
}

/// What a handler's argument adds to its operation: nothing, unless it reads the request.
pub trait Input {
    fn describe(_op: &mut Described, _g: &mut SchemaGenerator) {}
}

// Path parameters are named by the route's path; the state is not an input.
impl<T> Input for Path<T> {}
impl<T> Input for State<T> {}
impl Input for Uri {}
impl Input for axum::http::HeaderMap {}

/// What a handler's answer is: its responses by status code. Errors are the document's
/// (`routes::openapi`), the same for every route.
pub trait Answer {
    fn responses(g: &mut SchemaGenerator) -> Map<String, Value>;
}

impl<T: Answer, E> Answer for Result<T, E> {
    fn responses(g: &mut SchemaGenerator) -> Map<String, Value> {
        T::responses(g)
    }
}

impl<T: JsonSchema> Answer for axum::Json<T> {
    fn responses(g: &mut SchemaGenerator) -> Map<String, Value> {
        response("200", "OK", json_content(g.subschema_for::<T>()))
    }
}

// An answer with headers of its own (e.g. `Cache-Control`) is its body's answer.
impl<H, T: Answer> Answer for (H, T) {
    fn responses(g: &mut SchemaGenerator) -> Map<String, Value> {
        T::responses(g)
    }
}

/// `{status: {description, content}}`.
pub fn response(status: &str, description: &str, content: Option<Value>) -> Map<String, Value> {
    let mut r = json!({ "description": description });
    if let Some(content) = content {
        r["content"] = content;
    }
    Map::from_iter([(status.to_owned(), r)])
}

/// An `application/json` content object.
pub fn json_content(schema: Schema) -> Option<Value> {
    Some(json!({ "application/json": { "schema": schema } }))
}

/// The handler types whose operations can be described: any `async fn` of [`Input`]s whose
/// output is an [`Answer`]. `Args` is the tuple of its argument types.
pub trait Documented<Args> {
    fn describe(g: &mut SchemaGenerator) -> Described;
}

macro_rules! documented {
    ($($arg:ident),*) => {
        impl<F, Fut, $($arg,)*> Documented<($($arg,)*)> for F
        where
            F: FnOnce($($arg,)*) -> Fut,
            Fut: Future,
            Fut::Output: Answer,
            $($arg: Input,)*
        {
            fn describe(g: &mut SchemaGenerator) -> Described {
                #[allow(unused_mut)]
                let mut op = Described::default();
                $(<$arg as Input>::describe(&mut op, g);)*
                op.responses = <Fut::Output as Answer>::responses(g);
                op
            }
        }
    };
}

documented!();
documented!(A1);
documented!(A1, A2);
documented!(A1, A2, A3);
documented!(A1, A2, A3, A4);
documented!(A1, A2, A3, A4, A5);

/// What a route says of itself beyond its types.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    pub tag: &'static str,
    pub summary: &'static str,
    /// Answers particular to this route (status, description), e.g. a limit's 429.
    pub also: &'static [(&'static str, &'static str)],
}

pub const fn doc(tag: &'static str, summary: &'static str) -> Doc {
    Doc {
        tag,
        summary,
        also: &[],
    }
}

/// One served operation and how to describe it.
pub struct Operation {
    /// `GET`, `POST`, …
    pub method: Method,
    pub path: &'static str,
    pub doc: Doc,
    pub describe: fn(&mut SchemaGenerator) -> Described,
}

/// One method helper of [`Api`] per HTTP method.
macro_rules! methods {
    ($($name:ident => $method:ident,)*) => {
        $(
            #[doc = concat!("Serves `handler` for ", stringify!($method), " on `path`, and records it.")]
            pub fn $name<H, T, Args>(self, path: &'static str, doc: Doc, handler: H) -> Self
            where
                H: Handler<T, S> + Documented<Args>,
                T: 'static,
            {
                self.route(Method::$method, path, doc, handler)
            }
        )*
    };
}

/// A service's document once its routes are all added ([`Api::publish`]).
#[derive(Clone, Default)]
pub struct Published(Arc<OnceLock<Arc<Value>>>);

impl Published {
    /// The document; empty before [`Api::publish`] set it.
    pub fn get(&self) -> Arc<Value> {
        self.0.get().cloned().unwrap_or_default()
    }
}

/// The document, as `GET /openapi.json` answers it.
pub struct Document(pub Arc<Value>);

impl IntoResponse for Document {
    fn into_response(self) -> Response {
        axum::Json(&*self.0).into_response()
    }
}

impl Answer for Document {
    fn responses(_: &mut SchemaGenerator) -> Map<String, Value> {
        response(
            "200",
            "this document",
            Some(json!({"application/json": {"schema": {"type": "object"}}})),
        )
    }
}

/// A router that records every operation it serves.
pub struct Api<S> {
    router: Router<S>,
    operations: Vec<Operation>,
}

impl<S: Clone + Send + Sync + 'static> Default for Api<S> {
    fn default() -> Self {
        Self {
            router: Router::new(),
            operations: Vec::new(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Api<S> {
    /// Serves `handler` for `method` on `path`, and records it.
    pub fn route<H, T, Args>(
        mut self,
        method: Method,
        path: &'static str,
        doc: Doc,
        handler: H,
    ) -> Self
    where
        H: Handler<T, S> + Documented<Args>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("{method} is not a method a route can take"));
        self.router = self.router.route(path, on(filter, handler));
        self.operations.push(Operation {
            method,
            path,
            doc,
            describe: <H as Documented<Args>>::describe,
        });
        self
    }

    methods! {
        get => GET,
        post => POST,
        put => PUT,
        patch => PATCH,
        delete => DELETE,
    }

    /// `GET /_liveness` ([`crate::health::liveness`]) and `GET /_readiness` (`readiness`,
    /// which checks what `summary` says).
    pub fn probes<H, T, Args>(self, summary: &'static str, readiness: H) -> Self
    where
        H: Handler<T, S> + Documented<Args>,
        T: 'static,
    {
        self.get(
            "/_liveness",
            doc("health", "The process serves"),
            crate::health::liveness,
        )
        .get("/_readiness", doc("health", summary), readiness)
    }

    /// Serves `GET /openapi.json`, the document `write` makes of every operation (itself
    /// included), and sets it in `published` for whatever else shows it.
    pub fn publish(self, published: &Published, write: fn(&[Operation]) -> Value) -> Router<S> {
        let serving = published.clone();
        let api = self.get(
            "/openapi.json",
            doc("documentation", "This document"),
            move || {
                let document = serving.get();
                async move { Document(document) }
            },
        );
        let (router, operations) = api.into_parts();
        let _ = published.0.set(Arc::new(write(&operations)));
        router
    }

    /// Applies `f` (a layer) to the routes added so far, as `Router::layer` does.
    pub fn map_router(mut self, f: impl FnOnce(Router<S>) -> Router<S>) -> Self {
        self.router = f(self.router);
        self
    }

    pub fn merge(mut self, other: Api<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.operations.extend(other.operations);
        self
    }

    pub fn into_parts(self) -> (Router<S>, Vec<Operation>) {
        (self.router, self.operations)
    }
}

/// What a service's OpenAPI document says of itself and of every authenticated operation.
pub struct Service {
    pub title: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    /// The security schemes by name; an authenticated operation takes any one of them.
    pub security: Value,
    /// The answers any authenticated operation may give, by status code, unless it names its
    /// own.
    pub errors: fn(&mut SchemaGenerator) -> Map<String, Value>,
}

/// The OpenAPI 3.0 document of `operations`.
pub fn openapi(service: &Service, operations: &[Operation]) -> Value {
    let mut g = schemars::generate::SchemaSettings::openapi3().into_generator();
    let mut paths: Map<String, Value> = Map::new();
    for op in operations {
        let described = (op.describe)(&mut g);
        let mut operation = json!({
            "tags": [op.doc.tag],
            "summary": op.doc.summary,
            "parameters": parameters(op.path, described.query.as_ref()),
        });
        let content = match (described.body_content, described.body) {
            (Some(content), _) => Some(content),
            (None, Some(body)) => Some(json!({"application/json": {"schema": without_meta(body)}})),
            (None, None) => None,
        };
        if let Some(content) = content {
            operation["requestBody"] = json!({ "required": true, "content": content });
        }
        let mut responses = described.responses;
        if described.query.is_some() || operation.get("requestBody").is_some() {
            responses.entry("400").or_insert_with(
                || json!({"description": "a malformed parameter or body, named in `message`"}),
            );
        }
        if described.authenticated {
            let schemes = service.security.as_object().into_iter().flatten();
            operation["security"] = schemes.map(|(name, _)| json!({ name: [] })).collect();
            for (status, answer) in (service.errors)(&mut g) {
                responses.entry(status).or_insert(answer);
            }
        }
        for (status, description) in op.doc.also {
            responses.insert((*status).to_owned(), json!({ "description": description }));
        }
        operation["responses"] = responses.into();
        let method = op.method.as_str().to_ascii_lowercase();
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": service.title,
            "version": service.version,
            "description": service.description,
        },
        "paths": paths,
        "components": {
            "schemas": g.take_definitions(true),
            "securitySchemes": service.security,
        },
    })
}

/// A root schema without its `$schema` member, which OpenAPI 3.0 does not take.
fn without_meta(schema: Schema) -> Value {
    let mut value = schema.to_value();
    if let Some(object) = value.as_object_mut() {
        object.remove("$schema");
    }
    value
}

/// The path's parameters (`{name}`), then the properties of the query struct's schema as
/// query parameters, each with its description.
fn parameters(path: &str, query: Option<&Schema>) -> Vec<Value> {
    let mut out: Vec<Value> = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let Some(query) = query else { return out };
    let value = query.as_value();
    let required: Vec<&str> = value
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, prop) in value
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut prop = prop.clone();
        let description = prop
            .as_object_mut()
            .and_then(|p| p.remove("description"))
            .unwrap_or(Value::Null);
        out.push(json!({
            "name": name,
            "in": "query",
            "required": required.contains(&name.as_str()),
            "description": description,
            "schema": prop,
        }));
    }
    out
}
