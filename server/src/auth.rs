//! Optional bearer-token authentication (TEI's `--api-key`): with `--api-key` set, /predict and /v2/*
//! require `Authorization: Bearer <key>`; anything else is 401 `unauthorized` with
//! `WWW-Authenticate: Bearer`. The key is compared in constant time and never logged.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Equal bytes, in time that depends only on the lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware (a no-op without `--api-key`).
pub(crate) async fn require_key(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(key) = st.options().api_key.as_deref() else {
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    if given.is_some_and(|g| same(g.as_bytes(), key.as_bytes())) {
        return next.run(req).await;
    }
    let mut r = ApiError::Unauthorized.into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn compares_whole_keys() {
        assert!(super::same(b"abc", b"abc"));
        assert!(
            !super::same(b"abc", b"abd") && !super::same(b"abc", b"ab") && !super::same(b"", b"a")
        );
    }
}
