//! The validate handler fed the fixture event in `events/`.
#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../../ingest/tests/testkit/mod.rs"]
mod testkit;

use polarity_fn_validate::{STAGE, StageHandler, handle};
use polarity_pipeline::PipelineConfig;
use polarity_pipeline::stages::StageOutcome;
use testkit::{fixture, invocation, seeded};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_event_promotes_the_first_candidate_once() {
    let t = seeded(STAGE).await;
    let h = StageHandler::new(
        STAGE,
        t.store.clone(),
        Some(t.registry.clone()),
        PipelineConfig::default(),
    );
    let summary = handle(&h, invocation(fixture("validate", "put.json")))
        .await
        .unwrap();
    let StageOutcome::Validate(d) = &summary.outcomes[0] else {
        panic!("{summary:?}")
    };
    assert!(d.promoted, "{d:?}");
    assert_eq!(
        t.registry.production().await.unwrap().map(|r| r.version),
        Some(d.version.clone())
    );
    assert!(
        t.store
            .exists(&polarity_pipeline::layout::decision(&d.version))
            .await
            .unwrap()
    );
    let again = handle(&h, invocation(fixture("validate", "put.json")))
        .await
        .unwrap();
    assert_eq!(again.outcomes[0].result(), "already");
    assert_eq!(t.registry.history().await.unwrap().len(), 1);
}
