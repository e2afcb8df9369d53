//! The four stage functions' handler fed the fixture events in `events/`, as the Lambda runtime would.
#![allow(missing_docs, clippy::unwrap_used, clippy::panic)]

mod testkit;

use polarity_functions::stage::handle;
use polarity_pipeline::handler::StageHandler;
use polarity_pipeline::layout::{self, MANIFEST};
use polarity_pipeline::records::{Outcome, StageOutcome};
use polarity_pipeline::{PipelineConfig, Stage};
use testkit::{fixture, fixture_key, invocation, sample, seeded};

#[test]
fn fixture_events_are_what_the_layout_gives() {
    let dataset = layout::dataset_id(&sample(), None);
    let version = polarity_pipeline::stages::train::version_for(
        std::slice::from_ref(&dataset),
        &PipelineConfig::default(),
    );
    let want = [
        ("ingest", "incoming/my reviews.csv".to_string()),
        ("process", layout::raw(&dataset, MANIFEST)),
        ("train", layout::processed(&dataset, MANIFEST)),
        ("validate", layout::model(&version, MANIFEST)),
    ];
    for (f, key) in want {
        if std::env::var_os("UPDATE_FIXTURES").is_some() {
            let path = format!("{}/events/{f}/put.json", testkit::CRATE);
            let mut v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            v["Records"][0]["s3"]["object"]["key"] = layout::encode_s3_key(&key).into();
            std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
        }
        assert_eq!(
            fixture_key(f),
            key,
            "events/{f}/put.json (UPDATE_FIXTURES=1 rewrites it)"
        );
    }
}

#[tokio::test]
async fn ingest_put_event_ingests_the_url_encoded_key_and_commits_the_process_trigger() {
    let t = seeded(Stage::Ingest).await;
    let h = StageHandler::new(
        Stage::Ingest,
        t.store.clone(),
        None,
        PipelineConfig::default(),
    );
    let summary = handle(&h, invocation(fixture("ingest", "put.json")))
        .await
        .unwrap();
    assert_eq!(summary.ignored, 0);
    let StageOutcome::Ingest(m) = &summary.outcomes[0] else {
        panic!("{summary:?}")
    };
    assert_eq!((m.rows_in, m.accepted, m.quarantined), (4000, 4000, 0));
    assert!(t.store.exists(&fixture_key("process")).await.unwrap());
    let again = handle(&h, invocation(fixture("ingest", "put.json")))
        .await
        .unwrap();
    assert_eq!(again.outcomes[0].result(), Outcome::Already);
}

#[tokio::test]
async fn other_events_are_ignored() {
    let t = seeded(Stage::Ingest).await;
    let h = StageHandler::new(
        Stage::Ingest,
        t.store.clone(),
        None,
        PipelineConfig::default(),
    );
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
    let h = StageHandler::new(Stage::Ingest, store, None, PipelineConfig::default());
    let e = handle(&h, invocation(fixture("ingest", "put.json")))
        .await
        .unwrap_err();
    assert!(e.error_type.starts_with("store"), "{e:?}");
}

#[tokio::test]
async fn process_put_event_splits_the_dataset_and_commits_the_train_trigger() {
    let t = seeded(Stage::Process).await;
    let h = StageHandler::new(
        Stage::Process,
        t.store.clone(),
        Some(t.registry.clone()),
        PipelineConfig::default(),
    );
    let summary = handle(&h, invocation(fixture("process", "put.json")))
        .await
        .unwrap();
    let StageOutcome::Process(m) = &summary.outcomes[0] else {
        panic!("{summary:?}")
    };
    let (train, test): (u64, u64) = (m.train.values().sum(), m.test.values().sum());
    assert_eq!(m.rows_in, train + test + m.duplicates + m.empty);
    assert!(test > 500 && test < 1100, "about 20% held out: {test}");
    assert!(m.gate.is_none(), "no production model to gate against yet");
    assert!(
        t.store.exists(&fixture_key("train")).await.unwrap(),
        "the train fixture names this manifest"
    );
    let again = handle(&h, invocation(fixture("process", "put.json")))
        .await
        .unwrap();
    assert_eq!(again.outcomes[0].result(), Outcome::Already);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn train_put_event_trains_registers_and_commits_the_validate_trigger() {
    let t = seeded(Stage::Train).await;
    let h = StageHandler::new(
        Stage::Train,
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
        layout::model(&m.version, MANIFEST),
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
    assert_eq!(again.outcomes[0].result(), Outcome::Already);
    assert_eq!(t.registry.versions().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_function_without_its_backends_is_a_configuration_error() {
    let e = polarity_functions::stage::FunctionConfig::parse(["--store", "s3://b"]).unwrap_err();
    assert!(e.to_string().contains("POLARITY_REGISTRY"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_put_event_promotes_the_first_candidate_once() {
    let t = seeded(Stage::Validate).await;
    let h = StageHandler::new(
        Stage::Validate,
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
    assert!(t.store.exists(&layout::decision(&d.version)).await.unwrap());
    let again = handle(&h, invocation(fixture("validate", "put.json")))
        .await
        .unwrap();
    assert_eq!(again.outcomes[0].result(), Outcome::Already);
    assert_eq!(t.registry.history().await.unwrap().len(), 1);
}

/// Train above `POLARITY_TRAIN_MAX_ROWS`: the function starts one task (a redelivered event starts none), and
/// the task entry point then trains the same version and writes what the function would have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn train_above_the_row_limit_starts_one_task_and_the_task_trains() {
    use polarity_functions::stage::{FunctionConfig, run_task};
    use polarity_pipeline::dispatch::MemoryLauncher;
    let t = seeded(Stage::Train).await;
    let root = t._dir.path();
    let args = |max_rows: &str| {
        let store = format!("file://{}", root.join("bucket").display());
        let registry = format!("file://{}", root.join("registry.json").display());
        let owned: Vec<String> = [
            "--store",
            &store,
            "--registry",
            &registry,
            "--train-max-rows",
            max_rows,
            "--task-cluster",
            "polarity",
            "--task-definition",
            "polarity-train-task",
            "--task-subnets",
            "subnet-1,subnet-2",
            "--task-security-groups",
            "sg-1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        FunctionConfig::parse(owned).unwrap()
    };
    let ecs = std::sync::Arc::new(MemoryLauncher::default());
    let h = StageHandler::new(
        Stage::Train,
        t.store.clone(),
        Some(t.registry.clone()),
        args("100").pipeline,
    )
    .with_launcher(Some(ecs.clone()));
    let summary = handle(&h, invocation(fixture("train", "put.json")))
        .await
        .unwrap();
    let StageOutcome::Dispatched(d) = &summary.outcomes[0] else {
        panic!("{summary:?}")
    };
    assert_eq!(summary.outcomes[0].result(), Outcome::Dispatched);
    assert!(
        d.rows > 100 && d.max_rows == 100 && d.task_arn.is_some(),
        "{d:?}"
    );
    assert_eq!(ecs.started(), [fixture_key("train")]);
    assert!(
        t.store
            .exists(&layout::model(&d.version, "dispatch.json"))
            .await
            .unwrap()
    );
    assert!(
        !t.store.exists(&fixture_key("validate")).await.unwrap(),
        "the function trained nothing"
    );
    let again = handle(&h, invocation(fixture("train", "put.json")))
        .await
        .unwrap();
    assert_eq!(again.outcomes[0].result(), Outcome::Already);
    assert_eq!(ecs.started().len(), 1, "a redelivered event starts no task");

    // the task: the same settings (a limit and a task configured), dispatch off, trains and commits
    let task = run_task(
        Stage::Train,
        args("100"),
        &fixture_key("train"),
        &Default::default(),
    )
    .await
    .unwrap();
    let StageOutcome::Train(m) = &task.outcomes[0] else {
        panic!("{task:?}")
    };
    assert_eq!(m.version, d.version);
    assert_eq!(layout::model(&m.version, MANIFEST), fixture_key("validate"));
    assert!(t.registry.version(&m.version).await.unwrap().is_some());
    assert_eq!(ecs.started().len(), 1);
    // once trained, the function finds the manifest and neither dispatches nor trains
    let after = handle(&h, invocation(fixture("train", "put.json")))
        .await
        .unwrap();
    assert!(matches!(&after.outcomes[0], StageOutcome::Train(m) if m.already));
    let e = run_task(
        Stage::Train,
        args("100"),
        "raw/x/manifest.json",
        &Default::default(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("POLARITY_TASK_KEY"), "{e}");
}

/// Above the limit with no task configured (embedded mode, a laptop): trained in process, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn train_above_the_row_limit_without_a_task_trains_in_process() {
    let t = seeded(Stage::Train).await;
    let mut cfg = PipelineConfig::default();
    cfg.dispatch.max_rows = Some(1);
    let h = StageHandler::new(Stage::Train, t.store.clone(), Some(t.registry.clone()), cfg);
    let summary = handle(&h, invocation(fixture("train", "put.json")))
        .await
        .unwrap();
    assert!(
        matches!(&summary.outcomes[0], StageOutcome::Train(m) if !m.already),
        "{summary:?}"
    );
}
