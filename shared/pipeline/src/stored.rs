//! Reading the pipeline's own JSON records and rows back from the store.

use crate::error::{PipelineError, parse_json};
use crate::store::ObjectStore;

/// Parses JSON Lines the pipeline wrote.
pub(crate) fn from_jsonl<T: serde::de::DeserializeOwned>(
    key: &str,
    bytes: &[u8],
) -> Result<Vec<T>, PipelineError> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| parse_json(key, l))
        .collect()
}

/// Reads a JSON object the pipeline wrote (a manifest, a record) if present.
///
/// # Errors
/// A store error, or [`PipelineError::Corrupt`] when it is not the expected JSON.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<Option<T>, PipelineError> {
    match store.get_opt(key).await? {
        Some(b) => Ok(Some(parse_json(key, &b)?)),
        None => Ok(None),
    }
}
