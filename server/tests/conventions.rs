//! The serving conventions beside Polarity's own routes: TEI's request shape, the KServe Open Inference
//! Protocol V2, optional bearer-token auth, /docs, and shadow agreement after a promotion.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use polarity_server::state::LoadedModel;
use polarity_server::{AppState, Limits, ServingOptions, app};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn call(
    st: &AppState,
    method: &str,
    path: &str,
    body: &str,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let resp = app(st.clone())
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

fn model(extra: usize, version: &str) -> LoadedModel {
    let c = polarity_core::artifact::decode(&common::artifact(extra)).unwrap();
    LoadedModel::new(c, version.into(), format!("{extra:064}")).unwrap()
}

fn state(options: ServingOptions) -> AppState {
    let st = AppState::new(Limits {
        max_batch: 3,
        ..Limits::default()
    })
    .unwrap()
    .with_options(options);
    st.install(model(0, "v1"));
    st
}

#[tokio::test]
async fn tei_inputs_get_teis_answer() {
    let st = state(ServingOptions::default());
    let (s, v) = call(
        &st,
        "POST",
        "/predict",
        r#"{"inputs": "a great , witty film"}"#,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(
        list[0]["score"].as_f64() >= list[1]["score"].as_f64(),
        "best first: {v}"
    );
    assert!(list.iter().all(|x| x["label"].is_string()));
    // as TEI's router reads them: two strings are a pair (one answer), a list of lists is a batch
    let (s, v) = call(
        &st,
        "POST",
        "/predict",
        r#"{"inputs": ["great", "awful"]}"#,
        None,
    )
    .await;
    assert_eq!((s, v.as_array().unwrap().len()), (StatusCode::OK, 2));
    assert!(v[0].is_object(), "a pair gets one answer: {v}");
    let (s, v) = call(
        &st,
        "POST",
        "/",
        r#"{"inputs": [["great"], ["awful", "film"]], "truncate": true, "truncation_direction": "Left"}"#,
        None,
    )
    .await;
    assert_eq!((s, v.as_array().unwrap().len()), (StatusCode::OK, 2), "{v}");
    assert!(v[0].is_array() && v[1].is_array(), "{v}");
    // raw_scores: log-probabilities, finite, in the same order
    let (_, raw) = call(
        &st,
        "POST",
        "/",
        r#"{"inputs": "great", "raw_scores": true}"#,
        None,
    )
    .await;
    let (_, p) = call(&st, "POST", "/", r#"{"inputs": "great"}"#, None).await;
    for (r, q) in raw.as_array().unwrap().iter().zip(p.as_array().unwrap()) {
        assert_eq!(r["label"], q["label"]);
        let (r, q) = (r["score"].as_f64().unwrap(), q["score"].as_f64().unwrap());
        assert!(r.is_finite() && (r.exp() - q).abs() < 1e-9, "{raw} {p}");
    }
    // what huggingface_hub sends: parameters, answered with a list per text; top_k cuts it
    let (s, v) = call(
        &st,
        "POST",
        "/",
        r#"{"inputs": "great", "parameters": {"top_k": 1, "function_to_apply": null}}"#,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0][0]["label"], p[0]["label"]);
    for bad in [
        r#"{"inputs": ["a", "b", "c"]}"#,
        r#"{"inputs": []}"#,
        r#"{"inputs": [["a", "b", "c"]]}"#,
        r#"{"inputs": 5}"#,
    ] {
        let (s, v) = call(&st, "POST", "/predict", bad, None).await;
        assert_eq!(
            (s, v["error_type"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_request")),
            "{bad}: {v}"
        );
    }
    // the same limits and error table
    let (s, v) = call(
        &st,
        "POST",
        "/predict",
        r#"{"inputs": [["a"], ["b"], ["c"], ["d"]]}"#,
        None,
    )
    .await;
    assert_eq!(
        (s, v["error_type"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("too_many_texts"))
    );
    let (s, v) = call(&st, "POST", "/predict", r#"{"inputs": "  "}"#, None).await;
    assert_eq!(v["error_type"], "empty_text", "{s}");
    let (_, v) = call(
        &st,
        "POST",
        "/predict",
        r#"{"inputs": "x", "text": "y"}"#,
        None,
    )
    .await;
    assert_eq!(v["error_type"], "invalid_request");
    // TEI's fields belong to TEI's shape: with our own {"text"} they are refused, not ignored
    for bad in [
        r#"{"text": "x", "raw_scores": true}"#,
        r#"{"text": "x", "truncate": true}"#,
        r#"{"text": "x", "truncation_direction": "Left"}"#,
        r#"{"texts": ["x"], "parameters": {"top_k": 1}}"#,
    ] {
        let (s, v) = call(&st, "POST", "/predict", bad, None).await;
        assert_eq!(
            (s, v["error_type"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_request")),
            "{bad}: {v}"
        );
    }
}

#[tokio::test]
async fn kserve_v2_routes() {
    let st = state(ServingOptions::default());
    assert_eq!(
        call(&st, "GET", "/v2/health/live", "", None).await.1["live"],
        true
    );
    assert_eq!(
        call(&st, "GET", "/v2/health/ready", "", None).await.1["ready"],
        true
    );
    let (s, meta) = call(&st, "GET", "/v2/models/polarity", "", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(meta["versions"], json!(["v1"]));
    assert_eq!(meta["outputs"][2]["shape"], json!([-1, 2]));
    let body = r#"{"id": "r1", "inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["great fun", "awful"]}]}"#;
    let (s, v) = call(&st, "POST", "/v2/models/polarity/infer", body, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["id"].as_str(), v["model_version"].as_str()),
        (Some("r1"), Some("v1"))
    );
    assert_eq!(v["outputs"][0]["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["outputs"][2]["shape"], json!([2, 2]));
    let probs: Vec<f64> = v["outputs"][2]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!((probs[0] + probs[1] - 1.0).abs() < 1e-9);
    let (s, v) = call(&st, "POST", "/v2/models/other/infer", body, None).await;
    assert_eq!(
        (s, v["error_type"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let bad_shape =
        r#"{"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": ["a"]}]}"#;
    assert_eq!(
        call(&st, "POST", "/v2/models/polarity/infer", bad_shape, None)
            .await
            .1["error_type"],
        "invalid_request"
    );
    let fp = r#"{"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": ["a"]}]}"#;
    assert_eq!(
        call(&st, "POST", "/v2/models/polarity/infer", fp, None)
            .await
            .1["error_type"],
        "invalid_request"
    );
    // server metadata, the served version's routes, another version 404
    let (s, v) = call(&st, "GET", "/v2", "", None).await;
    assert_eq!(
        (s, v["extensions"][0].as_str()),
        (StatusCode::OK, Some("binary_tensor_data")),
        "{v}"
    );
    assert_eq!(
        call(&st, "GET", "/v2/models/polarity/versions/v1", "", None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &st,
            "GET",
            "/v2/models/polarity/versions/v1/ready",
            "",
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let (s, v1) = call(
        &st,
        "POST",
        "/v2/models/polarity/versions/v1/infer",
        body,
        None,
    )
    .await;
    let (_, v0) = call(&st, "POST", "/v2/models/polarity/infer", body, None).await;
    assert_eq!((s, &v1["outputs"]), (StatusCode::OK, &v0["outputs"]));
    for path in [
        "/v2/models/polarity/versions/v9",
        "/v2/models/polarity/versions/v9/ready",
    ] {
        assert_eq!(
            call(&st, "GET", path, "", None).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        call(
            &st,
            "POST",
            "/v2/models/polarity/versions/v9/infer",
            body,
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    // outputs select; an unknown one is a client error
    let only = r#"{"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["great fun", "awful"]}], "outputs": [{"name": "label"}]}"#;
    let (_, o) = call(&st, "POST", "/v2/models/polarity/infer", only, None).await;
    assert_eq!(o["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(o["outputs"][0], v0["outputs"][0]);
    let unknown = r#"{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["x"]}], "outputs": [{"name": "logits"}]}"#;
    assert_eq!(
        call(&st, "POST", "/v2/models/polarity/infer", unknown, None)
            .await
            .1["error_type"],
        "invalid_request"
    );
    // no model yet: 503 no_model
    let empty = AppState::new(Limits::default()).unwrap();
    assert_eq!(
        call(&empty, "GET", "/v2/health/ready", "", None).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn an_api_key_guards_inference_only() {
    let st = state(ServingOptions {
        api_key: Some("s3cret-key-0123456789".into()),
        ..ServingOptions::default()
    });
    for (method, path, body) in [
        ("POST", "/predict", r#"{"text": "great"}"#),
        ("GET", "/v2/models/polarity", ""),
        (
            "POST",
            "/v2/models/polarity/infer",
            r#"{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": ["x"]}]}"#,
        ),
    ] {
        let (s, v) = call(&st, method, path, body, None).await;
        assert_eq!(
            (s, v["error_type"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized")),
            "{path}"
        );
        assert_eq!(
            call(&st, method, path, body, Some("wrong")).await.0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            call(&st, method, path, body, Some("s3cret-key-0123456789"))
                .await
                .0,
            StatusCode::OK,
            "{path}"
        );
    }
    for path in [
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/v2/health/live",
        "/v2/health/ready",
    ] {
        assert_eq!(
            call(&st, "GET", path, "", None).await.0,
            StatusCode::OK,
            "{path} stays open"
        );
    }
}

#[tokio::test]
async fn docs_page_is_embedded() {
    let st = state(ServingOptions::default());
    let resp = app(st)
        .oneshot(Request::get("/docs").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let html = String::from_utf8_lossy(&html);
    assert!(html.contains("fetch(\"/openapi.json\")"));
    assert!(
        html.contains(r#"path.replace("{name}", "polarity")"#),
        "try-it URLs name the served model"
    );
    let named = state(ServingOptions {
        model_name: "sentiment".into(),
        ..ServingOptions::default()
    });
    let resp = app(named)
        .oneshot(Request::get("/docs").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let named_html = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&named_html).contains(r#"path.replace("{name}", "sentiment")"#)
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing fetched from elsewhere"
    );
}

#[tokio::test]
async fn after_a_swap_the_previous_model_shadows_a_sample_of_texts() {
    // every text shadowed; the second model is trained on flipped labels, so they always disagree
    let st = state(ServingOptions {
        shadow_every: 1,
        ..ServingOptions::default()
    });
    for _ in 0..5 {
        call(&st, "POST", "/predict", r#"{"text": "great fun"}"#, None).await;
    }
    let m = st.metrics().render();
    assert!(
        m.contains("polarity_shadow_comparisons_total 0"),
        "no previous model yet"
    );
    let mut flipped = model(1, "v2");
    let c = polarity_core::artifact::decode(&common::flipped_artifact()).unwrap();
    flipped.classifier = c;
    st.install(flipped);
    for _ in 0..4 {
        call(
            &st,
            "POST",
            "/predict",
            r#"{"texts": ["great fun", "awful plot"]}"#,
            None,
        )
        .await;
    }
    let m = st.metrics().render();
    assert!(m.contains("polarity_shadow_comparisons_total 8"), "{m}");
    assert!(m.contains("polarity_shadow_disagreements_total 8"), "{m}");
    assert!(m.contains("polarity_shadow_disagreement_ratio 1"), "{m}");
    // sampling: every 10th text
    let st = state(ServingOptions::default());
    st.install(model(1, "v2"));
    for _ in 0..50 {
        call(&st, "POST", "/predict", r#"{"text": "great fun"}"#, None).await;
    }
    assert!(
        st.metrics()
            .render()
            .contains("polarity_shadow_comparisons_total 5")
    );
}
