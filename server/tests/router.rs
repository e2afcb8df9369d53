//! Router tests through `oneshot`: endpoints, the error table, metrics and promtool.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use polarity_server::error::ErrorType;
use polarity_server::{AppState, Limits, app};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn call(
    state: &AppState,
    method: &str,
    path: &str,
    body: impl Into<Body>,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v, headers)
}

async fn loaded(limits: Limits) -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let st = common::state(&path, limits).await;
    (dir, st)
}

#[tokio::test]
async fn predicts_single_batch_and_explains() {
    let (_d, st) = loaded(Limits::default()).await;
    let version = st.model().unwrap().version.clone();
    let (s, v, h) = call(
        &st,
        "POST",
        "/predict",
        json!({"text": "a great , witty film"}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["label"], "positive");
    assert_eq!(v["model_version"], version.as_str());
    assert_eq!(h["x-model-version"], version.as_str());
    let p = v["probabilities"].as_object().unwrap();
    assert_eq!(p.len(), 2);
    let sum: f64 = p.values().map(|x| x.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-9);
    assert_eq!(v["score"], p["positive"]);
    assert!(v.get("explanation").is_none());

    let (s, v, _) = call(
        &st,
        "POST",
        "/predict",
        json!({"texts": ["great fun", "dull and bad"], "explain": true}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["model_version"], version.as_str());
    let preds = v["predictions"].as_array().unwrap();
    assert_eq!(preds[0]["label"], "positive");
    assert_eq!(preds[1]["label"], "negative");
    let ex = preds[0]["explanation"].as_array().unwrap();
    assert!(!ex.is_empty() && ex.len() <= 10);
    assert!(ex[0]["weight"].as_f64().unwrap() > 0.0);
    assert!(
        ex.iter()
            .any(|e| e["ngram"].as_str().unwrap().contains("great"))
    );
}

#[tokio::test]
async fn health_ready_info_openapi() {
    let (_d, st) = loaded(Limits::default()).await;
    assert_eq!(
        call(&st, "GET", "/health", Body::empty()).await.0,
        StatusCode::OK
    );
    let (s, v, _) = call(&st, "GET", "/ready", Body::empty()).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ready")));
    let (s, v, _) = call(&st, "GET", "/info", Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["labels"], json!(["negative", "positive"]));
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
    assert!(
        v["sha256"]
            .as_str()
            .unwrap()
            .starts_with(v["model_version"].as_str().unwrap())
    );
    assert_eq!(v["build"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["training"]["class_prior"]["positive"].as_f64().unwrap() > 0.0);
    let (s, v, _) = call(&st, "GET", "/openapi.json", Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["openapi"], "3.1.0");
    assert!(v["paths"]["/predict"]["post"].is_object());
    // the spec lists exactly the error types the server sends, each under its status
    let listed: Vec<&str> = v["components"]["schemas"]["Error"]["properties"]["error_type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(listed, ErrorType::NAMES);
    let mut documented = std::collections::BTreeSet::new();
    for (_, ops) in v["paths"].as_object().unwrap() {
        for (_, op) in ops.as_object().unwrap() {
            for (status, r) in op["responses"].as_object().unwrap() {
                for t in r["description"].as_str().unwrap().split(", ") {
                    if let Ok(t) = t.parse::<ErrorType>() {
                        assert_eq!(t.status().as_str(), status, "{t} under {status}");
                        documented.insert(t);
                    }
                }
            }
        }
    }
    let missing: Vec<&ErrorType> = ErrorType::ALL
        .iter()
        .filter(|t| !documented.contains(t))
        .collect();
    assert!(
        missing.is_empty(),
        "every error type is documented on a route: {missing:?}"
    );
    // the schema's text rule is the handler's: `\S` matches exactly what is_blank refuses
    assert_eq!(
        v["components"]["schemas"]["PredictRequest"]["properties"]["text"]["pattern"],
        "\\S"
    );
}

#[tokio::test]
async fn not_ready_without_a_model() {
    let st = AppState::new(Limits::default()).unwrap();
    assert_eq!(
        call(&st, "GET", "/health", Body::empty()).await.0,
        StatusCode::OK
    );
    let (s, v, _) = call(&st, "GET", "/ready", Body::empty()).await;
    assert_eq!(
        (s, v["error_type"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("no_model"))
    );
    let (s, v, _) = call(&st, "POST", "/predict", r#"{"text": "hi"}"#).await;
    assert_eq!(
        (s, v["error_type"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("no_model"))
    );
    assert!(st.metrics().render().contains("polarity_model_ready 0"));
}

/// The schema's `\S` text rule checked against a real ECMAScript engine (node), over every Unicode scalar up
/// to U+FFFF and a few beyond: the characters JavaScript's `\s` matches are exactly the ones is_blank accepts.
#[test]
#[ignore = "needs node (bash scripts/setup.sh installs it); the test command runs it"]
fn the_text_pattern_is_ecmascripts_blank_rule() {
    let out = std::process::Command::new("node")
        .args(["-e", "let o='';for(let c=0;c<0x10000;c++){if(c>=0xd800&&c<0xe000)continue;if(/^\\s$/.test(String.fromCharCode(c)))o+=c+' ';}console.log(o)"])
        .output()
        .expect("node not found: run bash scripts/setup.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let js: std::collections::BTreeSet<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let ours: std::collections::BTreeSet<u32> = (0u32..0x10000)
        .filter_map(char::from_u32)
        .filter(|c| polarity_core::text::is_blank(&c.to_string()))
        .map(|c| c as u32)
        .collect();
    assert_eq!(ours, js, "is_blank vs ECMAScript \\s");
    assert!(!polarity_core::text::is_blank("\u{1F600}"));
}

#[tokio::test]
async fn every_malformed_request_gets_its_documented_4xx() {
    let limits = Limits {
        max_body_bytes: 4096,
        max_batch: 3,
        max_text_chars: 50,
        ..Limits::default()
    };
    let (_d, st) = loaded(limits).await;
    let long = "x".repeat(51);
    let cases: Vec<(&str, &str, Body, u16, &str)> = vec![
        (
            "POST",
            "/predict",
            Body::from(r#"{"text": "#),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/predict",
            Body::from("not json at all"),
            400,
            "invalid_json",
        ),
        ("POST", "/predict", Body::from(""), 400, "invalid_json"),
        (
            "POST",
            "/predict",
            Body::from(b"{\"text\": \"caf\xe9\"}".to_vec()),
            400,
            "invalid_utf8",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"{"text": 5}"#),
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"{"texts": "abc"}"#),
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"{"texts": [1, 2]}"#),
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"{"text": "ok", "explain": "yes"}"#),
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"{"txt": "typo"}"#),
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"{}"#),
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"[]"#),
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"null"#),
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"{"text": "a", "texts": ["b"]}"#),
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"{"texts": []}"#),
            422,
            "invalid_request",
        ),
        // schemathesis: `texts: null` is not an array (the schema's rule), nor `text: null` a string
        (
            "POST",
            "/predict",
            Body::from(r#"{"text": "0", "texts": null}"#),
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"{"text": null}"#),
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"{"text": ""}"#),
            422,
            "empty_text",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"{"text": "  \n\t "}"#),
            422,
            "empty_text",
        ),
        (
            "POST",
            "/predict",
            Body::from(r#"{"texts": ["fine", ""]}"#),
            422,
            "empty_text",
        ),
        (
            "POST",
            "/predict",
            Body::from(json!({"text": long}).to_string()),
            422,
            "text_too_long",
        ),
        (
            "POST",
            "/predict",
            Body::from(json!({"texts": ["a", "b", "c", "d"]}).to_string()),
            422,
            "too_many_texts",
        ),
        (
            "POST",
            "/predict",
            Body::from(json!({"text": "y".repeat(5000)}).to_string()),
            413,
            "body_too_large",
        ),
        ("GET", "/predict", Body::empty(), 405, "method_not_allowed"),
        ("PUT", "/predict", Body::empty(), 405, "method_not_allowed"),
        ("POST", "/health", Body::empty(), 405, "method_not_allowed"),
        (
            "DELETE",
            "/metrics",
            Body::empty(),
            405,
            "method_not_allowed",
        ),
        ("GET", "/nope", Body::empty(), 404, "not_found"),
        ("POST", "/predict/extra", Body::empty(), 404, "not_found"),
    ];
    for (method, path, body, status, kind) in cases {
        let (s, v, h) = call(&st, method, path, body).await;
        assert_eq!(s.as_u16(), status, "{method} {path}: {v}");
        assert_eq!(v["error_type"], kind, "{method} {path}: {v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        assert_eq!(h["content-type"], "application/json");
    }
    // user input in an error is quoted and cut: a long path, method, unknown field or V2 datatype never
    // comes back whole
    let huge = "z".repeat(60_000);
    let path = format!("/{huge}");
    let method = "Q".repeat(3_000);
    let field = json!({ huge.clone(): 1, "text": "fine" }).to_string();
    let v2 = json!({"inputs": [{"name": "text", "shape": [1], "datatype": huge.clone(), "data": ["fine"]}]}).to_string();
    for (m, p, body) in [
        ("GET", path.as_str(), String::new()),
        (method.as_str(), "/predict", String::new()),
        ("POST", "/predict", field),
        ("POST", "/v2/models/polarity/infer", v2),
    ] {
        let (s, v, _) = call(&st, m, p, body).await;
        let e = v["error"].as_str().unwrap_or_default();
        assert!(
            s.is_client_error()
                && !e.is_empty()
                && e.chars().count() <= 301
                && !e.contains(&"z".repeat(81)),
            "{s} {}",
            &e[..e.len().min(400)]
        );
    }
    // a multi-byte text within the character limit but above it in bytes is accepted
    let (s, _, _) = call(
        &st,
        "POST",
        "/predict",
        json!({"text": "é".repeat(50)}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_predictions() {
    let (_d, st) = loaded(Limits::default()).await;
    let texts = [
        "great fun",
        "dull and bad",
        "a great film",
        "bad plot",
        "witty",
        "awful",
    ];
    let mut by_label = std::collections::HashMap::<String, f64>::new();
    for t in texts {
        let (_, v, _) = call(&st, "POST", "/predict", json!({"text": t}).to_string()).await;
        *by_label
            .entry(v["label"].as_str().unwrap().to_string())
            .or_default() += 1.0;
    }
    let (_, v, _) = call(
        &st,
        "POST",
        "/predict",
        json!({"texts": ["great", "bad", "fun"]}).to_string(),
    )
    .await;
    for p in v["predictions"].as_array().unwrap() {
        *by_label
            .entry(p["label"].as_str().unwrap().to_string())
            .or_default() += 1.0;
    }
    call(&st, "POST", "/predict", r#"{"text": ""}"#).await; // rejected: not a prediction
    call(&st, "GET", "/definitely/not/here", Body::empty()).await;
    let (s, text, h) = call(&st, "GET", "/metrics", Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = text.as_str().unwrap().to_string();
    let n = texts.len() as f64 + 3.0;
    assert_eq!(
        common::metric_sum(&text, "polarity_predictions_total", ""),
        n
    );
    for (label, count) in &by_label {
        assert_eq!(
            common::metric_sum(
                &text,
                "polarity_predictions_total",
                &format!("label=\"{label}\"")
            ),
            *count
        );
    }
    assert_eq!(
        common::metric_sum(&text, "polarity_prediction_confidence_count", ""),
        n
    );
    assert_eq!(
        common::metric_sum(&text, "polarity_input_chars_count", ""),
        n
    );
    assert_eq!(
        common::metric_sum(&text, "polarity_batch_size_count", ""),
        7.0
    );
    assert_eq!(common::metric_sum(&text, "polarity_batch_size_sum", ""), n);
    assert_eq!(
        common::metric_sum(
            &text,
            "polarity_http_requests_total",
            r#"method="POST",route="/predict",status="200""#
        ),
        7.0
    );
    assert_eq!(
        common::metric_sum(
            &text,
            "polarity_http_requests_total",
            r#"route="/predict",status="422""#
        ),
        1.0
    );
    assert_eq!(
        common::metric_sum(
            &text,
            "polarity_http_requests_total",
            r#"route="unmatched",status="404""#
        ),
        1.0
    );
    assert_eq!(
        common::metric_sum(
            &text,
            "polarity_http_request_duration_seconds_count",
            r#"route="/predict""#
        ),
        8.0
    );
    assert_eq!(
        common::metric_sum(&text, "polarity_http_requests_in_flight", ""),
        1.0,
        "the scrape itself"
    );
    assert_eq!(common::metric_sum(&text, "polarity_model_ready", ""), 1.0);
    assert_eq!(
        common::metric_sum(&text, "polarity_model_info", "sha256=\""),
        1.0
    );
    assert_eq!(common::metric_sum(&text, "polarity_build_info", ""), 1.0);
    assert!((common::metric_sum(&text, "polarity_training_class_prior", "") - 1.0).abs() < 1e-9);
    // drift = TV distance between this mix and the prior (decay over the test's milliseconds is negligible)
    let m = st.model().unwrap();
    let prior = &m.classifier.meta.data.class_prior;
    let counts: Vec<f64> = m
        .classifier
        .labels()
        .iter()
        .map(|l| by_label.get(l).copied().unwrap_or(0.0))
        .collect();
    let expected = 0.5
        * counts
            .iter()
            .zip(prior)
            .map(|(c, p)| (c / n - p).abs())
            .sum::<f64>();
    assert!(
        (common::metric_sum(&text, "polarity_class_drift", "") - expected).abs() < 1e-3,
        "{expected}"
    );
}

/// The exposition after predictions (a batch, a refusal, an unknown route) passes `promtool check metrics`.
#[tokio::test]
#[ignore = "needs promtool (bash scripts/setup.sh installs Debian's prometheus); the test command runs it"]
async fn metrics_pass_promtool() {
    let (_d, st) = loaded(Limits::default()).await;
    call(
        &st,
        "POST",
        "/predict",
        json!({"text": "great fun"}).to_string(),
    )
    .await;
    call(
        &st,
        "POST",
        "/predict",
        json!({"texts": ["great", "bad"]}).to_string(),
    )
    .await;
    call(&st, "POST", "/predict", r#"{"text": ""}"#).await;
    call(&st, "GET", "/definitely/not/here", Body::empty()).await;
    let (s, text, _) = call(&st, "GET", "/metrics", Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    promtool_check(text.as_str().unwrap());
}

/// `promtool check metrics`; promtool must be installed.
fn promtool_check(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child =
        child.unwrap_or_else(|e| panic!("promtool not found ({e}): run bash scripts/setup.sh"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && msg.trim().is_empty(),
        "promtool check metrics: {msg}"
    );
}

/// `docs/serving.md` carries the route table of the OpenAPI document (every path, method and summary,
/// in the document's order): the page cannot list a route the server lacks or miss one it has.
#[test]
fn the_serving_page_lists_every_route() {
    let spec = polarity_server::routes::openapi::spec();
    let mut table = String::from("| method | path | what |\n|---|---|---|\n");
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let summary = op["summary"].as_str().unwrap_or("").replace('|', "/");
            table.push_str(&format!(
                "| {} | `{path}` | {summary} |\n",
                method.to_uppercase()
            ));
        }
    }
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/serving.md"))
        .unwrap();
    assert!(
        page.contains(&table),
        "docs/serving.md must contain the route table of the OpenAPI document, exactly:\n\n{table}"
    );
}
