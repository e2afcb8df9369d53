//! `GET /openapi.json`: a hand-written OpenAPI 3.1 description of the API, built once.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

static SPEC: LazyLock<String> = LazyLock::new(|| spec().to_string());

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
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
                "responses": {
                    "200": {"description": "Prediction(s); header x-model-version names the model",
                            "headers": {"x-model-version": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"oneOf": [
                                {"$ref": "#/components/schemas/Prediction"}, {"$ref": "#/components/schemas/BatchPrediction"}]}}}},
                    "400": error_response("invalid_json, invalid_utf8"),
                    "405": error_response("method_not_allowed"),
                    "413": error_response("body_too_large"),
                    "422": error_response("invalid_request, empty_text, text_too_long, too_many_texts"),
                    "429": error_response("overloaded"),
                    "503": error_response("timeout, model_not_ready"),
                }}},
            "/health": {"get": {"summary": "Process alive", "responses": {"200": {"description": "OK"}}}},
            "/ready": {"get": {"summary": "A model is loaded", "responses": {"200": {"description": "Ready"}, "503": error_response("model_not_ready")}}},
            "/info": {"get": {"summary": "Model version, sha256, labels, training metrics, build", "responses": {"200": {"description": "OK"}, "503": error_response("model_not_ready")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text/plain exposition"}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OK"}}}},
        },
        "components": {"schemas": {
            "PredictRequest": {"type": "object", "additionalProperties": false, "properties": {
                "text": {"type": "string", "minLength": 1},
                "texts": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                "explain": {"type": "boolean", "default": false}},
                "oneOf": [{"required": ["text"]}, {"required": ["texts"]}]},
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
                "error_type": {"type": "string", "enum": ["invalid_json", "invalid_utf8", "invalid_request", "empty_text",
                    "text_too_long", "too_many_texts", "body_too_large", "not_found", "method_not_allowed", "overloaded",
                    "timeout", "model_not_ready", "internal"]}}},
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
