//! The API document against the routes served.

use super::*;

/// Both directions: every documented operation is served (not the router's 404 or 405), and
/// on a documented path no other method is (405).
#[tokio::test]
async fn every_documented_operation_is_served_and_nothing_else_on_its_paths() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 8, "{}", paths.len());
    for (path, methods) in paths {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let documented = methods.get(method.to_lowercase()).is_some();
            let response = app
                .http
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                    format!("{}{path}", app.url),
                )
                .header("X-Write-Key", KEY)
                .header("Content-Type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            if documented {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                assert_ne!(status, 405, "{method} {path}");
                assert!(
                    status != 404 || body.get("error").is_some(),
                    "{method} {path}"
                );
                assert!(status < 500, "{method} {path}: {status} {body}");
            } else {
                assert_eq!(status, 405, "{method} {path} is served but not documented");
            }
        }
    }
    // A handler's answer type is its documented answer.
    let events = &doc["paths"]["/v1/events"]["post"]["responses"]["200"]["content"]["application/json"]
        ["schema"]["$ref"];
    let name = events.as_str().unwrap().rsplit('/').next().unwrap();
    let answer = &doc["components"]["schemas"][name]["properties"];
    for member in ["accepted", "rejected", "event_ids"] {
        assert!(answer.get(member).is_some(), "{member}: {answer}");
    }
}

/// Routes are added only through `runtime::documented::Api`; the one exception is the metrics
/// listener, another port with Prometheus's own format.
#[test]
fn no_public_route_is_added_past_the_documenting_router() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = runtime::testing::undocumented_routes(&src, &["metrics_router"]);
    assert!(
        found.is_empty(),
        "undocumented routes:\n{}",
        found.join("\n")
    );
}
