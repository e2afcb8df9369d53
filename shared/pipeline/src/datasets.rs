//! Datasets: one per ingested upload. Where each stands ([`DatasetStatus`], decided by [`status`] and
//! nowhere else), which ones training and the held-out rows use ([`active`]), and an operator's
//! exclude/include ([`Control`], `datasets/<dataset>.json`; writing one triggers train, so a new candidate
//! is trained on the new set and validated as usual, in AWS through the bucket notification).
//!
//! Order: datasets are ordered by upload time (then id); when the same cleaned text appears in several,
//! the newest upload's row (label) wins, in training and in the held-out rows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::PipelineError;
use crate::layout::{self, DATASETS, MANIFEST, PROCESSED, QUARANTINE, RAW};
use crate::records::clock::now_secs;
use crate::records::json::to_json;
use crate::records::{GateResult, IngestManifest, ProcessManifest};
use crate::store::ObjectStore;
use crate::stored::read_json;

polarity_core::named_enum! {
    /// An operator's decision on a dataset.
    pub enum Action {
        /// Leave it out of training and of the held-out rows.
        Exclude = "exclude",
        /// Use it, even if the label-noise gate held it.
        Include = "include",
    }
}

/// An operator's decision, stored at `datasets/<dataset>.json` (the latest one counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// The dataset.
    pub dataset: String,
    /// What was decided.
    pub action: Action,
    /// Why (free text from the operator).
    pub reason: String,
    /// When, seconds since the Unix epoch.
    pub at: u64,
}

polarity_core::named_enum! {
    /// Where a dataset stands.
    pub enum DatasetStatus {
        /// Ingested, not processed yet.
        Pending = "pending",
        /// Used for training and held-out rows.
        Active = "active",
        /// Held by the label-noise gate until `dataset include`.
        Held = "held",
        /// Excluded by an operator.
        Excluded = "excluded",
        /// No row could be used (see the ingest manifest's reasons).
        Quarantined = "quarantined",
    }
}

/// The status of a processed dataset (the one rule): an operator's decision beats the gate.
pub fn status(process: &ProcessManifest, control: Option<&Control>) -> (DatasetStatus, String) {
    match (control, &process.gate) {
        (Some(c), _) if c.action == Action::Exclude => (
            DatasetStatus::Excluded,
            format!("excluded by an operator: {}", c.reason),
        ),
        (Some(c), _) => (
            DatasetStatus::Active,
            format!("included by an operator: {}", c.reason),
        ),
        (None, Some(g)) if g.held => (DatasetStatus::Held, g.reason.clone()),
        (None, Some(g)) => (DatasetStatus::Active, g.reason.clone()),
        (None, None) => (
            DatasetStatus::Active,
            "no production model to gate against".into(),
        ),
    }
}

/// A processed dataset with its status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessedDataset {
    /// The process manifest.
    pub manifest: ProcessManifest,
    /// The operator's decision, if any.
    pub control: Option<Control>,
    /// Where it stands.
    pub status: DatasetStatus,
    /// Why.
    pub reason: String,
}

/// Every processed dataset with its status, oldest upload first. Reads only `processed/` and
/// `datasets/` (what train and validate may read).
///
/// # Errors
/// A store error, or an unreadable manifest.
pub async fn processed(store: &dyn ObjectStore) -> Result<Vec<ProcessedDataset>, PipelineError> {
    let controls = controls(store).await?;
    let mut out = Vec::new();
    for key in store.list(PROCESSED).await? {
        let Some(id) = layout::manifest_owner(&key, PROCESSED) else {
            continue;
        };
        let Some(manifest) = read_json::<ProcessManifest>(store, &key).await? else {
            continue;
        };
        let control = controls.get(id).cloned();
        let (status, reason) = status(&manifest, control.as_ref());
        out.push(ProcessedDataset {
            manifest,
            control,
            status,
            reason,
        });
    }
    out.sort_by(|a, b| {
        let (a, b) = (&a.manifest, &b.manifest);
        upload_order(a.uploaded_ms, a.uploaded_at, a.ingested_ms, &a.dataset).cmp(&upload_order(
            b.uploaded_ms,
            b.uploaded_at,
            b.ingested_ms,
            &b.dataset,
        ))
    });
    Ok(out)
}

/// The active datasets, oldest upload first (what train trains on and validate scores on).
///
/// # Errors
/// As [`processed`].
pub async fn active(store: &dyn ObjectStore) -> Result<Vec<ProcessManifest>, PipelineError> {
    Ok(processed(store)
        .await?
        .into_iter()
        .filter(|d| d.status == DatasetStatus::Active)
        .map(|d| d.manifest)
        .collect())
}

/// Every operator decision, by dataset.
///
/// # Errors
/// A store error, or an unreadable record.
pub(crate) async fn controls(
    store: &dyn ObjectStore,
) -> Result<BTreeMap<String, Control>, PipelineError> {
    let mut out = BTreeMap::new();
    for key in store.list(DATASETS).await? {
        let Some(id) = layout::control_owner(&key) else {
            continue;
        };
        if let Some(c) = read_json::<Control>(store, &key).await? {
            out.insert(id.to_string(), c);
        }
    }
    Ok(out)
}

/// Records an operator's decision (which triggers train: in AWS through the bucket notification, in the
/// embedded runner through its dispatcher). Returns the key written.
///
/// # Errors
/// [`PipelineError::Config`] when the dataset was never processed; store errors.
pub async fn decide(
    store: &dyn ObjectStore,
    dataset: &str,
    action: Action,
    reason: &str,
) -> Result<String, PipelineError> {
    if !store.exists(&layout::processed(dataset, MANIFEST)).await? {
        return Err(PipelineError::Config(format!(
            "no processed dataset {dataset} (see `polarity dataset list`)"
        )));
    }
    let key = layout::dataset_control(dataset);
    let c = Control {
        dataset: dataset.to_string(),
        action,
        reason: reason.to_string(),
        at: now_secs(),
    };
    store.put(&key, to_json(&c)).await?;
    Ok(key)
}

/// One dataset as `polarity dataset list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetView {
    /// Dataset id.
    pub dataset: String,
    /// Name (upload folder or file name).
    pub name: String,
    /// The upload's file name.
    pub file_name: String,
    /// The upload's key.
    pub source_key: String,
    /// Upload time, seconds since the Unix epoch.
    pub uploaded_at: u64,
    /// Upload time, milliseconds (orders the list).
    pub uploaded_ms: u64,
    /// When ingest first read the upload, milliseconds (orders same-second uploads).
    pub ingested_ms: u64,
    /// Data rows in the upload.
    pub rows_in: u64,
    /// Rows accepted by ingest.
    pub accepted: u64,
    /// Rows quarantined by ingest.
    pub quarantined: u64,
    /// Quarantined rows by reason (and the whole-file problem, if any).
    pub reasons: BTreeMap<String, u64>,
    /// Accepted rows per class.
    pub classes: BTreeMap<String, u64>,
    /// Training rows (after de-duplication), when processed.
    pub train_rows: Option<u64>,
    /// Held-out rows, when processed.
    pub test_rows: Option<u64>,
    /// Where it stands.
    pub status: DatasetStatus,
    /// Why.
    pub reason: String,
    /// The label-noise gate's finding.
    pub gate: Option<GateResult>,
    /// The operator's decision.
    pub control: Option<Control>,
}

/// The order of uploads: by upload time in milliseconds (seconds × 1000 for manifests without it), then
/// by dataset id (S3 keeps whole seconds: two uploads within one second are ordered by id).
/// The order of datasets, oldest first (the newest wins conflicting labels): upload time in ms (seconds for
/// manifests written before ms existed), then, for uploads stored within the same second, when ingest first
/// read them, then the dataset id.
fn upload_order(ms: u64, secs: u64, ingested_ms: u64, dataset: &str) -> (u64, u64, &str) {
    (if ms > 0 { ms } else { secs * 1000 }, ingested_ms, dataset)
}

/// Every dataset (every ingested upload, quarantined ones included), oldest first.
///
/// # Errors
/// A store error, or an unreadable manifest.
pub async fn list(store: &dyn ObjectStore) -> Result<Vec<DatasetView>, PipelineError> {
    let mut ingests: BTreeMap<String, IngestManifest> = BTreeMap::new();
    for prefix in [RAW, QUARANTINE] {
        for key in store.list(prefix).await? {
            if let Some(id) = layout::manifest_owner(&key, prefix)
                && !ingests.contains_key(id)
                && let Some(m) = read_json::<IngestManifest>(store, &key).await?
            {
                ingests.insert(id.to_string(), m);
            }
        }
    }
    let processed: BTreeMap<String, ProcessedDataset> = processed(store)
        .await?
        .into_iter()
        .map(|d| (d.manifest.dataset.clone(), d))
        .collect();
    let mut out: Vec<DatasetView> = ingests
        .into_values()
        .map(|m| {
            let p = processed.get(&m.dataset);
            let (status, reason) = match (p, &m.file_error) {
                (Some(p), _) => (p.status, p.reason.clone()),
                (None, Some(e)) => (DatasetStatus::Quarantined, e.clone()),
                (None, None) if m.accepted == 0 => (
                    DatasetStatus::Quarantined,
                    format!("no usable row: {:?}", m.reasons),
                ),
                (None, None) => (DatasetStatus::Pending, "not processed yet".into()),
            };
            DatasetView {
                dataset: m.dataset.clone(),
                name: m.name.clone(),
                file_name: m.file_name.clone(),
                source_key: m.source_key.clone(),
                uploaded_at: m.uploaded_at,
                uploaded_ms: m.uploaded_ms,
                ingested_ms: m.ingested_ms,
                rows_in: m.rows_in,
                accepted: m.accepted,
                quarantined: m.quarantined,
                reasons: m.reasons.clone(),
                classes: m.classes.clone(),
                train_rows: p.map(|p| p.manifest.train.values().sum()),
                test_rows: p.map(|p| p.manifest.test.values().sum()),
                status,
                reason,
                gate: p.and_then(|p| p.manifest.gate.clone()),
                control: p.and_then(|p| p.control.clone()),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        upload_order(a.uploaded_ms, a.uploaded_at, a.ingested_ms, &a.dataset).cmp(&upload_order(
            b.uploaded_ms,
            b.uploaded_at,
            b.ingested_ms,
            &b.dataset,
        ))
    });
    Ok(out)
}
