//! `POST /predict`: `{"text": "…"}` → one prediction; `{"texts": ["…", …]}` → `{"predictions": […]}`.
//! Optional `"explain": true` adds the n-grams that pushed hardest towards the predicted class. Every
//! response carries the serving model's version in the body and in the `x-model-version` header.
//!
//! The body is read as bytes (so that oversized, non-UTF-8 and non-JSON bodies map to our own error table),
//! then parsed with `serde_json`. Prediction runs inline on the async worker: a text costs microseconds and
//! the batch and length limits bound the worst case. Raw text is never logged.

use std::cell::RefCell;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use polarity_core::model::PredictScratch;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::{AppState, LoadedModel};

/// Response header naming the model that answered.
pub const MODEL_VERSION_HEADER: HeaderName = HeaderName::from_static("x-model-version");
/// How many n-grams `"explain": true` returns.
pub const EXPLAIN_TOP: usize = 10;

thread_local! {
    static SCRATCH: RefCell<PredictScratch> = RefCell::new(PredictScratch::default());
}

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// One text.
    #[serde(default)]
    pub text: Option<String>,
    /// Several texts.
    #[serde(default)]
    pub texts: Option<Vec<String>>,
    /// Return the n-grams behind each decision.
    #[serde(default)]
    pub explain: bool,
}

/// One n-gram's push towards the predicted class (`tf-idf value × weight`).
#[derive(Debug, Serialize)]
struct Contribution {
    ngram: String,
    weight: f64,
}

/// Probabilities rendered as a JSON object `label → probability`, in label order.
struct Probabilities<'a> {
    labels: &'a [String],
    probs: Vec<f64>,
}

impl Serialize for Probabilities<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.labels.len()))?;
        for (l, p) in self.labels.iter().zip(&self.probs) {
            m.serialize_entry(l, p)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct PredictionOut<'a> {
    label: &'a str,
    score: f64,
    probabilities: Probabilities<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<Vec<Contribution>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_version: Option<&'a str>,
}

#[derive(Serialize)]
struct BatchOut<'a> {
    predictions: Vec<PredictionOut<'a>>,
    model_version: &'a str,
}

/// Middleware on `/predict` only: 429 beyond the concurrency limit, 503 `timeout` past the request timeout
/// (receiving the body included). `/health`, `/ready` and `/metrics` stay reachable under overload.
pub async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Ok(_permit) = st.permits().try_acquire() else {
        return ApiError::Overloaded.into_response();
    };
    let limit = st.limits().request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::Timeout(limit).into_response(),
    }
}

/// Validates one text against the limits; returns its length in characters.
fn check_text(text: &str, what: impl Fn() -> String, max_chars: usize) -> Result<usize, ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::EmptyText(what()));
    }
    let chars = if text.len() <= max_chars {
        text.chars().count()
    } else {
        text.chars().take(max_chars + 1).count()
    };
    if chars > max_chars {
        return Err(ApiError::TextTooLong {
            what: what(),
            chars: text.chars().count(),
            limit: max_chars,
        });
    }
    Ok(chars)
}

/// Predicts one checked text and records its metrics.
fn predict_one<'a>(
    st: &AppState,
    m: &'a LoadedModel,
    text: &str,
    chars: usize,
    explain: bool,
    s: &mut PredictScratch,
) -> PredictionOut<'a> {
    let (best, stats) = m.classifier.predict_into(text, s);
    let metrics = st.metrics();
    let score = s.probs[best];
    if let Some(c) = m.label_counters.get(best) {
        c.inc();
    }
    metrics.confidence.observe(score);
    metrics.input_chars.observe(chars as f64);
    if stats.tokens > 0 {
        metrics
            .oov_ratio
            .observe(stats.oov_tokens as f64 / stats.tokens as f64);
    }
    let explanation = explain.then(|| {
        m.classifier
            .explain(s, best, EXPLAIN_TOP)
            .into_iter()
            .map(|(ngram, weight)| Contribution { ngram, weight })
            .collect()
    });
    let labels = m.classifier.labels();
    PredictionOut {
        label: &labels[best],
        score,
        probabilities: Probabilities {
            labels,
            probs: s.probs.clone(),
        },
        explanation,
        model_version: None,
    }
}

/// Parses the body into a request.
fn parse(body: Result<Bytes, BytesRejection>, max_body: usize) -> Result<PredictRequest, ApiError> {
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge { limit: max_body }
        } else {
            ApiError::InvalidRequest(format!("could not read the body: {r}"))
        }
    })?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::InvalidUtf8)?;
    serde_json::from_str(text).map_err(|e| ApiError::from_json(&e))
}

/// The handler.
///
/// # Errors
/// Any client error from the table in [`crate::error`]; 503 before a model is loaded.
pub async fn predict(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let limits = st.limits();
    let req = parse(body, limits.max_body_bytes)?;
    let m = st.model().ok_or(ApiError::ModelNotReady)?;
    let max_chars = limits.max_text_chars;
    let body = match (req.text, req.texts) {
        (Some(text), None) => {
            let chars = check_text(&text, || "text".into(), max_chars)?;
            st.metrics().batch_size.observe(1.0);
            SCRATCH.with_borrow_mut(|s| {
                let mut out = predict_one(&st, &m, &text, chars, req.explain, s);
                out.model_version = Some(&m.version);
                serde_json::to_vec(&out)
            })
        }
        (None, Some(texts)) => {
            if texts.is_empty() {
                return Err(ApiError::InvalidRequest(
                    "\"texts\" must hold at least one text".into(),
                ));
            }
            if texts.len() > limits.max_batch {
                return Err(ApiError::TooManyTexts {
                    n: texts.len(),
                    limit: limits.max_batch,
                });
            }
            let chars = texts
                .iter()
                .enumerate()
                .map(|(i, t)| check_text(t, || format!("texts[{i}]"), max_chars))
                .collect::<Result<Vec<_>, _>>()?;
            st.metrics().batch_size.observe(texts.len() as f64);
            SCRATCH.with_borrow_mut(|s| {
                let predictions = texts
                    .iter()
                    .zip(chars)
                    .map(|(t, c)| predict_one(&st, &m, t, c, req.explain, s))
                    .collect();
                serde_json::to_vec(&BatchOut {
                    predictions,
                    model_version: &m.version,
                })
            })
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidRequest(
                "send either \"text\" or \"texts\", not both".into(),
            ));
        }
        (None, None) => {
            return Err(ApiError::InvalidRequest(
                "expected a \"text\" string or a \"texts\" array".into(),
            ));
        }
    }
    .map_err(|e| ApiError::Internal(format!("could not render the response: {e}")))?;
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(MODEL_VERSION_HEADER, m.version_header.clone());
    Ok(r)
}
