//! The ingest handler fed the fixture events in `events/`.
#![allow(missing_docs, clippy::unwrap_used)]

mod testkit;

use polarity_fn_ingest::{STAGE, StageHandler, handle};
use polarity_pipeline::PipelineConfig;
use polarity_pipeline::layout;
use polarity_pipeline::stages::StageOutcome;
use testkit::{fixture, fixture_key, invocation, seeded};

#[tokio::test]
async fn put_event_ingests_the_url_encoded_key_and_commits_the_process_trigger() {
    let t = seeded(STAGE).await;
    assert_eq!(fixture_key("ingest"), "incoming/my reviews.csv");
    let h = StageHandler::new(STAGE, t.store.clone(), None, PipelineConfig::default());
    let summary = handle(&h, invocation(fixture("ingest", "put.json")))
        .await
        .unwrap();
    assert_eq!(summary.ignored, 0);
    let StageOutcome::Ingest(m) = &summary.outcomes[0] else {
        panic!("{summary:?}")
    };
    assert_eq!((m.rows_in, m.accepted, m.quarantined), (4000, 4000, 0));
    assert_eq!(
        layout::raw(&m.dataset, "manifest.json"),
        fixture_key("process"),
        "the process fixture names this dataset"
    );
    assert!(t.store.exists(&fixture_key("process")).await.unwrap());
    // delivered again: nothing new
    let again = handle(&h, invocation(fixture("ingest", "put.json")))
        .await
        .unwrap();
    assert_eq!(again.outcomes[0].result(), "already");
}

#[tokio::test]
async fn other_events_are_ignored() {
    let t = seeded(STAGE).await;
    let h = StageHandler::new(STAGE, t.store.clone(), None, PipelineConfig::default());
    let removed = handle(&h, invocation(fixture("ingest", "delete.json")))
        .await
        .unwrap();
    assert_eq!((removed.ignored, removed.outcomes.len()), (1, 0));
    let not_mine = handle(&h, invocation(fixture("process", "put.json")))
        .await
        .unwrap();
    assert_eq!((not_mine.ignored, not_mine.outcomes.len()), (1, 0));
    assert!(t.store.list("raw/").await.unwrap().is_empty());
}

#[tokio::test]
async fn store_failures_reach_the_runtime_as_errors() {
    // a store whose root is a file: every write fails, and the handler must say so (Lambda retries)
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let store = std::sync::Arc::new(polarity_pipeline::store::LocalStore::new(&file));
    let h = StageHandler::new(STAGE, store, None, PipelineConfig::default());
    let err = handle(&h, invocation(fixture("ingest", "put.json")))
        .await
        .unwrap_err();
    assert!(err.error_type.starts_with("store"), "{err:?}");
}
