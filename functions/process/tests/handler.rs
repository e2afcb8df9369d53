//! The process handler fed the fixture event in `events/`.
#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../../ingest/tests/testkit/mod.rs"]
mod testkit;

use polarity_fn_process::{STAGE, StageHandler, handle};
use polarity_pipeline::PipelineConfig;
use polarity_pipeline::stages::StageOutcome;
use testkit::{fixture, fixture_key, invocation, seeded};

#[tokio::test]
async fn put_event_splits_the_dataset_and_commits_the_train_trigger() {
    let t = seeded(STAGE).await;
    let h = StageHandler::new(STAGE, t.store.clone(), None, PipelineConfig::default());
    let summary = handle(&h, invocation(fixture("process", "put.json")))
        .await
        .unwrap();
    let StageOutcome::Process(m) = &summary.outcomes[0] else {
        panic!("{summary:?}")
    };
    let (train, test): (u64, u64) = (m.train.values().sum(), m.test.values().sum());
    assert_eq!(m.rows_in, train + test + m.duplicates + m.empty);
    assert!(test > 500 && test < 1100, "about 20% held out: {test}");
    assert!(
        t.store.exists(&fixture_key("train")).await.unwrap(),
        "the train fixture names this manifest"
    );
    let again = handle(&h, invocation(fixture("process", "put.json")))
        .await
        .unwrap();
    assert_eq!(again.outcomes[0].result(), "already");
}
