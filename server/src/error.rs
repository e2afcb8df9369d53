//! The one table from error kind to HTTP status and stable `error_type`. Every error the API returns is an
//! [`ApiError`] rendered as `{"error": "<message>", "error_type": "<type>"}`.
//!
//! | error_type           | status | when |
//! |----------------------|--------|------|
//! | `invalid_json`       | 400 | the body is not JSON |
//! | `invalid_utf8`       | 400 | the body is not UTF-8 |
//! | `invalid_request`    | 422 | JSON of the wrong shape: wrong types, unknown fields, neither or both of `text`/`texts`, empty `texts` |
//! | `empty_text`         | 422 | a text is empty or only whitespace |
//! | `text_too_long`      | 422 | a text has more than `--max-text-chars` characters |
//! | `too_many_texts`     | 422 | more than `--max-batch` texts |
//! | `body_too_large`     | 413 | the body exceeds `--max-body-bytes` |
//! | `not_found`          | 404 | unknown route |
//! | `method_not_allowed` | 405 | known route, wrong method |
//! | `overloaded`         | 429 | more than `--max-concurrent-requests` `/predict` requests at once |
//! | `timeout`            | 503 | a `/predict` request took longer than `--request-timeout` (a server-side condition, retryable, so 503 rather than 408) |
//! | `model_not_ready`    | 503 | no model is loaded yet |
//! | `internal`           | 500 | a server bug; never caused by client input |

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Everything that can go wrong while serving a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The body is not valid JSON.
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body is not UTF-8.
    #[error("request body is not valid UTF-8")]
    InvalidUtf8,
    /// Valid JSON of the wrong shape.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A text is empty or whitespace.
    #[error("{0} is empty")]
    EmptyText(String),
    /// A text is longer than the limit.
    #[error("{what} has {chars} characters; the limit is {limit}")]
    TextTooLong {
        /// Which text (`text` or `texts[i]`).
        what: String,
        /// Its length in characters.
        chars: usize,
        /// The limit.
        limit: usize,
    },
    /// A batch is larger than the limit.
    #[error("{n} texts in one request; the limit is {limit}")]
    TooManyTexts {
        /// Texts sent.
        n: usize,
        /// The limit.
        limit: usize,
    },
    /// The body is larger than the limit.
    #[error("request body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// No such route.
    #[error("no route for {0}")]
    NotFound(String),
    /// The route exists but not for this method.
    #[error("method {0} is not allowed on this route")]
    MethodNotAllowed(String),
    /// Too many requests in flight.
    #[error("server is at its concurrent request limit; retry shortly")]
    Overloaded,
    /// The request took too long.
    #[error("request did not complete within {0:?}")]
    Timeout(std::time::Duration),
    /// No model loaded yet.
    #[error("no model is loaded yet")]
    ModelNotReady,
    /// A server-side bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// HTTP status and stable `error_type` of this error: the table in the module docs.
    pub fn kind(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            Self::InvalidUtf8 => (StatusCode::BAD_REQUEST, "invalid_utf8"),
            Self::InvalidRequest(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            Self::EmptyText(_) => (StatusCode::UNPROCESSABLE_ENTITY, "empty_text"),
            Self::TextTooLong { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "text_too_long"),
            Self::TooManyTexts { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "too_many_texts"),
            Self::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Overloaded => (StatusCode::TOO_MANY_REQUESTS, "overloaded"),
            Self::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            Self::ModelNotReady => (StatusCode::SERVICE_UNAVAILABLE, "model_not_ready"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// Classifies a `serde_json` error: syntax → `invalid_json`, shape → `invalid_request`.
    pub fn from_json(e: &serde_json::Error) -> Self {
        match e.classify() {
            serde_json::error::Category::Data => Self::InvalidRequest(e.to_string()),
            _ => Self::InvalidJson(e.to_string()),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_type: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error_type) = self.kind();
        let message = self.to_string();
        let body = serde_json::to_vec(&Body {
            error: &message,
            error_type,
        })
        .unwrap_or_default();
        let mut r = (status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if matches!(
            self,
            Self::Overloaded | Self::Timeout(_) | Self::ModelNotReady
        ) {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_4xx_and_types_are_unique() {
        let all = [
            ApiError::InvalidJson(String::new()),
            ApiError::InvalidUtf8,
            ApiError::InvalidRequest(String::new()),
            ApiError::EmptyText(String::new()),
            ApiError::TextTooLong {
                what: String::new(),
                chars: 2,
                limit: 1,
            },
            ApiError::TooManyTexts { n: 2, limit: 1 },
            ApiError::BodyTooLarge { limit: 1 },
            ApiError::NotFound(String::new()),
            ApiError::MethodNotAllowed(String::new()),
            ApiError::Overloaded,
        ];
        for e in &all {
            assert!(e.kind().0.is_client_error(), "{e:?}");
        }
        let mut types: Vec<_> = all.iter().map(|e| e.kind().1).collect();
        types.sort_unstable();
        types.dedup();
        assert_eq!(types.len(), all.len());
    }
}
