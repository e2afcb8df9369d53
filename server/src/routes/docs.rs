//! `GET /docs`: a page that renders `/openapi.json` (every route with its request and response schemas and
//! error types) and lets one try `/predict` from the browser. Embedded in the binary: nothing is fetched
//! but the server's own `/openapi.json`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

const PAGE: &str = include_str!("docs.html");

/// Serves the page, its "try it" URLs built from the served model name (`--model-name`).
pub async fn docs(State(st): State<AppState>) -> Response {
    // a JSON string literal inside a script: `</` would end the script element
    let name = serde_json::to_string(&st.options().model_name)
        .unwrap_or_else(|_| "\"polarity\"".into())
        .replace("</", "<\\/");
    let mut r = PAGE.replace("\"__MODEL_NAME__\"", &name).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
        ),
    );
    r
}
