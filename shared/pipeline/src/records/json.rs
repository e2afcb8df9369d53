//! How the pipeline encodes what it stores: pretty JSON for records, JSON Lines for rows.

use bytes::Bytes;
use serde::Serialize;

/// Serialises rows as JSON Lines.
pub(crate) fn to_jsonl<T: Serialize>(rows: &[T]) -> Bytes {
    let mut out = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut out, r).expect("the pipeline's rows are plain data");
        out.push(b'\n');
    }
    Bytes::from(out)
}

/// Serialises a record the pipeline writes.
///
/// # Panics
/// Never for the pipeline's own types: they are plain data (strings, numbers, maps with string keys).
pub(crate) fn to_json<T: Serialize>(v: &T) -> Bytes {
    Bytes::from(
        serde_json::to_vec_pretty(v).expect("pipeline records are plain data and always serialise"),
    )
}
