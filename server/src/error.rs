//! The one table from error kind to HTTP status and stable `error_type`. Every error a client can get is
//! `{"error": "<message>", "error_type": "<type>"}`: [`ApiError`] for what the handlers find, and the same
//! [`ErrorType`]s for what the connection layer finds (a malformed request line or header, an overlong URI
//! or header block, a body or header that never arrives). The status table, the responses and the
//! OpenAPI document are all built from [`ErrorType`].
//!
//! | error_type           | status | when |
//! |----------------------|--------|------|
//! | `bad_request`        | 400 | the HTTP request itself is malformed (request line, header syntax, chunked body framing) |
//! | `invalid_json`       | 400 | the body is not JSON |
//! | `invalid_utf8`       | 400 | the body is not UTF-8 |
//! | `unauthorized`       | 401 | `--api-key` is set and the bearer token is missing or wrong |
//! | `not_found`          | 404 | unknown route (or model name) |
//! | `method_not_allowed` | 405 | known route, wrong method |
//! | `body_timeout`       | 408 | the body (or the request headers) did not arrive within `--request-timeout` |
//! | `body_too_large`     | 413 | the body exceeds `--max-body-bytes` (a declared `Content-Length` is refused at once, a chunked body as soon as its chunk sizes pass the limit) |
//! | `uri_too_long`       | 414 | the request target is too long |
//! | `invalid_request`    | 422 | JSON of the wrong shape: wrong types, unknown fields, neither or both of `text`/`texts`, empty `texts` |
//! | `empty_text`         | 422 | a text is empty or only whitespace |
//! | `text_too_long`      | 422 | a text has more than `--max-text-chars` characters |
//! | `too_many_texts`     | 422 | more than `--max-batch` texts |
//! | `overloaded`         | 429 | more than `--max-concurrent-requests` `/predict` requests at once |
//! | `headers_too_large`  | 431 | the request header block is too large |
//! | `internal`           | 500 | a server bug; never caused by client input |
//! | `timeout`            | 503 | prediction took longer than `--request-timeout` (a server-side condition, retryable) |
//! | `no_model`           | 503 | no model is loaded yet (the registry has no production model, or it is being loaded) |
//! | `busy`               | 503 | the server holds `--max-buffered-bytes` of request bodies, or `--max-connections` connections (retryable) |

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

polarity_core::named_enum! {
    /// The stable `error_type` of every error response (see the module docs).
    pub enum ErrorType {
        /// 400.
        BadRequest = "bad_request",
        /// 400.
        InvalidJson = "invalid_json",
        /// 400.
        InvalidUtf8 = "invalid_utf8",
        /// 401.
        Unauthorized = "unauthorized",
        /// 404.
        NotFound = "not_found",
        /// 405.
        MethodNotAllowed = "method_not_allowed",
        /// 408.
        BodyTimeout = "body_timeout",
        /// 413.
        BodyTooLarge = "body_too_large",
        /// 414.
        UriTooLong = "uri_too_long",
        /// 422.
        InvalidRequest = "invalid_request",
        /// 422.
        EmptyText = "empty_text",
        /// 422.
        TextTooLong = "text_too_long",
        /// 422.
        TooManyTexts = "too_many_texts",
        /// 429.
        Overloaded = "overloaded",
        /// 431.
        HeadersTooLarge = "headers_too_large",
        /// 500.
        Internal = "internal",
        /// 503.
        Timeout = "timeout",
        /// 503.
        NoModel = "no_model",
        /// 503.
        Busy = "busy",
    }
}

impl ErrorType {
    /// The HTTP status of this error type: the table in the module docs.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest | Self::InvalidJson | Self::InvalidUtf8 => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::InvalidRequest | Self::EmptyText | Self::TextTooLong | Self::TooManyTexts => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Timeout | Self::NoModel | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The error body for `message`.
    pub fn body(&self, message: &str) -> Vec<u8> {
        serde_json::to_vec(&Body {
            error: message,
            error_type: *self,
        })
        .expect("an error body is two strings and always serialises")
    }
}

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
    #[error("no model is loaded yet: the registry has no production model, or it is being loaded")]
    NoModel,
    /// The body did not arrive in time.
    #[error("the request body did not arrive within {0:?}")]
    BodyTimeout(std::time::Duration),
    /// Missing or wrong bearer token.
    #[error("missing or invalid bearer token (Authorization: Bearer <key>)")]
    Unauthorized,
    /// The body's HTTP framing is broken (a malformed chunk): a protocol error, like a bad request line.
    #[error("could not read the body: {0}")]
    BadBody(String),
    /// The server holds its limit of request bodies (or connections): what is full.
    #[error("{0}; retry shortly")]
    Busy(String),
    /// A server-side bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The error type of this error (and so its status).
    pub fn error_type(&self) -> ErrorType {
        match self {
            Self::InvalidJson(_) => ErrorType::InvalidJson,
            Self::InvalidUtf8 => ErrorType::InvalidUtf8,
            Self::InvalidRequest(_) => ErrorType::InvalidRequest,
            Self::EmptyText(_) => ErrorType::EmptyText,
            Self::TextTooLong { .. } => ErrorType::TextTooLong,
            Self::TooManyTexts { .. } => ErrorType::TooManyTexts,
            Self::BodyTooLarge { .. } => ErrorType::BodyTooLarge,
            Self::NotFound(_) => ErrorType::NotFound,
            Self::MethodNotAllowed(_) => ErrorType::MethodNotAllowed,
            Self::Overloaded => ErrorType::Overloaded,
            Self::Timeout(_) => ErrorType::Timeout,
            Self::NoModel => ErrorType::NoModel,
            Self::BodyTimeout(_) => ErrorType::BodyTimeout,
            Self::Unauthorized => ErrorType::Unauthorized,
            Self::Busy(_) => ErrorType::Busy,
            Self::BadBody(_) => ErrorType::BadRequest,
            Self::Internal(_) => ErrorType::Internal,
        }
    }

    /// HTTP status and `error_type` of this error.
    pub fn kind(&self) -> (StatusCode, ErrorType) {
        let t = self.error_type();
        (t.status(), t)
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
    error_type: ErrorType,
}

/// The longest error message a response carries, in characters: messages quote user input cut
/// (`reader::quoted`), and this bounds what they quote through other layers (a JSON parser naming an
/// unknown field, say).
pub(crate) const MAX_MESSAGE_CHARS: usize = 300;

/// `message` cut to [`MAX_MESSAGE_CHARS`].
fn bounded(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_string(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error_type) = self.kind();
        let body = error_type.body(&bounded(&self.to_string()));
        let mut r = (status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if matches!(
            self,
            Self::Overloaded | Self::Timeout(_) | Self::NoModel | Self::Busy(_)
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
            ApiError::BodyTimeout(std::time::Duration::ZERO),
            ApiError::Unauthorized,
        ];
        for e in &all {
            assert!(e.kind().0.is_client_error(), "{e:?}");
        }
        let mut types: Vec<_> = all.iter().map(|e| e.kind().1).collect();
        types.sort_unstable();
        types.dedup();
        assert_eq!(types.len(), all.len());
    }

    #[test]
    fn every_error_type_has_its_status_and_a_json_body() {
        for t in ErrorType::ALL {
            let v: serde_json::Value = serde_json::from_slice(&t.body("m")).unwrap();
            assert_eq!(v["error_type"], t.as_str());
            assert!(
                t.status().is_client_error() || t.status().is_server_error(),
                "{t}"
            );
        }
        assert_eq!(
            ApiError::NoModel.kind(),
            (StatusCode::SERVICE_UNAVAILABLE, ErrorType::NoModel)
        );
    }
}
