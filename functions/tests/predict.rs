//! The predict function: a function-URL event through the same router as the server, hot reload in a
//! warm environment, and cold starts with no model or no configuration.
#![allow(missing_docs, clippy::unwrap_used)]

use polarity_core::labels::{LabelScheme, Labels};
use polarity_core::train;
use polarity_functions::predict::{config_from_args, router};
use tower::ServiceExt;

const EVENT: &str = include_str!("../events/predict/function_url.json");

/// A model artifact trained on `texts` with classes `classes` (0 = negative, 1 = positive).
fn artifact(texts: &[&str], classes: &[u32]) -> Vec<u8> {
    let rows = train::Labelled {
        texts: texts.iter().map(|t| t.to_string()).collect(),
        classes: classes.to_vec(),
    };
    let (model, _) = train::train(
        &train::ValidTrainConfig::default(),
        &rows,
        &train::Labelled::default(),
        Labels::from_names(["negative", "positive"]),
        LabelScheme::Names,
    )
    .unwrap();
    polarity_core::artifact::encode(&model)
}

async fn call(app: axum::Router) -> (u16, serde_json::Value) {
    let resp = app
        .oneshot(lambda_http::request::from_str(EVENT).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn function_url_event_goes_through_the_same_router() {
    let model = artifact(
        &[
            "a great film",
            "dull and bad",
            "great fun",
            "bad plot",
            "witty and great",
            "awful dull",
        ],
        &[1, 0, 1, 0, 1, 0],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, model).unwrap();
    let app = router(config_from_args(&["--model", path.to_str().unwrap()]).unwrap())
        .await
        .unwrap();
    let (status, v) = call(app).await;
    assert_eq!(status, 200);
    assert_eq!(v["label"], "positive");
}

#[tokio::test]
async fn a_warm_function_picks_up_a_new_model() {
    let texts = ["great", "bad", "great fun", "bad plot"];
    let first = artifact(&texts, &[1, 0, 1, 0]);
    let second = artifact(&texts, &[0, 1, 0, 1]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, &first).unwrap();
    let app = router(
        config_from_args(&["--model", path.to_str().unwrap(), "--poll-interval", "0.05"]).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(call(app.clone()).await.1["label"], "positive");
    // Replace the artifact atomically, as a deploy would.
    let tmp = dir.path().join("m.plm.new");
    std::fs::write(&tmp, &second).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let mut seen = serde_json::Value::Null;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        seen = call(app.clone()).await.1["label"].clone();
        if seen == "negative" {
            break;
        }
    }
    assert_eq!(seen, "negative", "the new model was never served");
}

#[tokio::test]
async fn an_empty_registry_answers_503_no_model_until_a_promotion() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}", dir.path().join("bucket").display());
    let registry = format!("file://{}", dir.path().join("registry.json").display());
    let app = router(config_from_args(&["--store", &store, "--registry", &registry]).unwrap())
        .await
        .unwrap();
    let (status, v) = call(app).await;
    assert_eq!((status, v["error_type"].as_str()), (503, Some("no_model")));
}

#[tokio::test]
async fn no_model_source_is_a_clear_cold_start_error() {
    // built by hand so that no environment variable of the machine running the test can supply a source
    let mut cfg = config_from_args(&[]).unwrap();
    cfg.model = None;
    cfg.backend = Default::default();
    let err = router(cfg).await.err().unwrap();
    assert!(err.to_string().contains("POLARITY_MODEL"), "{err}");
}
