//! The server fed by the model registry (the local-file twin the embedded pipeline uses): it serves the
//! production version, follows a promotion and a rollback through hot reload, and refuses an artifact whose
//! bytes do not match the SHA-256 the registry recorded.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use polarity_core::{artifact, labels::LabelScheme, train};
use polarity_pipeline::registry::{self, FileRegistry, Registry, Scores, VersionRecord};
use polarity_pipeline::store::{LocalStore, ObjectStore};
use polarity_server::{AppState, Limits, ModelSource, RegistrySource, reload};

fn model(pos: &[&str], neg: &[&str]) -> Vec<u8> {
    let mut texts = Vec::new();
    let mut classes = Vec::new();
    for t in pos {
        texts.push(t.to_string());
        classes.push(1);
    }
    for t in neg {
        texts.push(t.to_string());
        classes.push(0);
    }
    let rows = train::Labelled { texts, classes };
    let labels = polarity_core::labels::Labels::from_names(["negative", "positive"]);
    let (m, _) = train::train(
        &Default::default(),
        &rows,
        &train::Labelled::default(),
        labels,
        LabelScheme::Names,
    )
    .unwrap();
    artifact::encode(&m)
}

async fn register(
    store: &LocalStore,
    reg: &FileRegistry,
    version: &str,
    bytes: Vec<u8>,
    recorded_sha: Option<String>,
) {
    let key = format!("models/{version}/model.plm");
    let sha = recorded_sha.unwrap_or_else(|| artifact::sha256_hex(&bytes));
    store.put(&key, Bytes::from(bytes)).await.unwrap();
    let rec = VersionRecord {
        version: version.into(),
        artifact_key: key,
        sha256: sha,
        card_key: format!("models/{version}/card.json"),
        labels: vec!["negative".into(), "positive".into()],
        scores: Scores::default(),
        datasets: vec![],
        data_digest: String::new(),
        parent: None,
        created_at: 0,
        git_sha: None,
    };
    assert!(reg.register(&rec).await.unwrap());
}

fn limits() -> Limits {
    use clap::Parser;
    #[derive(Parser)]
    struct L {
        #[command(flatten)]
        l: Limits,
    }
    L::parse_from(["x"]).l
}

async fn version_after(state: &AppState, want: &str) -> bool {
    for _ in 0..100 {
        if state.model().is_some_and(|m| m.version == want) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn serves_and_follows_the_registry_production_pointer() {
    let home = tempfile::tempdir().unwrap();
    let store = LocalStore::new(home.path().join("bucket"));
    let reg = FileRegistry::new(home.path().join("registry.json"));
    register(
        &store,
        &reg,
        "v1",
        model(&["great fun", "loved it"], &["bad", "awful plot"]),
        None,
    )
    .await;
    register(
        &store,
        &reg,
        "v2",
        model(&["bad", "awful plot"], &["great fun", "loved it"]),
        None,
    )
    .await;
    register(
        &store,
        &reg,
        "v3",
        model(&["great"], &["bad"]),
        Some("0".repeat(64)),
    )
    .await;

    let backend = polarity_pipeline::backend::BackendArgs {
        home: Some(home.path().to_path_buf()),
        ..Default::default()
    }
    .resolve()
    .unwrap();
    let source: Arc<dyn ModelSource> = Arc::new(RegistrySource::connect(&backend).await);
    // No production model yet: a retryable "not yet", never a panic.
    let err = source.current().await.unwrap_err();
    assert!(
        err.is_retryable() && err.to_string().contains("no production model"),
        "{err}"
    );

    registry::promote_manual(&reg, "v1", "first").await.unwrap();
    let state = polarity_server::load_state(source.as_ref(), limits())
        .await
        .unwrap();
    assert_eq!(state.model().unwrap().version, "v1");
    assert_eq!(
        state.model().unwrap().classifier.predict("great fun").label,
        "positive"
    );

    let poller = tokio::spawn(reload::poll(
        state.clone(),
        source.clone(),
        Duration::from_millis(50),
    ));
    registry::promote_manual(&reg, "v2", "second")
        .await
        .unwrap();
    assert!(
        version_after(&state, "v2").await,
        "the server did not follow the promotion"
    );
    assert_eq!(
        state.model().unwrap().classifier.predict("great fun").label,
        "negative"
    );

    // v3's bytes do not match the SHA-256 the registry recorded: refused, v2 keeps serving.
    registry::promote_manual(&reg, "v3", "bad bytes")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(state.model().unwrap().version, "v2");
    let metrics = state.metrics().render();
    assert!(
        metrics.lines().any(
            |l| l.starts_with("polarity_model_reloads_total{result=\"failure\"}")
                && !l.ends_with(" 0")
        ),
        "{metrics}"
    );

    registry::promote_manual(&reg, "v1", "roll back")
        .await
        .unwrap();
    assert!(
        version_after(&state, "v1").await,
        "the server did not follow the rollback"
    );
    poller.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_registry_serves_503_no_model_then_the_first_promotion_within_a_poll() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: polarity_server::ServeArgs,
    }
    let home = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let args = Cli::parse_from([
        "x",
        "--home",
        home.path().to_str().unwrap(),
        "--addr",
        &format!("127.0.0.1:{port}"),
        "--poll-interval",
        "0.2",
    ])
    .a;
    let server = tokio::spawn(polarity_server::serve(args));
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let c = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if c.get(url("/health")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(up, "the port opens without a model");
    let r = c.get(url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let r = c
        .post(url("/predict"))
        .body(r#"{"text": "great fun"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error_type"], "no_model");
    // the first promotion
    let store = LocalStore::new(home.path().join("bucket"));
    let reg = FileRegistry::new(home.path().join("registry.json"));
    register(
        &store,
        &reg,
        "v1",
        model(&["great fun", "loved it"], &["bad", "awful plot"]),
        None,
    )
    .await;
    registry::promote_manual(&reg, "v1", "first").await.unwrap();
    let t0 = std::time::Instant::now();
    let mut ready = false;
    while t0.elapsed() < Duration::from_millis(1500) {
        if c.get(url("/ready")).send().await.unwrap().status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        ready,
        "not serving the first model after {:?}",
        t0.elapsed()
    );
    assert!(
        t0.elapsed() < Duration::from_millis(600),
        "within about one poll interval: {:?}",
        t0.elapsed()
    );
    let r = c
        .post(url("/predict"))
        .body(r#"{"text": "great fun"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-model-version"], "v1");
    server.abort();
}
