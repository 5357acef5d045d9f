//! The query API over a real, migrated Postgres whose read models were written by the
//! projector's own `apply_batch`.

use schemas::Payload;
use schemas::Sender;
use schemas::payloads::WidgetLoaded;
use serde_json::Value;

use crate::common::{event, message, spawn_app};

#[tokio::test]
async fn conversations_are_listed_newest_activity_first_and_filtered_by_website() {
    let app = spawn_app().await;
    app.given(vec![
        event(
            "a",
            "old",
            0,
            Payload::WidgetLoaded(WidgetLoaded::default()),
        ),
        message("a", "new", 50, Sender::User, "hi"),
        message("b", "other-site", 100, Sender::User, "hi"),
    ])
    .await;
    let (status, body) = app.api().conversations("website_id=a").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["new", "old"]);
    let (_, all) = app.api().conversations("limit=1").await;
    assert_eq!(all["conversations"][0]["conversation_id"], "other-site");
    assert_eq!(all["count"], 1);
}

#[tokio::test]
async fn a_conversation_detail_carries_its_messages_in_order() {
    let app = spawn_app().await;
    app.given(vec![
        message("a", "c", 2, Sender::Bot, "second"),
        message("a", "c", 1, Sender::User, "first"),
    ])
    .await;
    let (status, body) = app.api().conversation("c", "").await;
    assert_eq!(status, 200);
    assert_eq!(body["conversation"]["message_count"], 2);
    let texts: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first", "second"]);
}

#[tokio::test]
async fn an_unknown_conversation_is_404() {
    let app = spawn_app().await;
    assert_eq!(app.api().conversation("nope", "").await.0, 404);
}

#[tokio::test]
async fn an_id_used_by_two_websites_needs_the_website_to_be_named() {
    let app = spawn_app().await;
    app.given(vec![
        message("a", "c", 1, Sender::User, "x"),
        message("b", "c", 1, Sender::User, "y"),
    ])
    .await;
    assert_eq!(app.api().conversation("c", "").await.0, 400);
    let (status, body) = app.api().conversation("c", "website_id=b").await;
    assert_eq!(status, 200);
    assert_eq!(body["messages"][0]["text"], "y");
}

#[tokio::test]
async fn bad_query_parameters_are_400_not_500() {
    let app = spawn_app().await;
    for path in [
        "/v1/conversations?limit=0",
        "/v1/conversations?limit=100000",
        "/v1/conversations?limit=ten",
        "/v1/conversations?colour=red",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "bad_request");
    }
}

#[tokio::test]
async fn every_v1_route_needs_the_admin_token() {
    let app = spawn_app().await;
    for path in ["/v1/conversations", "/v1/conversations/c"] {
        let anonymous = app.fetch(path, None).await;
        assert_eq!(anonymous.status(), 401, "{path}");
        let wrong = app.fetch(path, Some("wrong")).await;
        assert_eq!(wrong.status(), 401, "{path}");
    }
}

#[tokio::test]
async fn conversation_filters_narrow_the_list() {
    let app = spawn_app().await;
    app.given(crate::common::two_websites()).await;
    let ids = |body: &Value| -> Vec<String> {
        let mut ids: Vec<String> = body["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["conversation_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    for (query, expected) in [
        ("website_id=a", vec!["c1", "c2", "c3"]),
        ("status=closed", vec!["c3"]),
        ("status=loaded", vec!["c1"]),
        ("has_contact=true", vec!["c2", "x1"]),
        ("has_contact=false&website_id=a", vec!["c1", "c3"]),
        ("requires_human=true", vec!["c2"]),
        ("q=pro%20PLAN", vec!["c2"]),
        ("q=100%25", vec![]),
        ("channel=frame&website_id=b", vec!["x1"]),
        (
            "from=2026-09-21&to=2026-09-21",
            vec!["c1", "c2", "c3", "x1"],
        ),
        ("from=2026-09-22", vec![]),
    ] {
        let (status, body) = app.api().conversations(query).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(ids(&body), expected, "{query}");
    }
}

#[tokio::test]
async fn cursor_pages_cover_every_conversation_once_in_order() {
    let app = spawn_app().await;
    let events: Vec<_> = (0..7)
        .map(|i| message("a", &format!("c{i}"), i * 10, Sender::User, "hi"))
        .collect();
    app.given(events).await;
    for sort in ["-last_activity_at", "first_seen_at"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/conversations?limit=3&sort={sort}&cursor={c}"),
                None => format!("/v1/conversations?limit=3&sort={sort}"),
            };
            let (status, body) = app.get(&path).await;
            assert_eq!(status, 200, "{body}");
            for c in body["conversations"].as_array().unwrap() {
                seen.push(c["conversation_id"].as_str().unwrap().to_owned());
            }
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let mut expected: Vec<String> = (0..7).map(|i| format!("c{i}")).collect();
        if sort.starts_with('-') {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{sort}");
    }
}

#[tokio::test]
async fn stats_give_rates_the_previous_period_and_a_series() {
    let app = spawn_app().await;
    app.given(crate::common::two_websites()).await;
    let (status, body) = app
        .api()
        .stats("website_id=a&from=2026-09-15&to=2026-09-21")
        .await;
    assert_eq!(status, 200, "{body}");
    let current = &body["current"];
    assert_eq!(current["widget_loads"], 2);
    assert_eq!(current["engaged_conversations"], 2);
    // Of the two loaded widgets (c1, c2) one engaged; c3 engaged without a load.
    assert_eq!(current["loaded_engaged_conversations"], 1);
    assert_eq!(current["engaged_without_load"], 1);
    assert_eq!(current["interaction_rate"], 0.5);
    assert_eq!(current["messages"], 3);
    assert_eq!(current["avg_messages_per_conversation"], 1.5);
    assert_eq!(current["cta_clicks"], 1);
    assert_eq!(current["cta_rate"], 0.5);
    assert_eq!(current["contact_requests"], 1);
    assert_eq!(current["conversion_rate"], 0.5);
    assert_eq!(current["escalated_conversations"], 1);
    assert_eq!(current["escalation_rate"], 0.5);
    assert_eq!(current["unique_visitors"], 3);
    assert_eq!(body["previous"]["from"], "2026-09-08");
    assert_eq!(body["previous"]["widget_loads"], 0);
    assert_eq!(body["series"].as_array().unwrap().len(), 7);
    assert_eq!(body["series"][6]["widget_loads"], 2);
    let (_, hourly) = app
        .api()
        .stats("website_id=a&from=2026-09-21&to=2026-09-21&interval=hour")
        .await;
    let hours = hourly["series"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let loads: i64 = hours
        .iter()
        .map(|h| h["widget_loads"].as_i64().unwrap())
        .sum();
    assert_eq!(loads, 2);
    // The hours add up to their day, for every kind of message.
    for sender in ["user_messages", "bot_messages"] {
        let by_hour: i64 = hours.iter().map(|h| h[sender].as_i64().unwrap()).sum();
        assert!(by_hour > 0, "no {sender} by hour");
        assert_eq!(
            by_hour,
            body["series"][6][sender].as_i64().unwrap(),
            "{sender}"
        );
    }
    assert!(body["as_of"].is_object());
}

#[tokio::test]
async fn the_breakdown_counts_engaged_conversations_by_channel_and_device() {
    let app = spawn_app().await;
    let on = |conversation: &str, seconds, channel: &str, device: Option<&str>| {
        let mut e = message("a", conversation, seconds, Sender::User, "Hi");
        e.context.channel = channel.into();
        e.context.device = device.map(str::to_owned);
        e
    };
    app.given(vec![
        on("m1", 0, "frame", Some("mobile")),
        on("m1", 5, "frame", Some("mobile")),
        on("m2", 10, "frame", Some("mobile")),
        on("d1", 20, "whatsapp", Some("desktop")),
        on("u1", 30, "frame", None),
        // Loaded only: not an engaged conversation.
        event(
            "a",
            "l1",
            40,
            Payload::WidgetLoaded(WidgetLoaded::default()),
        ),
        // Another website's.
        message("b", "x1", 50, Sender::User, "Hello from b"),
    ])
    .await;
    let (status, body) = app
        .api()
        .breakdown("website_id=a&from=2026-09-21&to=2026-09-21")
        .await;
    assert_eq!(status, 200, "{body}");
    let shares = |dimension: &str| -> Vec<(String, i64, i64)> {
        body[dimension]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["key"].as_str().unwrap().to_owned(),
                    s["conversations"].as_i64().unwrap(),
                    s["messages"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        shares("by_channel"),
        [("frame".into(), 3, 4), ("whatsapp".into(), 1, 1)]
    );
    assert_eq!(
        shares("by_device"),
        [
            ("mobile".into(), 2, 3),
            ("desktop".into(), 1, 1),
            ("unknown".into(), 1, 1)
        ]
    );
    // A day without traffic has no shares, and a scoped token sees only its websites.
    let (_, empty) = app
        .api()
        .breakdown("website_id=a&from=2026-09-22&to=2026-09-22")
        .await;
    assert_eq!(empty["by_channel"], serde_json::json!([]));
    let token = app.token_for(&["b"]).await;
    let (_, theirs) = app
        .api_as(&token)
        .breakdown("from=2026-09-21&to=2026-09-21")
        .await;
    assert_eq!(theirs["by_channel"][0]["conversations"], 1);
    assert_eq!(theirs["by_channel"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn no_combination_of_bad_parameters_is_a_server_error() {
    let app = spawn_app().await;
    app.given(crate::common::two_websites()).await;
    let bad = [
        "/v1/conversations?status=open",
        "/v1/conversations?from=2026-13-01",
        "/v1/conversations?from=2026-09-10&to=2026-09-01",
        "/v1/conversations?cursor=garbage",
        "/v1/conversations?cursor=e30",
        "/v1/conversations?sort=colour",
        "/v1/conversations?has_contact=maybe",
        "/v1/conversations?limit=-1",
        "/v1/contacts?created=yesterday",
        "/v1/contacts?created=7d&from=2026-01-01",
        "/v1/contacts?page=0",
        "/v1/contacts?lead_status=hot",
        "/v1/contacts?sort=email",
        "/v1/contact-requests?status=done",
        "/v1/contact-requests?limit=100000",
        "/v1/stats?from=yesterday",
        "/v1/stats?interval=minute",
        "/v1/stats?from=2026-01-01&to=2026-12-31&interval=hour",
        "/v1/stats?from=1900-01-01&to=2026-01-01",
        "/analytics/summary?start_date=2026-02-30",
        "/analytics/export?end_date=soon",
        "/api/v1/contacts?page=abc",
        "/admin/conversations?limit=0",
    ];
    for path in bad {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}"
        );
    }
    let odd_but_fine = [
        "/v1/conversations?q=%27%3B%20DROP%20TABLE%20conversations%3B--",
        "/v1/conversations?q=%5C%25_",
        "/v1/contacts?q=%25%25",
        "/v1/conversations?website_id=nobody",
    ];
    for path in odd_but_fine {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}

#[tokio::test]
async fn every_documented_operation_is_served_and_the_docs_page_lists_it() {
    // With a mail server, so that sending reports is among what is served.
    let sink = runtime::mailsink::MailSink::start("127.0.0.1:0", None)
        .await
        .unwrap();
    let email = crate::common::mail_config(&sink, query_api::mail::Security::None);
    let app = crate::common::spawn_app_with(|c| c.email = Some(email)).await;
    let response = app.fetch("/openapi.json", None).await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let docs = app.fetch("/docs", None).await.text().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 25, "{}", paths.len());
    for (path, methods) in paths {
        assert!(
            docs.contains(&path.replace('&', "&amp;")),
            "{path} not on /docs"
        );
        let concrete = path.replace("{id}", "nope");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let documented = methods.get(method.to_lowercase()).is_some();
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let body = (method != reqwest::Method::GET).then(|| serde_json::json!({}));
            let response = app
                .send(method.clone(), &concrete, Some(crate::common::TOKEN), body)
                .await;
            let status = response.status().as_u16();
            if !documented {
                // Served only as documented: another method on the path is the router's 405.
                assert_eq!(status, 405, "{method} {path} is served but not documented");
                continue;
            }
            // A stream never ends: its status is the answer.
            let streams = response
                .headers()
                .get("content-type")
                .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
            let body: Value = if streams {
                Value::Null
            } else {
                let text = response.text().await.unwrap();
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            };
            // Served: whatever the answer, it comes from a handler, not the router's fallback.
            assert_ne!(status, 405, "{method} {path}");
            assert!(
                status != 404 || body.get("error").is_some(),
                "{method} {path} is not routed"
            );
            assert!(status < 500, "{method} {path}: {status} {body}");
        }
    }
    // Query parameters come from the structs the handlers parse, with their doc comments.
    let params = doc["paths"]["/v1/conversations"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let q = params.iter().find(|p| p["name"] == "q").unwrap();
    assert!(q["description"].as_str().unwrap().contains("message"));
}

/// The reverse direction: every route the code serves is documented. Routes are added only
/// through `runtime::documented::Api`, which documents each; a route added any other way
/// (`Router::route`, `nest`, a fallback) would be served undocumented, so none may be, in any
/// source file of the service. The one exception is the metrics listener, another port with
/// Prometheus's own format.
#[test]
fn no_route_is_added_past_the_documenting_router() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = runtime::testing::undocumented_routes(&src, &["metrics_router"]);
    assert!(
        found.is_empty(),
        "routes added without documentation:\n{}",
        found.join("\n")
    );
}

/// Every answer the document describes is the schema of the type its handler returns: an
/// action's 200 is `{...state, event_id}`, a list's rows sit under their name with `as_of`.
#[tokio::test]
async fn the_document_describes_answers_by_their_types() {
    let app = spawn_app().await;
    let doc: Value = app.fetch("/openapi.json", None).await.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    let resolve = |schema: &Value| -> Value {
        match schema["$ref"].as_str() {
            Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
            None => schema.clone(),
        }
    };
    let ok = |path: &str, method: &str, status: &str| {
        resolve(
            &doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"],
        )
    };
    let list = ok("/v1/conversations", "get", "200");
    for member in [
        "conversations",
        "count",
        "total",
        "total_capped",
        "next_cursor",
        "as_of",
    ] {
        assert!(list["properties"].get(member).is_some(), "{member}: {list}");
    }
    let closed = ok("/v1/conversations/{id}/close", "post", "200");
    assert!(closed["properties"].get("event_id").is_some(), "{closed}");
    assert!(
        closed["properties"].get("conversation").is_some(),
        "{closed}"
    );
    let created = ok("/v1/websites", "post", "201");
    assert!(
        created["properties"].get("website_id").is_some(),
        "{created}"
    );
    let stats = ok("/v1/stats", "get", "200");
    for member in ["current", "previous", "change", "series", "as_of"] {
        assert!(
            stats["properties"].get(member).is_some(),
            "{member}: {stats}"
        );
    }
}

/// Hostile strings in every documented query and path parameter of every read, one parameter
/// at a time: never a server error, and the data is as it was afterwards.
#[tokio::test]
async fn injection_strings_in_every_parameter_are_never_a_server_error_and_change_nothing() {
    let app = spawn_app().await;
    app.given(crate::common::two_websites()).await;
    let counts = || async {
        sqlx::query_as::<_, (i64, i64, i64, i64)>(
            "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages),
                    (SELECT count(*) FROM contacts),
                    (SELECT count(*) FROM pg_tables WHERE schemaname = current_schema())",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let before = counts().await;
    let hostile = [
        "' OR '1'='1",
        "'; DROP TABLE conversations; --",
        "\" OR \"\"=\"",
        "1) OR (1=1",
        "%",
        "_",
        "\\",
        "$1",
        "NULL",
        "../../etc/passwd",
        "=cmd|' /C calc'!A0",
        "𝕏'\u{0}",
        &"A".repeat(5_000),
    ];
    let doc: Value = app.fetch("/openapi.json", None).await.json().await.unwrap();
    let mut tried = 0;
    for (path, methods) in doc["paths"].as_object().unwrap() {
        let Some(get) = methods.get("get") else {
            continue;
        };
        let params = get["parameters"].as_array().cloned().unwrap_or_default();
        for param in &params {
            let name = param["name"].as_str().unwrap();
            for value in hostile {
                let encoded: String =
                    serde_urlencoded::to_string([("v", value)]).unwrap()[2..].to_owned();
                let concrete = if param["in"] == "path" {
                    path.replace(&format!("{{{name}}}"), &encoded)
                } else {
                    let base = path.replace("{id}", "c1").replace("{kind}", "contacts");
                    format!("{base}?{name}={encoded}")
                };
                let (status, body) = app.get(&concrete).await;
                assert!(status < 500, "{concrete}: {status} {body}");
                tried += 1;
            }
        }
    }
    assert!(tried > 300, "only {tried} requests");
    assert_eq!(counts().await, before, "a request changed the data");
}

#[tokio::test]
async fn the_dashboard_is_served_whole_with_a_policy_that_refuses_other_origins() {
    let app = spawn_app().await;
    let page = app.fetch("/admin", None).await;
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    // Everything it loads comes from query-api itself: no CDN, works offline.
    for asset in ["/admin/assets/app.js", "/admin/assets/app.css"] {
        assert!(html.contains(asset), "{asset} not in the page");
        let response = app.fetch(asset, None).await;
        assert_eq!(response.status(), 200, "{asset}");
        let text = response.text().await.unwrap();
        // The SVG namespace is a name, not a place anything is loaded from.
        let text = text.replace("http://www.w3.org/2000/svg", "");
        assert!(!text.contains("http"), "{asset} names another origin");
    }
    assert!(!html.contains("http"), "the page names another origin");
}
