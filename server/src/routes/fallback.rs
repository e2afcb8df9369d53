//! JSON answers for unknown routes (404 `not_found`) and known routes with the wrong method
//! (405 `method_not_allowed`).

use axum::http::{Method, Uri};

use polarity_core::reader::quoted;

use crate::error::ApiError;

/// Unknown route.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!(
        "{} {}",
        quoted(method.as_str()),
        quoted(uri.path())
    ))
}

/// Known route, wrong method.
pub async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(quoted(method.as_str()))
}
