//! The object store port: what the stages need from a bucket, and nothing more. Two adapters: a local
//! folder ([`LocalStore`], embedded mode and tests) and S3 ([`S3Store`]), with the same semantics:
//! `put_if_absent` is atomic (it writes only when no object has the key), `list` returns keys in
//! lexicographic order, and a missing key is [`StoreError::NotFound`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use bytes::Bytes;
use polarity_core::reader::{quoted, visible};

#[cfg(any(test, feature = "test-util"))]
pub mod conformance;
mod local;
mod s3;
mod scoped;

pub use local::LocalStore;
pub use s3::S3Store;
pub use scoped::Scoped;

/// User metadata of an object (S3's `x-amz-meta-*`, lower-case keys without the prefix).
pub type Metadata = BTreeMap<String, String>;

/// An object with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The bytes.
    pub body: Bytes,
    /// User metadata.
    pub meta: Metadata,
    /// Last modification, milliseconds since the Unix epoch, when the store knows it (S3 keeps whole
    /// seconds).
    pub modified_ms: Option<u64>,
}

/// Why a store call failed. Keys are shown [`visible`] (escaped, at most 80 characters): they carry upload names.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No object has the key.
    #[error("object not found: {}", visible(.key))]
    NotFound {
        /// The key.
        key: String,
    },
    /// The key is not acceptable (empty, absolute, or with `..`).
    #[error("invalid object key {}", quoted(.key))]
    InvalidKey {
        /// The key.
        key: String,
    },
    /// Throttling, a 5xx, a timeout or a dropped connection: try again.
    #[error("{op} {}: transient store error: {message}", visible(.key))]
    Transient {
        /// The operation.
        op: &'static str,
        /// The key or prefix.
        key: String,
        /// Details.
        message: String,
    },
    /// The caller's scope does not allow this (the same rule IAM enforces in AWS; see
    /// [`crate::layout::ROUTES`]).
    #[error("{op} {}: not allowed for {principal} (see terraform/access.json)", visible(.key))]
    Denied {
        /// The operation.
        op: &'static str,
        /// The key or prefix.
        key: String,
        /// Who asked (a stage, or the server).
        principal: String,
    },
    /// Any other failure (permissions, missing bucket, local I/O).
    #[error("{op} {}: {message}", visible(.key))]
    Other {
        /// The operation.
        op: &'static str,
        /// The key or prefix.
        key: String,
        /// Details.
        message: String,
    },
}

impl StoreError {
    /// True for throttling, 5xx, timeouts and dropped connections.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }
}

/// A bucket: flat keys to byte blobs.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Where the store points (`file:///…` or `s3://bucket`), for messages.
    fn url(&self) -> String;

    /// Reads one object.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the key does not exist, other variants for failures.
    async fn get(&self, key: &str) -> Result<Bytes, StoreError>;

    /// Writes (or replaces) one object.
    ///
    /// # Errors
    /// A [`StoreError`] when the write failed; nothing is half-written.
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError>;

    /// Reads one object with its metadata, `None` when it does not exist.
    ///
    /// # Errors
    /// A [`StoreError`] other than a missing key.
    async fn get_object(&self, key: &str) -> Result<Option<Object>, StoreError>;

    /// Writes (or replaces) one object with user metadata.
    ///
    /// # Errors
    /// A [`StoreError`] when the write failed; nothing is half-written.
    async fn put_with_meta(
        &self,
        key: &str,
        body: Bytes,
        meta: &Metadata,
    ) -> Result<(), StoreError>;

    /// Writes one object only if the key is free. Returns `true` when this call wrote it.
    ///
    /// # Errors
    /// A [`StoreError`] when the write failed.
    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<bool, StoreError>;

    /// Keys under `prefix`, in lexicographic order.
    ///
    /// # Errors
    /// A [`StoreError`] when listing failed.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// True when the key exists.
    ///
    /// # Errors
    /// A [`StoreError`] when the check failed.
    async fn exists(&self, key: &str) -> Result<bool, StoreError>;

    /// Creates the bucket (or folder) when missing. Returns `true` when it was created.
    ///
    /// # Errors
    /// A [`StoreError`] when creation failed.
    async fn ensure(&self) -> Result<bool, StoreError>;

    /// Reads one object, `None` when it does not exist.
    ///
    /// # Errors
    /// A [`StoreError`] other than `NotFound`.
    async fn get_opt(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self.get(key).await {
            Ok(b) => Ok(Some(b)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Checks a key: not empty, relative, and free of `.`/`..` segments and backslashes.
///
/// # Errors
/// [`StoreError::InvalidKey`].
pub fn check_key(key: &str) -> Result<(), StoreError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.contains('\\')
        || key.contains('\0')
        || key.split('/').any(|s| s == ".." || s == ".");
    if bad {
        Err(StoreError::InvalidKey {
            key: key.to_string(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_escaping_keys() {
        for k in ["", "/etc/passwd", "a/../b", "../x", "a/./b", "a\\b"] {
            assert!(check_key(k).is_err(), "{k}");
        }
        for k in ["incoming/my reviews.csv", "raw/d-1/manifest.json", "a..b"] {
            assert!(check_key(k).is_ok(), "{k}");
        }
    }
}
