//! `GET /health` (the process is alive) and `GET /ready` (a model is loaded; 503 before).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// Liveness: always 200 while the process serves HTTP.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: 200 with the model version once a model is loaded, else 503 `no_model`.
///
/// # Errors
/// [`ApiError::NoModel`] before the first model is installed.
pub async fn ready(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let m = st.model().ok_or(ApiError::NoModel)?;
    Ok(Json(json!({"status": "ready", "model_version": m.version})))
}
