//! The Lambda side of a stage, written once for the four functions: configuration read once per cold start
//! ([`FunctionConfig::from_env`]), clients built once ([`StageHandler::connect`]) and borrowed by every
//! invocation, and [`StageHandler::handle`], which turns an S3 event into object references, runs the
//! stage on each object the routing table sends to it, records metrics, and returns a small summary.
//! Errors are returned (never swallowed) so Lambda retries them and the failure destination keeps what is
//! left; permanent input problems never get here, the stages quarantine or skip them.

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use polarity_core::routing::Stage;
use serde::Serialize;

use crate::aws::AwsSettings;
use crate::backend::{self, RegistryUrl, StoreUrl};
use crate::config::PipelineConfig;
use crate::error::PipelineError;
use crate::events::object_refs;
use crate::registry::Registry;
use crate::stages::{StageOutcome, run_stage};
use crate::store::ObjectStore;
use crate::telemetry;

/// A function's configuration.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// `POLARITY_STORE` (e.g. `s3://polarity-data`).
    pub store: StoreUrl,
    /// `POLARITY_REGISTRY` (e.g. `dynamodb://polarity-registry`); needed by train and validate.
    pub registry: Option<RegistryUrl>,
    /// Stage settings (see [`PipelineConfig::from_vars`]).
    pub pipeline: PipelineConfig,
}

impl FunctionConfig {
    /// Reads the configuration through `get`.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the missing or bad variable.
    pub fn from_vars(
        stage: Stage,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, PipelineError> {
        let store = get("POLARITY_STORE").ok_or_else(|| {
            PipelineError::Config("POLARITY_STORE is not set (e.g. s3://polarity-data)".into())
        })?;
        let store = StoreUrl::parse(&store)
            .map_err(|e| PipelineError::Config(format!("POLARITY_STORE: {e}")))?;
        let registry = match get("POLARITY_REGISTRY") {
            Some(r) => Some(
                RegistryUrl::parse(&r)
                    .map_err(|e| PipelineError::Config(format!("POLARITY_REGISTRY: {e}")))?,
            ),
            None if matches!(stage, Stage::Train | Stage::Validate) => {
                return Err(PipelineError::Config(format!(
                    "POLARITY_REGISTRY is not set; the {} stage needs it",
                    stage.name()
                )));
            }
            None => None,
        };
        Ok(Self {
            store,
            registry,
            pipeline: PipelineConfig::from_vars(&get)?,
        })
    }

    /// Reads the process environment.
    ///
    /// # Errors
    /// As [`FunctionConfig::from_vars`].
    pub fn from_env(stage: Stage) -> Result<Self, PipelineError> {
        Self::from_vars(stage, |k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }
}

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
    /// A handler over given backends (tests, embedded use).
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
            cfg,
        }
    }

    /// Builds the clients once (cold start).
    pub async fn connect(stage: Stage, cfg: FunctionConfig, aws: &AwsSettings) -> Self {
        let needs_aws = matches!(cfg.store, StoreUrl::S3(_))
            || matches!(cfg.registry, Some(RegistryUrl::Dynamo(_)));
        let sdk = if needs_aws {
            Some(aws.load().await)
        } else {
            None
        };
        let store = backend::connect_store(&cfg.store, aws, sdk.as_ref()).await;
        let registry = match &cfg.registry {
            Some(r) => Some(backend::connect_registry(r, aws, sdk.as_ref()).await),
            None => None,
        };
        Self::new(stage, store, registry, cfg.pipeline)
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
                    stage = self.stage.name(),
                    bucket = obj.bucket,
                    key = obj.key,
                    "object is not for this stage; ignored"
                );
                continue;
            }
            summary.ignored -= 1;
            let result = run_stage(
                self.stage,
                self.store.as_ref(),
                self.registry.as_deref(),
                &self.cfg,
                &obj.key,
            )
            .await;
            telemetry::record(self.stage, result.as_ref());
            match result {
                Ok(o) => {
                    tracing::info!(
                        stage = self.stage.name(),
                        bucket = obj.bucket,
                        key = obj.key,
                        result = o.result(),
                        "stage done"
                    );
                    summary.outcomes.push(o);
                }
                Err(e) => {
                    tracing::error!(stage = self.stage.name(), bucket = obj.bucket, key = obj.key, retryable = e.is_retryable(), error = %e, "stage failed");
                    telemetry::flush().await;
                    return Err(e);
                }
            }
        }
        telemetry::flush().await;
        Ok(summary)
    }
}

/// One Lambda invocation of `handler`. Errors reach the runtime (and so Lambda's retries) with their kind
/// as the error type (`store`, `registry`, `corrupt`, `config`; see [`PipelineError::lambda_error_type`])
/// and whether they are transient.
///
/// # Errors
/// The stage's error, as a [`Diagnostic`].
pub async fn handle(
    handler: &StageHandler,
    event: LambdaEvent<S3Event>,
) -> Result<Summary, Diagnostic> {
    handler
        .handle(&event.payload)
        .await
        .map_err(|e| Diagnostic {
            error_type: e.lambda_error_type(),
            error_message: e.to_string(),
        })
}

/// The whole Lambda binary of a stage function: JSON logs, configuration from the environment, clients
/// built once, then invocations served through [`handle`] until the runtime stops.
///
/// # Errors
/// Invalid configuration, or the runtime's error.
pub async fn run_lambda(stage: Stage) -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
    let config = FunctionConfig::from_env(stage)?;
    let handler = StageHandler::connect(stage, config, &AwsSettings::default()).await;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event| handle(handler, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_missing_variables() {
        let e = FunctionConfig::from_vars(Stage::Ingest, |_| None).unwrap_err();
        assert!(e.to_string().contains("POLARITY_STORE"), "{e}");
        let store = |k: &str| (k == "POLARITY_STORE").then(|| "s3://b".to_string());
        assert!(
            FunctionConfig::from_vars(Stage::Ingest, store)
                .unwrap()
                .registry
                .is_none()
        );
        let e = FunctionConfig::from_vars(Stage::Validate, store).unwrap_err();
        assert!(e.to_string().contains("POLARITY_REGISTRY"), "{e}");
    }
}
