//! The train handler fed the fixture event in `events/`.
#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../../ingest/tests/testkit/mod.rs"]
mod testkit;

use polarity_fn_train::{STAGE, StageHandler, handle};
use polarity_pipeline::PipelineConfig;
use polarity_pipeline::stages::StageOutcome;
use testkit::{fixture, fixture_key, invocation, seeded};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_event_trains_registers_and_commits_the_validate_trigger() {
    let t = seeded(STAGE).await;
    let h = StageHandler::new(
        STAGE,
        t.store.clone(),
        Some(t.registry.clone()),
        PipelineConfig::default(),
    );
    let summary = handle(&h, invocation(fixture("train", "put.json")))
        .await
        .unwrap();
    let StageOutcome::Train(m) = &summary.outcomes[0] else {
        panic!("{summary:?}")
    };
    assert!(m.macro_f1 > 0.6, "{m:?}");
    assert_eq!(
        polarity_pipeline::layout::model(&m.version, "manifest.json"),
        fixture_key("validate"),
        "the validate fixture names this version"
    );
    let rec = t.registry.version(&m.version).await.unwrap().unwrap();
    assert_eq!(rec.sha256, m.sha256);
    assert!(
        t.registry.production().await.unwrap().is_none(),
        "training never promotes"
    );
    let again = handle(&h, invocation(fixture("train", "put.json")))
        .await
        .unwrap();
    assert_eq!(again.outcomes[0].result(), "already");
    assert_eq!(t.registry.versions().await.unwrap().len(), 1);
}

#[tokio::test]
async fn train_without_a_registry_is_a_configuration_error() {
    let e = polarity_fn_train::FunctionConfig::from_vars(STAGE, |k| {
        (k == "POLARITY_STORE").then(|| "s3://b".into())
    })
    .unwrap_err();
    assert!(e.to_string().contains("POLARITY_REGISTRY"));
}
