//! The KServe Open Inference Protocol V2 beside Polarity's own routes, with the same limits, body handling
//! (`super::predict::guard`) and error table: server metadata (`GET /v2`), health (`/v2/health/live`,
//! `/v2/health/ready`, open like `/health` when `--api-key` is set), model metadata and readiness
//! (`/v2/models/{name}[/versions/{version}][/ready]`) and inference
//! (`POST /v2/models/{name}[/versions/{version}]/infer`). A version is the production one, or the one it
//! replaced while that is kept warm for shadow scoring; any other is 404.
//!
//! Inference takes one BYTES input of shape `[n]` (the texts; any input name) and answers three outputs:
//! `label` (BYTES `[n]`), `score` (FP64 `[n]`, the probability of the label) and `probabilities` (FP64
//! `[n, k]`, row-major, classes in the order of the metadata's `parameters.labels`). `outputs` selects
//! some of them. The **binary tensor data extension** is supported both ways: a request whose
//! `Inference-Header-Content-Length` header says how long its JSON part is carries the texts after it
//! (each a 4-byte little-endian length, then the bytes; `parameters.binary_data_size` of the input), and
//! outputs asked for with `parameters.binary_data: true` (or all of them with the request's
//! `parameters.binary_data_output: true`) come back after the JSON part the same way (FP64 as
//! little-endian 8-byte floats), with that header on the response.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use polarity_core::reader::quoted;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::predict::{MODEL_VERSION_HEADER, SCRATCH, check_batch, json_response, predict_one};
use crate::error::ApiError;
use crate::state::{AppState, LoadedModel};

/// The binary tensor data extension's header: the length of the JSON part of a body.
pub(crate) const HEADER_LENGTH: HeaderName =
    HeaderName::from_static("inference-header-content-length");

/// The outputs, in the order they are answered.
const OUTPUTS: [&str; 3] = ["label", "score", "probabilities"];

/// `GET /v2`: the server's name, version and protocol extensions.
pub(crate) async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": "polarity",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data"],
    }))
}

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

/// The model `name` serves at `version` (the production one when `None`; see the module docs).
fn model_at(
    st: &AppState,
    name: &str,
    version: Option<&str>,
) -> Result<std::sync::Arc<LoadedModel>, ApiError> {
    if name != st.options().model_name {
        return Err(ApiError::NotFound(format!(
            "model {} (this server serves {:?})",
            quoted(name),
            st.options().model_name
        )));
    }
    let m = st.model().ok_or(ApiError::NoModel)?;
    let Some(v) = version else { return Ok(m) };
    if m.version == v {
        return Ok(m);
    }
    match st.previous_model() {
        Some(p) if p.version == v => Ok(p),
        _ => Err(ApiError::NotFound(format!(
            "version {} of model {name:?} (serving {})",
            quoted(v),
            m.version
        ))),
    }
}

fn metadata_of(name: &str, m: &LoadedModel) -> Value {
    let k = m.classifier.labels().len();
    json!({
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
    })
}

/// `GET /v2/models/{name}`: name, version, platform, inputs and outputs.
///
/// # Errors
/// 404 for another name, 503 before the first model.
pub async fn metadata(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let m = model_at(&st, &name, None)?;
    Ok(Json(metadata_of(&name, &m)))
}

/// `GET /v2/models/{name}/versions/{version}`.
///
/// # Errors
/// 404 for another name or version, 503 before the first model.
pub(crate) async fn version_metadata(
    State(st): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let m = model_at(&st, &name, Some(&version))?;
    Ok(Json(metadata_of(&name, &m)))
}

/// `GET /v2/models/{name}/ready`.
///
/// # Errors
/// 404 for another name, 503 before the first model.
pub(crate) async fn model_ready(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    model_at(&st, &name, None)?;
    Ok(Json(json!({"name": name, "ready": true})))
}

/// `GET /v2/models/{name}/versions/{version}/ready`.
///
/// # Errors
/// 404 for another name or version, 503 before the first model.
pub(crate) async fn version_ready(
    State(st): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    model_at(&st, &name, Some(&version))?;
    Ok(Json(json!({"name": name, "ready": true})))
}

#[derive(Debug, Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    inputs: Vec<InferInput>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default)]
    outputs: Option<Vec<OutputRequest>>,
}

#[derive(Debug, Deserialize)]
struct InferInput {
    #[allow(dead_code)]
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    data: Option<Vec<String>>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
struct OutputRequest {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

fn flag(p: Option<&Map<String, Value>>, key: &str) -> Option<bool> {
    p.and_then(|m| m.get(key)).and_then(Value::as_bool)
}

/// The BYTES elements of a binary tensor: each a 4-byte little-endian length, then that many bytes.
fn bytes_elements(mut b: &[u8]) -> Result<Vec<String>, ApiError> {
    let bad = |what: &str| ApiError::InvalidRequest(format!("binary input data: {what}"));
    let mut out = Vec::new();
    while !b.is_empty() {
        let (len, rest) = b
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("an element's 4-byte length is cut short"))?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(bad("an element is longer than the data left"));
        }
        let (s, rest) = rest.split_at(len);
        out.push(
            std::str::from_utf8(s)
                .map_err(|_| ApiError::InvalidUtf8)?
                .to_string(),
        );
        b = rest;
    }
    Ok(out)
}

/// The request's JSON part and its binary data (empty without the extension's header).
fn split_body<'a>(headers: &HeaderMap, body: &'a [u8]) -> Result<(&'a [u8], &'a [u8]), ApiError> {
    let Some(v) = headers.get(&HEADER_LENGTH) else {
        return Ok((body, &[]));
    };
    let n: usize = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&n| n <= body.len())
        .ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "{HEADER_LENGTH} must be a length within the body's {} bytes",
                body.len()
            ))
        })?;
    Ok(body.split_at(n))
}

/// `POST /v2/models/{name}/infer`.
///
/// # Errors
/// The error table: bad JSON or shapes (400/422), limits (413/422), 404 for another name, 503 before the
/// first model.
pub async fn infer(
    State(st): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    infer_at(&st, &name, None, &headers, &body)
}

/// `POST /v2/models/{name}/versions/{version}/infer`.
///
/// # Errors
/// As [`infer`]; 404 for a version not served.
pub(crate) async fn infer_version(
    State(st): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    infer_at(&st, &name, Some(&version), &headers, &body)
}

fn infer_at(
    st: &AppState,
    name: &str,
    version: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let (head, binary) = split_body(headers, body)?;
    let text = std::str::from_utf8(head).map_err(|_| ApiError::InvalidUtf8)?;
    let req: InferRequest = serde_json::from_str(text).map_err(|e| ApiError::from_json(&e))?;
    let m = model_at(st, name, version)?;
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
    let binary_size = input
        .parameters
        .as_ref()
        .and_then(|p| p.get("binary_data_size"))
        .and_then(Value::as_u64);
    let texts = match (&input.data, binary_size) {
        (Some(d), None) => d.clone(),
        (None, Some(size)) if size as usize == binary.len() => bytes_elements(binary)?,
        (None, Some(size)) => {
            return Err(ApiError::InvalidRequest(format!(
                "the input's binary_data_size is {size}, but {} bytes follow the JSON part",
                binary.len()
            )));
        }
        _ => {
            return Err(ApiError::InvalidRequest(
                "the input needs \"data\" or, with the binary tensor data extension, parameters.binary_data_size".into(),
            ));
        }
    };
    let n = texts.len();
    if input.shape.iter().product::<i64>() != n as i64
        || input.shape.iter().filter(|&&d| d != 1).count() > 1
    {
        return Err(ApiError::InvalidRequest(format!(
            "shape {} does not hold the {n} texts in data",
            quoted(&format!("{:?}", input.shape))
        )));
    }
    // which outputs, each binary or not
    let all_binary = flag(req.parameters.as_ref(), "binary_data_output").unwrap_or(false);
    let wanted: Vec<(&str, bool)> = match &req.outputs {
        None => OUTPUTS.iter().map(|o| (*o, all_binary)).collect(),
        Some(outs) => outs
            .iter()
            .map(|o| {
                let known = OUTPUTS.iter().find(|k| **k == o.name).ok_or_else(|| {
                    ApiError::InvalidRequest(format!(
                        "no output named {}; the outputs are label, score and probabilities",
                        quoted(&o.name)
                    ))
                })?;
                Ok((
                    *known,
                    flag(o.parameters.as_ref(), "binary_data").unwrap_or(all_binary),
                ))
            })
            .collect::<Result<_, ApiError>>()?,
    };
    let chars = check_batch(&texts, "inputs[0].data", st.limits())?;
    st.metrics().batch_size.observe(n as f64);
    let k = m.classifier.labels().len();
    let (mut labels, mut scores, mut probs) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n * k),
    );
    SCRATCH.with_borrow_mut(|s| {
        for (t, c) in texts.iter().zip(chars) {
            let p = predict_one(st, &m, t, c, false, s);
            labels.push(p.label.to_string());
            scores.push(p.probabilities.probs.iter().copied().fold(0.0, f64::max));
            probs.extend_from_slice(&p.probabilities.probs);
        }
    });
    let mut outputs = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    for (output, binary) in wanted {
        let (datatype, shape, data, bytes): (&str, Value, Value, Vec<u8>) = match output {
            "label" => (
                "BYTES",
                json!([n]),
                json!(labels),
                labels
                    .iter()
                    .flat_map(|l| {
                        let mut b = (l.len() as u32).to_le_bytes().to_vec();
                        b.extend_from_slice(l.as_bytes());
                        b
                    })
                    .collect(),
            ),
            "score" => (
                "FP64",
                json!([n]),
                json!(scores),
                scores.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            _ => (
                "FP64",
                json!([n, k]),
                json!(probs),
                probs.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
        };
        let mut o = json!({"name": output, "datatype": datatype, "shape": shape});
        if binary {
            o["parameters"] = json!({"binary_data_size": bytes.len()});
            tail.extend_from_slice(&bytes);
        } else {
            o["data"] = data;
        }
        outputs.push(o);
    }
    let mut out = json!({
        "model_name": name,
        "model_version": m.version,
        "outputs": outputs,
    });
    if let Some(id) = req.id {
        out["id"] = json!(id);
    }
    let mut body = serde_json::to_vec(&out)
        .map_err(|e| ApiError::Internal(format!("could not render the response: {e}")))?;
    if tail.is_empty() {
        return Ok(json_response(body, &m));
    }
    let json_len = body.len();
    body.extend_from_slice(&tail);
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(HEADER_LENGTH, HeaderValue::from(json_len));
    h.insert(MODEL_VERSION_HEADER, m.version_header.clone());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_bytes_elements_decode_and_refuse_cut_data() {
        let mut b = Vec::new();
        for s in ["great", "", "awful film"] {
            b.extend_from_slice(&(s.len() as u32).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        assert_eq!(bytes_elements(&b).unwrap(), ["great", "", "awful film"]);
        assert!(bytes_elements(&b[..b.len() - 1]).is_err());
        assert!(bytes_elements(&[1, 0]).is_err());
        assert!(bytes_elements(&[1, 0, 0, 0, 0xff]).is_err());
    }
}
