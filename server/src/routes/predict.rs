//! `POST /predict` (and `POST /`, as TEI serves classification at both): `{"text": "…"}` → one
//! prediction; `{"texts": ["…", …]}` → `{"predictions": […]}`. Optional `"explain": true` adds the
//! n-grams that pushed hardest towards the predicted class. Every response carries the serving model's
//! version in the body and in the `x-model-version` header.
//!
//! Text Embeddings Inference's shape, as its router defines it: `inputs` is a text, a pair
//! `[text, text]` or a batch `[[text], [text, text], …]`; the answer is every label with its score, best
//! first (a list per text for a batch). `raw_scores: true` gives log-probabilities (the model's logits up
//! to a constant) instead of probabilities. `truncate` and `truncation_direction` are accepted and change
//! nothing: texts are not cut to a token budget, `--max-text-chars` applies. A pair is scored as its two
//! texts joined by a space (the model reads one text). The Hugging Face Inference API's shape, what
//! `huggingface_hub`'s `text_classification` sends, adds `parameters` (`top_k`: keep the best k labels;
//! `function_to_apply`: `softmax` and `sigmoid` give the probabilities, `none` the log-probabilities) and
//! is answered with a list per text, a single text included, as that API does.
//!
//! `guard` reads the body first, bounded by `--max-body-bytes` (a larger declared `Content-Length` is
//! refused at once with 413) and by `--request-timeout` (a body that never arrives is the client's fault:
//! 408 `body_timeout`), and only then takes a concurrency permit, so slow clients cannot hold permits
//! while they trickle bytes. The body is parsed with `serde_json` (so non-UTF-8 and non-JSON bodies map to
//! our own error table). Prediction runs inline on the async worker: a text costs microseconds and the
//! batch and length limits bound the worst case. Raw text is never logged.

use std::cell::RefCell;

use axum::body::Body;
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
pub(crate) const MODEL_VERSION_HEADER: HeaderName = HeaderName::from_static("x-model-version");
/// How many n-grams `"explain": true` returns.
pub(crate) const EXPLAIN_TOP: usize = 10;

thread_local! {
    pub(crate) static SCRATCH: RefCell<PredictScratch> = RefCell::new(PredictScratch::default());
}

/// The request body. `text` and `texts` may be absent but never `null` (the OpenAPI schema's rule).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// One text.
    #[serde(default, deserialize_with = "not_null")]
    pub text: Option<String>,
    /// Several texts.
    #[serde(default, deserialize_with = "not_null")]
    pub texts: Option<Vec<String>>,
    /// Return the n-grams behind each decision.
    #[serde(default)]
    pub explain: bool,
    /// Text Embeddings Inference's request shape (module docs): a text, a pair or a batch.
    #[serde(default, deserialize_with = "not_null")]
    pub inputs: Option<serde_json::Value>,
    /// TEI: accepted, changes nothing (module docs).
    #[serde(default)]
    pub truncate: Option<bool>,
    /// TEI: accepted, changes nothing (module docs).
    #[serde(default)]
    pub truncation_direction: Option<TruncationDirection>,
    /// TEI: log-probabilities instead of probabilities.
    #[serde(default)]
    pub raw_scores: bool,
    /// The Hugging Face Inference API's parameters (module docs).
    #[serde(default)]
    pub parameters: Option<HfParameters>,
}

/// TEI's `truncation_direction`.
#[derive(Debug, Deserialize)]
pub enum TruncationDirection {
    /// From the left.
    #[serde(alias = "left")]
    Left,
    /// From the right.
    #[serde(alias = "right")]
    Right,
}

/// The Hugging Face Inference API's text-classification parameters.
#[derive(Debug, Default, Deserialize)]
pub struct HfParameters {
    /// Keep the best `k` labels per text.
    #[serde(default)]
    pub top_k: Option<usize>,
    /// `softmax` or `sigmoid`: probabilities; `none`: log-probabilities.
    #[serde(default)]
    pub function_to_apply: Option<FunctionToApply>,
}

/// How scores are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FunctionToApply {
    /// Probabilities.
    Softmax,
    /// The probabilities too: each label's probability is the sigmoid of its log-odds against the rest.
    Sigmoid,
    /// Log-probabilities.
    None,
}

/// The texts of TEI's `inputs` and whether it was one sequence (a text or a pair) rather than a batch.
fn tei_texts(v: serde_json::Value) -> Result<(Vec<String>, bool), ApiError> {
    use serde_json::Value;
    let shapes = "\"inputs\" is a text, a pair [text, text], or a batch [[text], [text, text], …] (TEI's shapes)";
    let bad = || ApiError::InvalidRequest(shapes.into());
    let sequence = |items: Vec<Value>| -> Result<String, ApiError> {
        let texts: Vec<String> = items
            .into_iter()
            .map(|x| match x {
                Value::String(s) => Ok(s),
                _ => Err(bad()),
            })
            .collect::<Result<_, _>>()?;
        match texts.as_slice() {
            [one] => Ok(one.clone()),
            [a, b] => Ok(format!("{a} {b}")),
            _ => Err(bad()),
        }
    };
    match v {
        Value::String(s) => Ok((vec![s], true)),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_string) => {
            Ok((vec![sequence(items)?], true))
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_array) => {
            let texts = items
                .into_iter()
                .map(|x| match x {
                    Value::Array(inner) => sequence(inner),
                    _ => Err(bad()),
                })
                .collect::<Result<_, _>>()?;
            Ok((texts, false))
        }
        _ => Err(bad()),
    }
}

/// One label and its score, TEI's shape.
#[derive(Serialize)]
struct LabelScore<'a> {
    label: &'a str,
    score: f64,
}

/// Present fields must hold a value: `null` is refused (absent fields take the default).
fn not_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// One n-gram's push towards the predicted class (`tf-idf value × weight`).
#[derive(Debug, Serialize)]
struct Contribution {
    ngram: String,
    weight: f64,
}

/// Probabilities rendered as a JSON object `label → probability`, in label order.
pub(crate) struct Probabilities<'a> {
    labels: &'a [String],
    pub(crate) probs: Vec<f64>,
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
pub(crate) struct PredictionOut<'a> {
    pub(crate) label: &'a str,
    score: f64,
    pub(crate) probabilities: Probabilities<'a>,
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

/// Middleware on the prediction routes (see the module docs): the body's declared length (or
/// `--max-body-bytes` when chunked) is reserved from the server's body budget (503 `busy` at once when it
/// does not fit), the body is read (413 `body_too_large`, 408 `body_timeout`), then a permit is taken (429 `overloaded` beyond the concurrency limit), then the
/// prediction runs under the request timeout (503 `timeout`). `/health`, `/ready` and `/metrics` stay
/// reachable under overload.
pub(crate) async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let limits = st.limits();
    let max = limits.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return ApiError::BodyTooLarge { limit: max }.into_response();
    }
    // the body's bytes are reserved before it is read, and held until the answer is made
    let reserve = declared.map_or(max, |n| n as usize).max(1);
    let Ok(_buffered) = st
        .buffered()
        .try_acquire_many(u32::try_from(reserve).unwrap_or(u32::MAX))
    else {
        return ApiError::Busy(format!(
            "the server holds its limit of request bodies ({} bytes)",
            limits.max_buffered_bytes
        ))
        .into_response();
    };
    let (parts, body) = req.into_parts();
    let limit = limits.request_timeout;
    let bytes = match tokio::time::timeout(limit, axum::body::to_bytes(body, max)).await {
        Err(_) => return ApiError::BodyTimeout(limit).into_response(),
        Ok(Err(e)) if is_length_limit(&e) => {
            return ApiError::BodyTooLarge { limit: max }.into_response();
        }
        Ok(Err(e)) => {
            return ApiError::BadBody(e.to_string()).into_response();
        }
        Ok(Ok(b)) => b,
    };
    let Ok(_permit) = st.permits().try_acquire() else {
        return ApiError::Overloaded.into_response();
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::Timeout(limit).into_response(),
    }
}

/// True when reading the body stopped at the size limit: the body went past it, or a chunked body announced
/// more than it (the connection layer's [`crate::conn::BodyOverLimit`]).
fn is_length_limit(e: &axum::Error) -> bool {
    if crate::conn::is_body_over_limit(e) {
        return true;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.to_string().contains("length limit exceeded") {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Validates one text against the limits; returns its length in characters.
pub(crate) fn check_text(
    text: &str,
    what: impl Fn() -> String,
    max_chars: usize,
) -> Result<usize, ApiError> {
    if polarity_core::text::is_blank(text) {
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

thread_local! {
    static SHADOW: RefCell<PredictScratch> = RefCell::new(PredictScratch::default());
}

/// Scores a sampled text with the previous model too (after a swap) and counts whether they disagree.
fn shadow(st: &AppState, m: &LoadedModel, text: &str, best: usize) {
    let Some(guard) = st.shadow_for_next_text() else {
        return;
    };
    let Some(prev) = guard.as_ref() else { return };
    if prev.sha256 == m.sha256 {
        return;
    }
    let disagree = SHADOW.with_borrow_mut(|s| {
        let (b, _) = prev.classifier.predict_into(text, s);
        prev.classifier.labels()[b] != m.classifier.labels()[best]
    });
    st.metrics().shadow(disagree);
}

/// Predicts one checked text and records its metrics.
pub(crate) fn predict_one<'a>(
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
    metrics.prediction(&m.version, best, &m.classifier.labels()[best]);
    shadow(st, m, text, best);
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
            ApiError::BadBody(r.to_string())
        }
    })?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::InvalidUtf8)?;
    serde_json::from_str(text).map_err(|e| ApiError::from_json(&e))
}

/// Checks a batch of texts against the limits (`what` names them in errors); returns their lengths.
pub(crate) fn check_batch(
    texts: &[String],
    what: &str,
    limits: &crate::config::Limits,
) -> Result<Vec<usize>, ApiError> {
    if texts.is_empty() {
        return Err(ApiError::InvalidRequest(format!(
            "\"{what}\" must hold at least one text"
        )));
    }
    if texts.len() > limits.max_batch {
        return Err(ApiError::TooManyTexts {
            n: texts.len(),
            limit: limits.max_batch,
        });
    }
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| check_text(t, || format!("{what}[{i}]"), limits.max_text_chars))
        .collect()
}

/// TEI's answer (module docs): per text, every label with its score, best first; a list of lists for a
/// batch, and always under `parameters` (the Hugging Face Inference API's shape).
fn tei(st: &AppState, m: &LoadedModel, req: PredictRequest) -> Result<Response, ApiError> {
    let hf = req.parameters.is_some();
    let params = req.parameters.unwrap_or_default();
    let log = req.raw_scores || params.function_to_apply == Some(FunctionToApply::None);
    if params.top_k == Some(0) {
        return Err(ApiError::InvalidRequest(
            "parameters.top_k must be at least 1".into(),
        ));
    }
    let (texts, single) = tei_texts(req.inputs.unwrap_or_default())?;
    let chars = if single {
        vec![check_text(
            &texts[0],
            || "inputs".into(),
            st.limits().max_text_chars,
        )?]
    } else {
        check_batch(&texts, "inputs", st.limits())?
    };
    st.metrics().batch_size.observe(texts.len() as f64);
    let labels = m.classifier.labels();
    let per_text: Vec<Vec<LabelScore>> = SCRATCH.with_borrow_mut(|s| {
        texts
            .iter()
            .zip(chars)
            .map(|(t, c)| {
                let p = predict_one(st, m, t, c, false, s);
                let mut v: Vec<LabelScore> = labels
                    .iter()
                    .zip(&p.probabilities.probs)
                    .map(|(l, &p)| LabelScore {
                        label: l,
                        // finite: a probability that underflowed to 0 gives ln of the smallest normal
                        score: if log {
                            p.max(f64::MIN_POSITIVE).ln()
                        } else {
                            p
                        },
                    })
                    .collect();
                v.sort_by(|a, b| b.score.total_cmp(&a.score));
                v.truncate(params.top_k.unwrap_or(usize::MAX));
                v
            })
            .collect()
    });
    let body = if single && !hf {
        serde_json::to_vec(&per_text[0])
    } else {
        serde_json::to_vec(&per_text)
    }
    .map_err(|e| ApiError::Internal(format!("could not render the response: {e}")))?;
    Ok(json_response(body, m))
}

/// A JSON response naming the model that answered.
pub(crate) fn json_response(body: Vec<u8>, m: &LoadedModel) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(MODEL_VERSION_HEADER, m.version_header.clone());
    r
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
    let m = st.model().ok_or(ApiError::NoModel)?;
    let max_chars = limits.max_text_chars;
    if req.inputs.is_some() {
        if req.text.is_some() || req.texts.is_some() || req.explain {
            return Err(ApiError::InvalidRequest(
                "\"inputs\" (TEI's shape) goes alone, without \"text\", \"texts\" or \"explain\""
                    .into(),
            ));
        }
        return tei(&st, &m, req);
    }
    if req.raw_scores
        || req.parameters.is_some()
        || req.truncate.is_some()
        || req.truncation_direction.is_some()
    {
        return Err(ApiError::InvalidRequest(
            "\"raw_scores\", \"truncate\", \"truncation_direction\" and \"parameters\" go with TEI's \"inputs\"".into(),
        ));
    }
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
            let chars = check_batch(&texts, "texts", limits)?;
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
                "expected a \"text\" string, a \"texts\" array, or TEI's \"inputs\"".into(),
            ));
        }
    }
    .map_err(|e| ApiError::Internal(format!("could not render the response: {e}")))?;
    Ok(json_response(body, &m))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use polarity_core::labels::{LabelScheme, Labels};
    use polarity_core::train::{Labelled, ValidTrainConfig, train};
    use tower::ServiceExt;

    use crate::config::Limits;
    use crate::state::{AppState, LoadedModel};

    #[tokio::test]
    async fn a_prediction_has_the_cores_shape() {
        let st = AppState::new(Limits::default()).unwrap();
        let rows = Labelled {
            texts: vec!["great fun".into(), "bad plot".into()],
            classes: vec![1, 0],
        };
        let (c, _) = train(
            &ValidTrainConfig::default(),
            &rows,
            &Labelled::default(),
            Labels::from_names(["negative", "positive"]),
            LabelScheme::Names,
        )
        .unwrap();
        let m = LoadedModel::new(c, "v1".into(), "0".repeat(64)).unwrap();
        let mut s = polarity_core::model::PredictScratch::default();
        for text in ["great fun", "a bad, bad plot", "unknown words"] {
            let out = super::predict_one(&st, &m, text, text.chars().count(), false, &mut s);
            assert_eq!(
                serde_json::to_value(&out).unwrap(),
                serde_json::to_value(m.classifier.predict(text)).unwrap()
            );
        }
    }

    #[tokio::test]
    async fn beyond_the_permits_requests_get_429_after_their_body_is_read() {
        let st = AppState::new(Limits {
            max_concurrent_requests: 1,
            ..Limits::default()
        })
        .unwrap();
        let rows = Labelled {
            texts: vec!["great fun".into(), "bad plot".into()],
            classes: vec![1, 0],
        };
        let (c, _) = train(
            &ValidTrainConfig::default(),
            &rows,
            &Labelled::default(),
            Labels::from_names(["negative", "positive"]),
            LabelScheme::Names,
        )
        .unwrap();
        st.install(LoadedModel::new(c, "v1".into(), "0".repeat(64)).unwrap());
        let held = st.permits().try_acquire().unwrap();
        let req = || {
            Request::post("/predict")
                .body(Body::from(r#"{"text":"great"}"#))
                .unwrap()
        };
        let resp = crate::app(st.clone()).oneshot(req()).await.unwrap();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains(r#""error_type":"overloaded""#));
        drop(held);
        assert_eq!(crate::app(st).oneshot(req()).await.unwrap().status(), 200);
    }
}
