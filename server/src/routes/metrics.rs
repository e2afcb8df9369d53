//! `GET /metrics`: Prometheus text exposition of the server's own registry.

use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Renders every metric (updating `polarity_class_drift` first).
pub async fn metrics(State(st): State<AppState>) -> Response {
    st.metrics().update_drift(Instant::now());
    let mut r = st.metrics().render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
