//! The checked-in JSON Schema files must match the Rust types.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use std::path::PathBuf;

#[test]
fn checked_in_json_schemas_match_the_rust_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("json");
    let update = std::env::var_os("UPDATE_JSON_SCHEMAS").is_some();
    let mut drifted = Vec::new();
    for (name, generated) in schemas::json_schema::documents() {
        let path = dir.join(&name);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(on_disk) if on_disk == generated => {}
            _ => drifted.push(name),
        }
    }
    assert!(
        drifted.is_empty(),
        "JSON Schema files out of date: {drifted:?}; run UPDATE_JSON_SCHEMAS=1 cargo test -p schemas"
    );
}

#[test]
fn every_event_type_has_a_payload_schema_file() {
    let names: Vec<String> = schemas::json_schema::documents()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for t in schemas::EventType::ALL {
        assert!(
            names
                .iter()
                .any(|n| n.starts_with(&format!("payloads/{}.", t.name()))),
            "{t:?}"
        );
    }
}
