//! Loading a registered version's model: fetch the artifact, check it against the SHA-256 the registry
//! recorded, decode it (which validates it, [`polarity_core::artifact::check`]). Used by validate, the
//! label-noise gate, `registry promote`/`rollback` (before the pointer moves) and the model server.

use polarity_core::Classifier;

use crate::error::PipelineError;
use crate::registry::VersionRecord;
use crate::store::ObjectStore;

/// Why bytes are not the model the registry names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bytes hash to something else than the registry (or a sidecar) recorded.
    #[error("artifact SHA-256 {found} does not match the expected {expected}")]
    Checksum {
        /// What the registry recorded.
        expected: String,
        /// What the bytes hash to.
        found: String,
    },
    /// The bytes are not a valid artifact.
    #[error("{0}")]
    Artifact(String),
}

/// Checks `bytes` against `sha256` (when given), then decodes and validates them.
///
/// # Errors
/// [`VerifyError`].
pub fn verify(bytes: &[u8], sha256: Option<&str>) -> Result<Classifier, VerifyError> {
    if let Some(expected) = sha256 {
        let found = polarity_core::artifact::sha256_hex(bytes);
        if found != expected {
            return Err(VerifyError::Checksum {
                expected: expected.to_string(),
                found,
            });
        }
    }
    polarity_core::artifact::decode(bytes).map_err(|e| VerifyError::Artifact(e.to_string()))
}

/// Fetches, verifies and decodes the artifact of `rec` (see the module docs).
///
/// # Errors
/// A store error, or [`PipelineError::Corrupt`] naming the artifact key when the bytes are not what the
/// registry recorded or not a valid model.
pub async fn load_verified(
    store: &dyn ObjectStore,
    rec: &VersionRecord,
) -> Result<Classifier, PipelineError> {
    let bytes = store.get(&rec.artifact_key).await?;
    let sha = rec.sha256.clone();
    tokio::task::spawn_blocking(move || verify(&bytes, Some(&sha)))
        .await
        .map_err(|e| PipelineError::Task(e.to_string()))?
        .map_err(|e| PipelineError::Corrupt {
            key: rec.artifact_key.clone(),
            problem: e.to_string(),
        })
}
