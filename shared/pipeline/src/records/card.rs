//! The model card: what a person needs to know about a version.

use polarity_core::metrics::Metrics;
use polarity_core::model::FitInfo;
use polarity_core::train::TrainConfig;
use polarity_core::tune::Tuning;
use serde::{Deserialize, Serialize};

use super::manifests::ClassCounts;

/// One dataset a version was trained on, as its card lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardDataset {
    /// Dataset id.
    pub dataset: String,
    /// Name (upload folder or file name).
    pub name: String,
    /// The upload's file name.
    pub file_name: String,
    /// Upload time, seconds since the Unix epoch.
    pub uploaded_at: u64,
    /// Training rows per class (before merging with other datasets).
    pub train: ClassCounts,
    /// Held-out rows per class.
    pub test: ClassCounts,
}

/// The model card: what a person needs to know about a version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    /// Version name.
    pub version: String,
    /// Class names.
    pub labels: Vec<String>,
    /// Datasets trained on, oldest upload first.
    pub datasets: Vec<CardDataset>,
    /// SHA-256 over the cleaned training rows.
    pub data_digest: String,
    /// Training settings (with `--tune`, the chosen C and sublinear tf).
    pub config: TrainConfig,
    /// What `--tune` tried and chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<Tuning>,
    /// How the fit went.
    pub fit: FitInfo,
    /// Held-out metrics (union of the datasets' test splits).
    pub metrics: Option<Metrics>,
    /// Production version at training time.
    pub parent: Option<String>,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// Git commit, when known.
    pub git_sha: Option<String>,
    /// Polarity version.
    pub polarity_version: String,
}
