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

/// What every route can answer whatever it is: the connection layer's errors (`busy`: past the connection
/// limit; the prediction routes also when the body budget is full).
const PROTOCOL: &[ErrorType] = &[
    ErrorType::BadRequest,
    ErrorType::Busy,
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
            "/": {"post": {
                "summary": "As /predict (TEI serves classification at both)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}}},
                "responses": responses(json!({"description": "As /predict"}),
                    &[ErrorType::InvalidJson, ErrorType::InvalidUtf8, ErrorType::BodyTooLarge, ErrorType::InvalidRequest,
                      ErrorType::EmptyText, ErrorType::TextTooLong, ErrorType::TooManyTexts, ErrorType::Overloaded,
                      ErrorType::Unauthorized, ErrorType::Timeout, ErrorType::NoModel, ErrorType::Internal]),
                }},
            "/v2": {"get": {"summary": "KServe V2: server metadata (name, version, extensions)", "responses": responses(json!({"description": "metadata"}), &[ErrorType::Unauthorized])}},
            "/v2/health/live": {"get": {"summary": "KServe V2: server live (open with --api-key)", "responses": responses(json!({"description": "{\"live\": true}"}), &[])}},
            "/v2/health/ready": {"get": {"summary": "KServe V2: a model is loaded (open with --api-key)", "responses": responses(json!({"description": "{\"ready\": true}"}), &[ErrorType::NoModel])}},
            "/v2/models/{name}/versions/{version}": {"get": {"summary": "KServe V2: metadata of a served version (production, or the one it replaced while kept for shadow scoring)",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "version", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": responses(json!({"description": "metadata"}), &[ErrorType::Unauthorized, ErrorType::NotFound, ErrorType::NoModel])}},
            "/v2/models/{name}/versions/{version}/ready": {"get": {"summary": "KServe V2: a served version ready",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "version", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": responses(json!({"description": "ready"}), &[ErrorType::Unauthorized, ErrorType::NotFound, ErrorType::NoModel])}},
            "/v2/models/{name}/versions/{version}/infer": {"post": {
                "summary": "KServe V2 inference with a served version",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "version", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}}, "application/octet-stream": {"schema": {"description": "binary tensor data extension: JSON part (length in Inference-Header-Content-Length), then the data"}}}},
                "responses": responses(json!({"description": "as /v2/models/{name}/infer"}),
                    &[ErrorType::InvalidJson, ErrorType::InvalidUtf8, ErrorType::BodyTooLarge, ErrorType::InvalidRequest,
                      ErrorType::EmptyText, ErrorType::TextTooLong, ErrorType::TooManyTexts, ErrorType::Overloaded,
                      ErrorType::Unauthorized, ErrorType::NotFound, ErrorType::Timeout, ErrorType::NoModel, ErrorType::Internal])}},
            "/v2/models/{name}": {"get": {"summary": "KServe V2: model metadata (name, versions, inputs, outputs, labels)",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": responses(json!({"description": "metadata"}), &[ErrorType::Unauthorized, ErrorType::NotFound, ErrorType::NoModel])}},
            "/v2/models/{name}/ready": {"get": {"summary": "KServe V2: model ready",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": responses(json!({"description": "ready"}), &[ErrorType::Unauthorized, ErrorType::NotFound, ErrorType::NoModel])}},
            "/v2/models/{name}/infer": {"post": {
                "summary": "KServe V2 inference: one BYTES input of texts; outputs label, score, probabilities",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}}, "application/octet-stream": {"schema": {"description": "binary tensor data extension: JSON part (length in Inference-Header-Content-Length), then the data"}}}},
                "responses": responses(json!({"description": "outputs label (BYTES [n]), score (FP64 [n]), probabilities (FP64 [n, k]); `outputs` selects, binary_data returns them after the JSON part"}),
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
                "inputs": {"description": "Text Embeddings Inference's shape: a text, a pair [text, text] (scored joined by a space) or a batch [[text], [text, text], …]; the answer is then [{label, score}, …] per text, best first",
                           "oneOf": [{"type": "string", "pattern": "\\S"},
                                     {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
                                     {"type": "array", "minItems": 1, "items": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2}}]},
                "raw_scores": {"type": "boolean", "default": false, "description": "TEI: log-probabilities instead of probabilities"},
                "truncate": {"type": ["boolean", "null"], "description": "TEI: accepted, changes nothing (texts are not cut to a token budget)"},
                "truncation_direction": {"enum": ["Left", "Right", "left", "right"], "description": "TEI: accepted, changes nothing"},
                "parameters": {"type": "object", "description": "Hugging Face Inference API: top_k keeps the best k labels, function_to_apply softmax/sigmoid gives probabilities, none log-probabilities; the answer is a list per text",
                               "properties": {"top_k": {"type": ["integer", "null"], "minimum": 1}, "function_to_apply": {"enum": ["softmax", "sigmoid", "none", null]}}}},
                "oneOf": [{"required": ["text"]}, {"required": ["texts"]}, {"required": ["inputs"]}]},
            "InferRequest": {"type": "object", "required": ["inputs"], "properties": {
                "id": {"type": "string"},
                "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": {"type": "object", "required": ["name", "shape", "datatype"], "properties": {
                    "name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}},
                    "datatype": {"const": "BYTES"}, "data": {"type": "array", "items": {"type": "string", "pattern": "\\S"}, "minItems": 1},
                    "parameters": {"type": "object", "properties": {"binary_data_size": {"type": "integer", "description": "binary tensor data extension: the texts follow the JSON part"}}}}}},
                "parameters": {"type": "object", "properties": {"binary_data_output": {"type": "boolean"}}},
                "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                    "name": {"enum": ["label", "score", "probabilities"]},
                    "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}}}}}}},
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
