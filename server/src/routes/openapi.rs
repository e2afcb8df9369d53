//! `GET /openapi.json`: the OpenAPI 3.1 description of the API, built once. Error responses and the
//! `error_type` enum come from [`ErrorType`], so the document lists exactly the errors the server sends.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ErrorType;

static SPEC: LazyLock<String> = LazyLock::new(|| spec().to_string());

/// The error responses of a route: every status of `types`, each naming its error types.
fn errors(types: &[ErrorType]) -> BTreeMap<String, Value> {
    let mut by_status: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for t in types {
        by_status
            .entry(t.status().as_u16().to_string())
            .or_default()
            .push(t.as_str());
    }
    by_status
        .into_iter()
        .map(|(status, names)| {
            (
                status,
                json!({"description": names.join(", "), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            )
        })
        .collect()
}

/// What every route can answer whatever it is: the connection layer's errors.
const PROTOCOL: &[ErrorType] = &[
    ErrorType::BadRequest,
    ErrorType::UriTooLong,
    ErrorType::HeadersTooLarge,
    ErrorType::BodyTimeout,
    ErrorType::MethodNotAllowed,
];

fn responses(ok: Value, types: &[ErrorType]) -> Value {
    let mut m = errors(&[PROTOCOL, types].concat());
    m.insert("200".into(), ok);
    json!(m)
}

/// The OpenAPI document.
pub fn spec() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Polarity inference server", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Sentiment classification. Errors are {\"error\", \"error_type\"}; see error_type values in the Error schema."},
        "paths": {
            "/predict": {"post": {
                "summary": "Classify one text or a batch",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}}},
                "responses": responses(
                    json!({"description": "Prediction(s); header x-model-version names the model",
                            "headers": {"x-model-version": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"oneOf": [
                                {"$ref": "#/components/schemas/Prediction"}, {"$ref": "#/components/schemas/BatchPrediction"}]}}}}),
                    &[ErrorType::InvalidJson, ErrorType::InvalidUtf8, ErrorType::BodyTooLarge, ErrorType::InvalidRequest,
                      ErrorType::EmptyText, ErrorType::TextTooLong, ErrorType::TooManyTexts, ErrorType::Overloaded,
                      ErrorType::Unauthorized, ErrorType::Timeout, ErrorType::NoModel, ErrorType::Internal]),
                }},
            "/v2/health/live": {"get": {"summary": "KServe V2: server live", "responses": responses(json!({"description": "{\"live\": true}"}), &[ErrorType::Unauthorized])}},
            "/v2/health/ready": {"get": {"summary": "KServe V2: a model is loaded", "responses": responses(json!({"description": "{\"ready\": true}"}), &[ErrorType::Unauthorized, ErrorType::NoModel])}},
            "/v2/models/{name}": {"get": {"summary": "KServe V2: model metadata (name, versions, inputs, outputs, labels)",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": responses(json!({"description": "metadata"}), &[ErrorType::Unauthorized, ErrorType::NotFound, ErrorType::NoModel])}},
            "/v2/models/{name}/ready": {"get": {"summary": "KServe V2: model ready",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": responses(json!({"description": "ready"}), &[ErrorType::Unauthorized, ErrorType::NotFound, ErrorType::NoModel])}},
            "/v2/models/{name}/infer": {"post": {
                "summary": "KServe V2 inference: one BYTES input of texts; outputs label, score, probabilities",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}}}},
                "responses": responses(json!({"description": "outputs label (BYTES [n]), score (FP64 [n]), probabilities (FP64 [n, k])"}),
                    &[ErrorType::InvalidJson, ErrorType::InvalidUtf8, ErrorType::BodyTooLarge, ErrorType::InvalidRequest,
                      ErrorType::EmptyText, ErrorType::TextTooLong, ErrorType::TooManyTexts, ErrorType::Overloaded,
                      ErrorType::Unauthorized, ErrorType::NotFound, ErrorType::Timeout, ErrorType::NoModel, ErrorType::Internal])}},
            "/docs": {"get": {"summary": "This API, readable in a browser", "responses": responses(json!({"description": "HTML"}), &[])}},
            "/health": {"get": {"summary": "Process alive", "responses": responses(json!({"description": "OK"}), &[])}},
            "/ready": {"get": {"summary": "A model is loaded", "responses": responses(json!({"description": "Ready"}), &[ErrorType::NoModel])}},
            "/info": {"get": {"summary": "Model version, sha256, labels, training metrics, build", "responses": responses(json!({"description": "OK"}), &[ErrorType::NoModel])}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": responses(json!({"description": "text/plain exposition"}), &[])}},
            "/openapi.json": {"get": {"summary": "This document", "responses": responses(json!({"description": "OK"}), &[])}},
        },
        "components": {"schemas": {
            "PredictRequest": {"type": "object", "additionalProperties": false, "properties": {
                "text": {"type": "string", "pattern": "\\S"},
                "texts": {"type": "array", "items": {"type": "string", "pattern": "\\S"}, "minItems": 1},
                "explain": {"type": "boolean", "default": false},
                "inputs": {"description": "Text Embeddings Inference's shape; the answer is then [{label, score}, …] per text, best first",
                           "oneOf": [{"type": "string", "pattern": "\\S"}, {"type": "array", "items": {"type": "string", "pattern": "\\S"}, "minItems": 1}]}},
                "oneOf": [{"required": ["text"]}, {"required": ["texts"]}, {"required": ["inputs"]}]},
            "InferRequest": {"type": "object", "required": ["inputs"], "properties": {
                "id": {"type": "string"},
                "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": {"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
                    "name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}},
                    "datatype": {"const": "BYTES"}, "data": {"type": "array", "items": {"type": "string", "pattern": "\\S"}, "minItems": 1}}}},
                "parameters": {"type": "object"}, "outputs": {"type": "array"}}},
            "Prediction": {"type": "object", "required": ["label", "score", "probabilities"], "properties": {
                "label": {"type": "string"}, "score": {"type": "number"},
                "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
                "explanation": {"type": "array", "items": {"type": "object", "properties": {"ngram": {"type": "string"}, "weight": {"type": "number"}}}},
                "model_version": {"type": "string"}}},
            "BatchPrediction": {"type": "object", "required": ["predictions", "model_version"], "properties": {
                "predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}},
                "model_version": {"type": "string"}}},
            "Error": {"type": "object", "required": ["error", "error_type"], "properties": {
                "error": {"type": "string"},
                "error_type": {"type": "string", "enum": ErrorType::NAMES}}},
        }},
    })
}

/// Serves the document.
pub async fn openapi() -> Response {
    let mut r = SPEC.as_str().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
