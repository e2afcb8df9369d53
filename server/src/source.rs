//! Where models come from: the [`ModelSource`] port and the plain-file adapter [`FileSource`].
//!
//! A source answers two questions: which model should serve now ([`ModelSource::current`], a cheap pointer
//! read such as the registry's production pointer) and what its bytes are ([`ModelSource::fetch`]). The
//! server verifies and smoke-tests whatever it gets (see [`crate::reload`]); a source only moves bytes.
//! A registry source (local registry or DynamoDB + S3) implements the same trait and is passed to
//! `crate::serve_with_source`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use polarity_core::artifact::sha256_hex;
use serde::Deserialize;

/// What a source currently points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// Version name shown in `/info`, `x-model-version` and `polarity_model_info`.
    pub version: String,
    /// SHA-256 (lower-case hex) the artifact must have, when the source knows it.
    pub sha256: Option<String>,
}

/// Why a source could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Temporary (network, throttling, a file being replaced): try again at the next poll.
    #[error("model source temporarily unavailable: {0}")]
    Retryable(String),
    /// Will not fix itself (missing file, bad configuration, malformed pointer).
    #[error("model source failed: {0}")]
    Permanent(String),
    /// Nothing to serve yet (a registry before its first promotion); the poll keeps checking.
    #[error("{0}")]
    NoModel(String),
}

impl SourceError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_) | Self::NoModel(_))
    }

    /// Classifies an I/O error on `path`: missing, forbidden or invalid paths are permanent.
    pub fn from_io(path: &Path, e: &std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        let msg = format!("{}: {e}", path.display());
        match e.kind() {
            NotFound | PermissionDenied | InvalidInput | IsADirectory => Self::Permanent(msg),
            _ => Self::Retryable(msg),
        }
    }
}

/// A place the serving model comes from.
#[async_trait]
pub trait ModelSource: Send + Sync {
    /// Human-readable description for logs (a path or URL; never credentials).
    fn describe(&self) -> String;

    /// The model the source points at now.
    ///
    /// # Errors
    /// [`SourceError`], saying whether a retry may help.
    async fn current(&self) -> Result<ModelRef, SourceError>;

    /// The artifact bytes of `r` (as returned by [`ModelSource::current`]).
    ///
    /// # Errors
    /// [`SourceError`], saying whether a retry may help.
    async fn fetch(&self, r: &ModelRef) -> Result<Bytes, SourceError>;
}

/// Sidecar file format: `{"version": "v7", "sha256": "…"}` (`sha256` optional).
#[derive(Debug, Deserialize)]
struct Sidecar {
    version: String,
    sha256: Option<String>,
}

/// A model artifact at a path. Without a sidecar the version is the first 12 hex digits of the file's
/// SHA-256, so any change of content is a new version. With a sidecar, the sidecar names the version and
/// may pin the SHA-256.
#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    sidecar: Option<PathBuf>,
    /// The bytes read by the last `current()`, so `fetch()` returns exactly what was hashed.
    last: Mutex<Option<(ModelRef, Bytes)>>,
}

impl FileSource {
    /// A source reading `path`, optionally named by a sidecar JSON file.
    pub fn new(path: impl Into<PathBuf>, sidecar: Option<PathBuf>) -> Self {
        Self {
            path: path.into(),
            sidecar,
            last: Mutex::new(None),
        }
    }

    async fn read(&self) -> Result<Bytes, SourceError> {
        tokio::fs::read(&self.path)
            .await
            .map(Bytes::from)
            .map_err(|e| SourceError::from_io(&self.path, &e))
    }
}

#[async_trait]
impl ModelSource for FileSource {
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    async fn current(&self) -> Result<ModelRef, SourceError> {
        // The bytes are always read and hashed: the version that serves is the content that serves, even
        // when a sidecar names a version without pinning its SHA-256 (or is updated before the file).
        let bytes = self.read().await?;
        let sha = sha256_hex(&bytes);
        let r = match &self.sidecar {
            Some(sc) => {
                let raw = tokio::fs::read(sc)
                    .await
                    .map_err(|e| SourceError::from_io(sc, &e))?;
                let s: Sidecar = serde_json::from_slice(&raw).map_err(|e| {
                    SourceError::Permanent(format!("{}: not a model sidecar: {e}", sc.display()))
                })?;
                ModelRef {
                    version: s.version,
                    // a pinned SHA-256 is checked against the bytes by the loader; else the bytes' own
                    sha256: Some(s.sha256.map_or(sha, |h| h.to_ascii_lowercase())),
                }
            }
            None => ModelRef {
                version: sha[..12].to_string(),
                sha256: Some(sha),
            },
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some((r.clone(), bytes));
        }
        Ok(r)
    }

    async fn fetch(&self, r: &ModelRef) -> Result<Bytes, SourceError> {
        let cached = self.last.lock().ok().and_then(|mut l| l.take());
        match cached {
            Some((cr, bytes)) if &cr == r => Ok(bytes),
            _ => self.read().await,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_versions_follow_content_and_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.plm");
        std::fs::write(&p, b"one").unwrap();
        let s = FileSource::new(&p, None);
        let a = s.current().await.unwrap();
        assert_eq!(a.sha256.as_deref(), Some(sha256_hex(b"one").as_str()));
        assert_eq!(a.version.len(), 12);
        assert_eq!(&s.fetch(&a).await.unwrap()[..], b"one");
        std::fs::write(&p, b"two").unwrap();
        assert_ne!(s.current().await.unwrap().version, a.version);

        let sc = dir.path().join("m.json");
        std::fs::write(&sc, br#"{"version": "v7", "sha256": "ABC"}"#).unwrap();
        let s = FileSource::new(&p, Some(sc.clone()));
        assert_eq!(
            s.current().await.unwrap(),
            ModelRef {
                version: "v7".into(),
                sha256: Some("abc".into())
            }
        );
        // a sidecar without sha256: the version follows the bytes that are actually there
        std::fs::write(&sc, br#"{"version": "v8"}"#).unwrap();
        let r = s.current().await.unwrap();
        assert_eq!(r.sha256.as_deref(), Some(sha256_hex(b"two").as_str()));
        std::fs::write(&p, b"three").unwrap();
        assert_ne!(
            s.current().await.unwrap(),
            r,
            "new bytes under the same sidecar are a new model"
        );
        std::fs::write(&sc, b"{").unwrap();
        assert!(!s.current().await.unwrap_err().is_retryable());

        let missing = FileSource::new(dir.path().join("nope.plm"), None);
        assert!(!missing.current().await.unwrap_err().is_retryable());
    }
}
