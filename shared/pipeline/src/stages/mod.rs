//! The four stages as plain async functions over the store and registry ports. Each takes the (decoded)
//! key of the object that triggered it, writes its data first and its manifest last (with
//! `put_if_absent`: the commit marker is written once), and returns a small outcome. A re-delivered event
//! finds the manifest and returns the recorded outcome with `already: true`.

use bytes::Bytes;
use polarity_core::routing::Stage;
use serde::{Deserialize, Serialize};

use crate::config::PipelineConfig;
use crate::error::{PipelineError, parse_json};
use crate::registry::Registry;
use crate::store::ObjectStore;

pub mod ingest;
pub mod process;
pub mod track;
pub mod train;
pub mod validate;

pub use ingest::{IngestManifest, ingest};
pub use process::{ProcessManifest, process};
pub use train::{TrainManifest, train};
pub use validate::{Decision, validate};

/// What one stage run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "lowercase")]
pub enum StageOutcome {
    /// Ingest.
    Ingest(IngestManifest),
    /// Process.
    Process(ProcessManifest),
    /// Train.
    Train(TrainManifest),
    /// Validate.
    Validate(Decision),
    /// Nothing to do, with the reason (permanent input problem or the object vanished).
    Skipped {
        /// The stage.
        of: Stage,
        /// Why.
        reason: String,
    },
}

impl StageOutcome {
    /// A stable one-word result for logs and metrics: `ok`, `already`, `quarantined`, `skipped`,
    /// `promote`, `reject`, `hold`.
    pub fn result(&self) -> &'static str {
        match self {
            Self::Ingest(m) if m.already => "already",
            Self::Ingest(m) if m.accepted == 0 => "quarantined",
            Self::Process(m) if m.already => "already",
            Self::Train(m) if m.already => "already",
            Self::Validate(d) if d.already => "already",
            Self::Validate(d) => d.verdict.as_str(),
            Self::Skipped { .. } => "skipped",
            _ => "ok",
        }
    }
}

/// Runs `stage` on the object `key`. `registry` is needed by train and validate.
///
/// # Errors
/// A [`PipelineError`]; retryable ones should make the caller try the event again.
pub async fn run_stage<S: ObjectStore + ?Sized>(
    stage: Stage,
    store: &S,
    registry: Option<&dyn Registry>,
    cfg: &PipelineConfig,
    key: &str,
) -> Result<StageOutcome, PipelineError> {
    let need = || {
        registry.ok_or_else(|| {
            PipelineError::Config(format!(
                "the {} stage needs a registry (POLARITY_REGISTRY)",
                stage.name()
            ))
        })
    };
    match stage {
        Stage::Ingest => ingest(store, cfg, key).await,
        Stage::Process => process(store, cfg, key).await,
        Stage::Train => train(store, need()?, cfg, key).await,
        Stage::Validate => validate(store, need()?, cfg, key).await,
    }
}

/// Serialises rows as JSON Lines.
pub(crate) fn to_jsonl<T: Serialize>(rows: &[T]) -> Bytes {
    let mut out = Vec::new();
    for r in rows {
        if serde_json::to_writer(&mut out, r).is_ok() {
            out.push(b'\n');
        }
    }
    Bytes::from(out)
}

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

/// Reads a manifest if present.
pub(crate) async fn read_manifest<S: ObjectStore + ?Sized, T: serde::de::DeserializeOwned>(
    store: &S,
    key: &str,
) -> Result<Option<T>, PipelineError> {
    match store.get_opt(key).await? {
        Some(b) => Ok(Some(parse_json(key, &b)?)),
        None => Ok(None),
    }
}

/// One processed row: original text, cleaned text, class name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessedRow {
    /// The text as uploaded (what the server would receive).
    pub text: String,
    /// The cleaned text (what training uses).
    pub clean: String,
    /// Class name.
    pub label: String,
}

/// The processed datasets committed so far (those with a manifest), sorted.
///
/// # Errors
/// A store error.
pub async fn processed_datasets<S: ObjectStore + ?Sized>(
    store: &S,
) -> Result<Vec<String>, PipelineError> {
    let keys = store.list(polarity_core::routing::PROCESSED).await?;
    Ok(keys
        .iter()
        .filter_map(|k| crate::layout::manifest_owner(k, polarity_core::routing::PROCESSED))
        .map(String::from)
        .collect())
}

/// One split (`train` or `test`) of several processed datasets, de-duplicated by cleaned text (first
/// dataset in the given order wins).
///
/// # Errors
/// A store error, or [`PipelineError::Corrupt`] for unreadable rows.
pub async fn load_split<S: ObjectStore + ?Sized>(
    store: &S,
    datasets: &[String],
    split: &str,
) -> Result<Vec<ProcessedRow>, PipelineError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for d in datasets {
        let key = crate::layout::processed(d, &format!("{split}.jsonl"));
        let rows: Vec<ProcessedRow> = match store.get_opt(&key).await? {
            Some(b) => from_jsonl(&key, &b)?,
            None => Vec::new(),
        };
        out.extend(rows.into_iter().filter(|r| seen.insert(r.clean.clone())));
    }
    Ok(out)
}
