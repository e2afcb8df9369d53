//! Shared by the function tests: the fixture events in `events/`, and local twins seeded by running the
//! earlier stages on the keys of the earlier fixtures, so the fixtures are checked to chain into one
//! another. The fixtures' keys are what the layout gives for `examples/reviews.csv` with the default
//! settings (`fixture_events_are_what_the_layout_gives` checks them; `UPDATE_FIXTURES=1` rewrites them).
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{Context, LambdaEvent};
use polarity_pipeline::events::object_refs;
use polarity_pipeline::records::StageOutcome;
use polarity_pipeline::registry::{FileRegistry, Registry};
use polarity_pipeline::stages::{Ctx, run_stage};
use polarity_pipeline::store::{LocalStore, ObjectStore};
use polarity_pipeline::tracker::NoTracker;
use polarity_pipeline::{PipelineConfig, Stage};

pub const CRATE: &str = env!("CARGO_MANIFEST_DIR");

/// The sample upload every fixture chains from.
pub fn sample() -> Vec<u8> {
    std::fs::read(format!("{CRATE}/../examples/reviews.csv")).unwrap()
}

/// A fixture event of one function.
pub fn fixture(function: &str, name: &str) -> S3Event {
    let path = format!("{CRATE}/events/{function}/{name}");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The decoded key a function's `put.json` names.
pub fn fixture_key(function: &str) -> String {
    object_refs(&fixture(function, "put.json")).remove(0).key
}

pub fn invocation(event: S3Event) -> LambdaEvent<S3Event> {
    LambdaEvent::new(event, Context::default())
}

pub struct Twins {
    pub _dir: tempfile::TempDir,
    pub store: Arc<dyn ObjectStore>,
    pub registry: Arc<dyn Registry>,
}

/// Local twins holding the sample upload at the ingest fixture's key, with every stage before `stage`
/// already run on the earlier fixtures' keys.
pub async fn seeded(stage: Stage) -> Twins {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(dir.path().join("bucket")));
    let registry: Arc<dyn Registry> = Arc::new(FileRegistry::new(dir.path().join("registry.json")));
    store
        .put(&fixture_key("ingest"), sample().into())
        .await
        .unwrap();
    let cfg = PipelineConfig::default();
    for s in Stage::ALL.iter().take_while(|s| **s != stage) {
        let ctx = Ctx {
            store: store.as_ref(),
            registry: Some(registry.as_ref()),
            cfg: &cfg,
            tracker: &NoTracker,
            launcher: None,
        };
        let out = run_stage(*s, ctx, &fixture_key(s.as_str())).await.unwrap();
        assert!(
            !matches!(out, StageOutcome::Skipped { .. }),
            "seeding {s:?} from its fixture: {out:?}"
        );
    }
    Twins {
        _dir: dir,
        store,
        registry,
    }
}
