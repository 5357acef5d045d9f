//! The key store under concurrent requests: requests that need new keys at once share one
//! commit, and every one of them still gets the one key of each subject it asked for.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use runtime::subject_keys::{Subject, SubjectKeys};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_overlapping_subjects_get_one_key_each() {
    let pool = common::fresh_pool().await;
    let keys = Arc::new(SubjectKeys::new(pool.clone()));
    let subject = |i: usize| -> Subject { (format!("site-{}", i % 3), format!("conv-{i}")) };
    // 40 requests, each for 5 subjects, every subject wanted by several requests.
    let requests: Vec<_> = (0..40)
        .map(|r| {
            let keys = keys.clone();
            tokio::spawn(async move {
                let wanted: Vec<Subject> = (0..5).map(|k| subject((r * 3 + k * 7) % 60)).collect();
                let got = keys.for_subjects(wanted.clone()).await.unwrap();
                assert!(wanted.iter().all(|s| got.contains_key(s)), "{wanted:?}");
                got
            })
        })
        .collect();
    let mut seen: HashMap<Subject, uuid::Uuid> = HashMap::new();
    for request in requests {
        for (s, key) in request.await.unwrap() {
            let first = *seen.entry(s.clone()).or_insert(key.id);
            assert_eq!(first, key.id, "two keys for {s:?}");
        }
    }
    let stored: Vec<(String, String, uuid::Uuid)> =
        sqlx::query_as("SELECT website_id, subject, key_id FROM colloquy.subject_keys")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(stored.len(), seen.len());
    for (website, subject, id) in stored {
        assert_eq!(seen[&(website, subject)], id);
    }
}
