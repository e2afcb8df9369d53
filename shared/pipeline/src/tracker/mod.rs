//! Experiment tracking as a port: the stage runner holds a [`Tracker`] and train and validate report to
//! it; [`MlflowTracker`] logs to an MLflow server, [`NoTracker`] does nothing. Tracking is best effort:
//! a tracker never fails a stage.

use std::sync::Arc;

use async_trait::async_trait;
use polarity_core::train::TrainTimings;

use crate::config::PipelineConfig;
use crate::records::{Decision, ModelCard};
use crate::registry::VersionRecord;

mod mlflow;

pub use mlflow::{MlflowTracker, VERSION_TAG};

/// What train reports once a version is registered.
#[derive(Debug, Clone, Copy)]
pub struct TrainedRun<'a> {
    /// The registered version.
    pub record: &'a VersionRecord,
    /// Its model card (when known).
    pub card: Option<&'a ModelCard>,
    /// How long each phase took (only for a version trained in this run).
    pub timings: Option<&'a TrainTimings>,
    /// Training rows.
    pub n_train: u64,
    /// When training started, milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// The settings it was trained with.
    pub settings: &'a PipelineConfig,
    /// The store the artifact is in (`s3://…`, `file://…`).
    pub store_url: &'a str,
    /// The artifact's bytes.
    pub artifact: &'a bytes::Bytes,
}

/// Where train and validate report (see the module docs).
#[async_trait]
pub trait Tracker: Send + Sync {
    /// A version was trained and registered (or found registered by a resumed run).
    async fn trained(&self, run: &TrainedRun<'_>);
    /// A candidate was judged.
    async fn decided(&self, decision: &Decision);
    /// The production pointer now names `version` (a promotion, manual promotion or rollback).
    async fn production_moved(&self, version: &str);
}

/// A tracker that records nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTracker;

#[async_trait]
impl Tracker for NoTracker {
    async fn trained(&self, _: &TrainedRun<'_>) {}
    async fn decided(&self, _: &Decision) {}
    async fn production_moved(&self, _: &str) {}
}

/// The tracker the settings ask for: MLflow when `MLFLOW_TRACKING_URI` is set, else none.
pub fn from_config(cfg: &PipelineConfig) -> Arc<dyn Tracker> {
    from_mlflow(cfg.mlflow.as_ref())
}

/// MLflow when `m` is set, else none.
pub fn from_mlflow(m: Option<&crate::mlflow::MlflowConfig>) -> Arc<dyn Tracker> {
    match m {
        Some(m) => Arc::new(MlflowTracker::new(m.clone())),
        None => Arc::new(NoTracker),
    }
}
