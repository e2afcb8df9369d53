//! One stage's event handler, written once for the four Lambda functions, their ECS task and `polarity
//! pipeline stage`: clients built once ([`StageHandler::connect`]) and borrowed by every event, and
//! [`StageHandler::handle`], which turns an S3 event into object references, runs the stage on each object
//! the routing table sends to it, records metrics, and returns a small summary. Errors are returned (never
//! swallowed) so Lambda retries them and the failure destination keeps what is left; permanent input
//! problems never get here, the stages quarantine or skip them. The Lambda wiring (configuration from the
//! environment, the runtime loop, logs) is in the `polarity-functions` crate.

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use serde::Serialize;

use crate::aws::AwsSettings;
use crate::backend::Backend;
use crate::config::PipelineConfig;
use crate::dispatch::{self, TaskLauncher};
use crate::error::PipelineError;
use crate::events::object_refs;
use crate::layout::Stage;
use crate::records::StageOutcome;
use crate::registry::Registry;
use crate::stages::{Ctx, run_stage};
use crate::store::ObjectStore;
use crate::telemetry;
use crate::tracker::{self, Tracker};

/// What one invocation did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The stage.
    pub stage: Stage,
    /// Objects in the event that are not for this stage (or not `ObjectCreated`).
    pub ignored: usize,
    /// One outcome per object handled.
    pub outcomes: Vec<StageOutcome>,
}

/// One stage's handler: the clients and settings every invocation borrows.
pub struct StageHandler {
    stage: Stage,
    store: Arc<dyn ObjectStore>,
    registry: Option<Arc<dyn Registry>>,
    cfg: PipelineConfig,
    tracker: Arc<dyn Tracker>,
    launcher: Option<Arc<dyn TaskLauncher>>,
}

impl std::fmt::Debug for StageHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageHandler")
            .field("stage", &self.stage)
            .field("store", &self.store.url())
            .finish()
    }
}

impl StageHandler {
    /// A handler over given backends (tests, embedded use); the tracker follows the settings.
    pub fn new(
        stage: Stage,
        store: Arc<dyn ObjectStore>,
        registry: Option<Arc<dyn Registry>>,
        cfg: PipelineConfig,
    ) -> Self {
        Self {
            stage,
            store,
            registry,
            tracker: tracker::from_config(&cfg),
            cfg,
            launcher: None,
        }
    }

    /// The same handler starting train tasks through `launcher` (see [`crate::dispatch`]).
    pub fn with_launcher(mut self, launcher: Option<Arc<dyn TaskLauncher>>) -> Self {
        self.launcher = launcher;
        self
    }

    /// Builds the clients of `backend` once (cold start), the ECS client too when a train task is
    /// configured.
    pub async fn connect(
        stage: Stage,
        backend: &Backend,
        pipeline: PipelineConfig,
        aws: &AwsSettings,
    ) -> Self {
        let b = backend.connect(aws).await;
        let launcher = dispatch::connect(&pipeline.dispatch, aws).await;
        Self::new(stage, b.store, Some(b.registry), pipeline).with_launcher(launcher)
    }

    /// The stage.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Handles one S3 event.
    ///
    /// # Errors
    /// The first stage error; retryable ones ([`PipelineError::is_retryable`]) are transient.
    pub async fn handle(&self, event: &S3Event) -> Result<Summary, PipelineError> {
        let mut summary = Summary {
            stage: self.stage,
            ignored: event.records.len(),
            outcomes: Vec::new(),
        };
        for obj in object_refs(event) {
            if obj.stage() != Some(self.stage) {
                tracing::info!(
                    stage = self.stage.as_str(),
                    bucket = obj.bucket,
                    key = obj.key,
                    "object is not for this stage; ignored"
                );
                continue;
            }
            summary.ignored -= 1;
            let ctx = Ctx {
                store: self.store.as_ref(),
                registry: self.registry.as_deref(),
                cfg: &self.cfg,
                tracker: self.tracker.as_ref(),
                launcher: self.launcher.as_deref(),
            };
            let result = run_stage(self.stage, ctx, &obj.key).await;
            telemetry::record(self.stage, result.as_ref());
            match result {
                Ok(o) => {
                    tracing::info!(
                        stage = self.stage.as_str(),
                        bucket = obj.bucket,
                        key = obj.key,
                        result = o.result().as_str(),
                        "stage done"
                    );
                    summary.outcomes.push(o);
                }
                Err(e) => {
                    tracing::error!(stage = self.stage.as_str(), bucket = obj.bucket, key = obj.key, retryable = e.is_retryable(), error = %e, "stage failed");
                    telemetry::flush().await;
                    return Err(e);
                }
            }
        }
        telemetry::flush().await;
        Ok(summary)
    }
}
