//! The KServe Open Inference Protocol V2 (`/v2/health/live`, `/v2/health/ready`, `/v2/models/{name}`,
//! `/v2/models/{name}/ready`, `POST /v2/models/{name}/infer`) beside Polarity's own routes, with the same
//! limits, body handling ([`super::predict::guard`]) and error table.
//!
//! Inference takes one BYTES input of shape `[n]` (the texts; any input name) and answers three outputs:
//! `label` (BYTES `[n]`), `score` (FP64 `[n]`, the probability of the label) and `probabilities` (FP64
//! `[n, k]`, row-major, classes in the order of the metadata's `parameters.labels`).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::predict::{SCRATCH, check_batch, json_response, predict_one};
use polarity_core::reader::quoted;

use crate::error::ApiError;
use crate::state::{AppState, LoadedModel};

/// `GET /v2/health/live`.
pub async fn live() -> Json<Value> {
    Json(json!({"live": true}))
}

/// `GET /v2/health/ready`.
///
/// # Errors
/// 503 `no_model` before the first model.
pub async fn ready(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    st.model().ok_or(ApiError::NoModel)?;
    Ok(Json(json!({"ready": true})))
}

fn model_named(st: &AppState, name: &str) -> Result<std::sync::Arc<LoadedModel>, ApiError> {
    if name != st.options().model_name {
        return Err(ApiError::NotFound(format!(
            "model {} (this server serves {:?})",
            quoted(name),
            st.options().model_name
        )));
    }
    st.model().ok_or(ApiError::NoModel)
}

/// `GET /v2/models/{name}`: name, version, platform, inputs and outputs.
///
/// # Errors
/// 404 for another name, 503 before the first model.
pub async fn metadata(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let m = model_named(&st, &name)?;
    let k = m.classifier.labels().len();
    Ok(Json(json!({
        "name": name,
        "versions": [m.version],
        "platform": "polarity",
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "score", "datatype": "FP64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, k]},
        ],
        "parameters": {"labels": m.classifier.labels()},
    })))
}

/// `GET /v2/models/{name}/ready`.
///
/// # Errors
/// 404 for another name, 503 before the first model.
pub async fn model_ready(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    model_named(&st, &name)?;
    Ok(Json(json!({"name": name, "ready": true})))
}

#[derive(Debug, Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    inputs: Vec<InferInput>,
    #[serde(default)]
    #[allow(dead_code)]
    parameters: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    outputs: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct InferInput {
    #[allow(dead_code)]
    name: String,
    shape: Vec<i64>,
    datatype: String,
    data: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    parameters: Option<Value>,
}

/// `POST /v2/models/{name}/infer`.
///
/// # Errors
/// The error table: bad JSON or shapes (400/422), limits (413/422), 404 for another name, 503 before the
/// first model.
pub async fn infer(
    State(st): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::InvalidUtf8)?;
    let req: InferRequest = serde_json::from_str(text).map_err(|e| ApiError::from_json(&e))?;
    let m = model_named(&st, &name)?;
    let [input] = req.inputs.as_slice() else {
        return Err(ApiError::InvalidRequest(format!(
            "expected exactly one input (the texts), got {}",
            req.inputs.len()
        )));
    };
    if input.datatype != "BYTES" {
        return Err(ApiError::InvalidRequest(format!(
            "the input's datatype must be BYTES, not {}",
            quoted(&input.datatype)
        )));
    }
    let n = input.data.len();
    if input.shape.iter().product::<i64>() != n as i64
        || input.shape.iter().filter(|&&d| d != 1).count() > 1
    {
        return Err(ApiError::InvalidRequest(format!(
            "shape {} does not hold the {n} texts in data",
            quoted(&format!("{:?}", input.shape))
        )));
    }
    let chars = check_batch(&input.data, "inputs[0].data", st.limits())?;
    st.metrics().batch_size.observe(n as f64);
    let k = m.classifier.labels().len();
    let (mut labels, mut scores, mut probs) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n * k),
    );
    SCRATCH.with_borrow_mut(|s| {
        for (t, c) in input.data.iter().zip(chars) {
            let p = predict_one(&st, &m, t, c, false, s);
            labels.push(p.label.to_string());
            scores.push(p.probabilities.probs.iter().copied().fold(0.0, f64::max));
            probs.extend_from_slice(&p.probabilities.probs);
        }
    });
    let mut out = json!({
        "model_name": name,
        "model_version": m.version,
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [n], "data": labels},
            {"name": "score", "datatype": "FP64", "shape": [n], "data": scores},
            {"name": "probabilities", "datatype": "FP64", "shape": [n, k], "data": probs},
        ],
    });
    if let Some(id) = req.id {
        out["id"] = json!(id);
    }
    let body = serde_json::to_vec(&out)
        .map_err(|e| ApiError::Internal(format!("could not render the response: {e}")))?;
    Ok(json_response(body, &m))
}
