//! `GET /info`: the serving model (version, SHA-256, labels, training data summary and held-out metrics)
//! and the server build.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// Model and build description.
///
/// # Errors
/// [`ApiError::NoModel`] before the first model is installed.
pub async fn info(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let m = st.model().ok_or(ApiError::NoModel)?;
    let meta = &m.classifier.meta;
    let loaded_at = m
        .loaded_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    Ok(Json(json!({
        "model_version": m.version,
        "sha256": m.sha256,
        "labels": meta.labels,
        "loaded_at_unix": loaded_at,
        "trained_with": meta.polarity_version,
        "features": m.classifier.tfidf.n_features(),
        "training": {
            "digest": meta.data.digest,
            "n_train": meta.data.n_train,
            "n_test": meta.data.n_test,
            "class_prior": meta.labels.iter().zip(&meta.data.class_prior).map(|(l, p)| (l.clone(), json!(p))).collect::<serde_json::Map<_, _>>(),
        },
        "metrics": meta.metrics,
        "build": {"version": env!("CARGO_PKG_VERSION")},
        "limits": {
            "max_body_bytes": st.limits().max_body_bytes,
            "max_batch": st.limits().max_batch,
            "max_text_chars": st.limits().max_text_chars,
            "max_concurrent_requests": st.limits().max_concurrent_requests,
            "request_timeout_s": st.limits().request_timeout.as_secs_f64(),
        },
    })))
}
