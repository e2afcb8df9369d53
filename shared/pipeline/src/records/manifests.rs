//! The stages' commit markers and row records: the ingest manifest and its rows, the process manifest with
//! the label-noise gate's finding, the train manifest and the train task's marker.

use std::collections::BTreeMap;

use polarity_core::contract::Contract;
use polarity_core::labels::LabelScheme;
use polarity_core::reader::RejectReason;
use polarity_core::text::CleanConfig;
use serde::{Deserialize, Serialize};

/// The ingest manifest (written to `raw/<dataset>/` and, when anything was rejected, to quarantine).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestManifest {
    /// Dataset id.
    pub dataset: String,
    /// Dataset name: the upload's folder under `incoming/`, else its file name without extensions.
    #[serde(default)]
    pub name: String,
    /// The upload's file name.
    #[serde(default)]
    pub file_name: String,
    /// The upload's key.
    pub source_key: String,
    /// SHA-256 of the upload.
    pub source_sha256: String,
    /// Upload size.
    pub source_bytes: u64,
    /// When the upload was stored (seconds since the Unix epoch).
    #[serde(default)]
    pub uploaded_at: u64,
    /// The same in milliseconds (0 in manifests written before it existed): orders datasets, newest wins.
    #[serde(default)]
    pub uploaded_ms: u64,
    /// When ingest first read the upload, milliseconds: orders uploads stored within the same second (S3
    /// keeps whole seconds), 0 in manifests written before it existed.
    #[serde(default)]
    pub ingested_ms: u64,
    /// The data contract applied (absent: everything detected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<Contract>,
    /// Data rows read.
    pub rows_in: u64,
    /// Rows written to `raw/`.
    pub accepted: u64,
    /// Rows written to `quarantine/`.
    pub quarantined: u64,
    /// Quarantined rows by reason.
    pub reasons: BTreeMap<String, u64>,
    /// When the whole file was unusable: why (and it is in `quarantine/<dataset>/upload`).
    pub file_error: Option<String>,
    /// How raw labels were mapped to class names (absent under a contract's label mapping).
    pub label_scheme: Option<LabelScheme>,
    /// Accepted rows per class name.
    pub classes: BTreeMap<String, u64>,
    /// True when this run found the dataset already ingested.
    #[serde(default)]
    pub already: bool,
}

/// One accepted row as stored in `raw/<dataset>/rows.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRow {
    /// The text as uploaded (trimmed).
    pub text: String,
    /// Class name.
    pub label: String,
}

/// One rejected row as stored in `quarantine/<dataset>/rows.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedRow {
    /// 1-based line in the upload.
    pub line: u64,
    /// Why.
    pub reason: RejectReason,
    /// The row as read.
    pub raw: String,
}

/// Rows per class in one split.
pub type ClassCounts = BTreeMap<String, u64>;

/// The split rule's name, recorded in every manifest (part of the data contract).
pub(crate) const SPLIT_RULE: &str = "tokens-v1";

/// The process manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessManifest {
    /// Dataset id.
    pub dataset: String,
    /// Dataset name (from ingest).
    #[serde(default)]
    pub name: String,
    /// The upload's file name (from ingest).
    #[serde(default)]
    pub file_name: String,
    /// When the upload was stored (from ingest), seconds.
    #[serde(default)]
    pub uploaded_at: u64,
    /// The same in milliseconds (from ingest): the newest dataset wins conflicting labels.
    #[serde(default)]
    pub uploaded_ms: u64,
    /// When ingest first read the upload (from ingest), milliseconds: orders same-second uploads.
    #[serde(default)]
    pub ingested_ms: u64,
    /// Rows read from `raw/`.
    pub rows_in: u64,
    /// Training rows per class.
    pub train: ClassCounts,
    /// Held-out rows per class.
    pub test: ClassCounts,
    /// Rows dropped as duplicates of a later row.
    pub duplicates: u64,
    /// Duplicates whose label disagreed with the kept row.
    pub conflicting_labels: u64,
    /// Rows whose text is empty after cleaning.
    pub empty: u64,
    /// Share of rows held out.
    pub test_fraction: f64,
    /// The cleaning settings of the `clean` texts.
    #[serde(default)]
    pub clean: CleanConfig,
    /// The split rule (`SPLIT_RULE`).
    #[serde(default)]
    pub split: String,
    /// The label-noise gate's finding (absent: no production model, or the gate is off).
    #[serde(default)]
    pub gate: Option<GateResult>,
    /// True when this run found the dataset already processed.
    #[serde(default)]
    pub already: bool,
}

/// The gate's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GateSettings {
    /// Run the gate at all (`POLARITY_GATE`).
    pub enabled: bool,
    /// The share of wrong labels among fresh rows the test tolerates (`POLARITY_GATE_MAX_NOISE`).
    #[serde(default = "default_max_noise")]
    pub max_noise: f64,
    /// Significance level of the test (`POLARITY_GATE_ALPHA`).
    pub alpha: f64,
    /// Largest share of the known rows (texts the active data already has) whose label an upload may
    /// change (`POLARITY_GATE_MAX_CHANGED`).
    #[serde(default = "default_max_changed")]
    pub max_changed: f64,
}

fn default_max_noise() -> f64 {
    GateSettings::default().max_noise
}

fn default_max_changed() -> f64 {
    GateSettings::default().max_changed
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_noise: 0.05,
            alpha: 0.01,
            max_changed: 0.02,
        }
    }
}

/// One label an upload would change: a known text, its current label and the upload's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelChange {
    /// The text as uploaded, cut to a few dozen characters.
    pub text: String,
    /// The label the active data gives it.
    pub from: String,
    /// The label the upload gives it.
    pub to: String,
}

/// What the gate found for one dataset. An upload's rows are either **known** (their cleaned text is in
/// the active data: compared with the label it has there) or **fresh** (scored by production).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// The production version that scored the fresh rows (empty: no production model).
    pub production: String,
    /// Fresh rows whose label is one of production's classes (the rows the binomial test is on).
    pub rows: u64,
    /// Of those, rows where production predicts the label.
    pub agreeing: u64,
    /// `agreeing / rows` (0 when `rows` is 0).
    pub agreement: f64,
    /// Production's held-out accuracy.
    pub expected: f64,
    /// The settings applied.
    pub settings: GateSettings,
    /// `P(X ≤ agreeing)`, `X ~ Binomial(rows, expected − margin)` (1 when `rows` is 0).
    pub p_value: f64,
    /// Rows whose cleaned text the active data already has.
    #[serde(default)]
    pub known: u64,
    /// Of those, rows whose label the upload changes.
    #[serde(default)]
    pub changed: u64,
    /// Of the changed rows, those among the active data's held-out rows.
    #[serde(default)]
    pub changed_held_out: u64,
    /// A few of the changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<LabelChange>,
    /// Classes production does not have, with their row counts.
    #[serde(default, skip_serializing_if = "ClassCounts::is_empty")]
    pub new_classes: ClassCounts,
    /// True when the dataset is held.
    pub held: bool,
    /// What was found and, when held, why and the commands that decide it.
    pub reason: String,
}

/// `models/<version>/dispatch.json`: a train task started (or being started) for a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDispatch {
    /// The version the task trains.
    pub version: String,
    /// The key the task runs the train stage on (the first claimant's trigger).
    pub key: String,
    /// Training rows of the chosen datasets.
    pub rows: u64,
    /// The in-process limit they exceeded.
    pub max_rows: u64,
    /// When the claim was written, milliseconds since the Unix epoch (part of the idempotency token).
    pub claimed_at: u64,
    /// The task, once started.
    pub task_arn: Option<String>,
    /// True when this run found the task already started (a redelivered event).
    #[serde(default)]
    pub already: bool,
}

impl TaskDispatch {
    /// The RunTask idempotency token of this claim: `<version>-<claimed_at>` (at most 64 characters). Every
    /// run that reads the same claim sends the same token; a new claim (after an operator deleted the marker
    /// to retry a failed task) sends a new one.
    pub fn token(&self) -> String {
        let mut t = format!("{}-{}", self.version, self.claimed_at);
        t.truncate(64);
        t
    }
}

/// The train manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainManifest {
    /// Version name.
    pub version: String,
    /// Artifact key.
    pub artifact_key: String,
    /// Artifact SHA-256.
    pub sha256: String,
    /// Datasets trained on, oldest upload first.
    pub datasets: Vec<String>,
    /// Training rows.
    pub n_train: u64,
    /// Held-out rows scored.
    pub n_test: u64,
    /// Held-out macro-F1.
    pub macro_f1: f64,
    /// Held-out accuracy.
    pub accuracy: f64,
    /// Seconds spent fitting (0 when a resumed run found the version registered).
    pub fit_seconds: f64,
    /// Whether the optimiser converged within its iteration limit.
    #[serde(default = "yes")]
    pub converged: bool,
    /// True when this run found the version already trained.
    #[serde(default)]
    pub already: bool,
}

fn yes() -> bool {
    true
}
