//! `GET /docs`: a page that renders `/openapi.json` (every route with its request and response schemas and
//! error types) and lets one try `/predict` from the browser. Embedded in the binary: nothing is fetched
//! but the server's own `/openapi.json`.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("docs.html");

/// Serves the page.
pub async fn docs() -> Response {
    let mut r = PAGE.into_response();
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
