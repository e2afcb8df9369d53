//! The Lambda side of a stage, written once for the four functions: configuration read once per cold start
//! ([`FunctionConfig::from_env`]), clients built once ([`StageHandler::connect`]) and borrowed by every
//! invocation, and [`StageHandler::handle`], which turns an S3 event into object references, runs the
//! stage on each object the routing table sends to it, records metrics, and returns a small summary.
//! Errors are returned (never swallowed) so Lambda retries them and the failure destination keeps what is
//! left; permanent input problems never get here, the stages quarantine or skip them.
//!
//! The same binary also runs as an ECS task ([`run_task`], [`run_function`]): with `POLARITY_TASK_KEY` set it
//! runs the stage once on that key, with dispatch off, and exits.

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use clap::Parser;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;

use crate::aws::AwsSettings;
use crate::backend::{Backend, BackendArgs};
use crate::config::{PipelineConfig, SettingsArgs};
use crate::dispatch::{self, DispatchConfig, TASK_KEY, TaskLauncher};
use crate::error::PipelineError;
use crate::events::{object_created, object_refs};
use crate::layout::Stage;
use crate::records::StageOutcome;
use crate::registry::Registry;
use crate::stages::{Ctx, run_stage};
use crate::store::ObjectStore;
use crate::telemetry;
use crate::tracker::{self, Tracker};

/// The settings a function reads from its environment: the backend and every pipeline setting.
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct FunctionArgs {
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    settings: SettingsArgs,
}

/// A function's configuration.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// `POLARITY_STORE` and `POLARITY_REGISTRY`.
    pub backend: Backend,
    /// Stage settings (see [`crate::config`]).
    pub pipeline: PipelineConfig,
}

impl FunctionConfig {
    /// Reads the configuration from `args` (flags) and the environment; a function has no home, so
    /// `POLARITY_STORE` and `POLARITY_REGISTRY` must both be set.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the missing or bad variable.
    pub fn parse<I, T>(args: I) -> Result<Self, PipelineError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::CommandFactory;
        let a = FunctionArgs::try_parse_from(args).map_err(|e| {
            PipelineError::Config(crate::config::name_variable(&FunctionArgs::command(), &e))
        })?;
        let backend = a.backend.resolve()?;
        if backend.home.is_some() {
            return Err(PipelineError::Config(
                "POLARITY_STORE and POLARITY_REGISTRY must be set (e.g. s3://polarity-data and dynamodb://polarity-registry)".into(),
            ));
        }
        Ok(Self {
            backend,
            pipeline: a.settings.to_config()?,
        })
    }

    /// Reads the process environment.
    ///
    /// # Errors
    /// As [`FunctionConfig::parse`].
    pub fn from_env() -> Result<Self, PipelineError> {
        Self::parse(std::iter::empty::<String>())
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

    /// Builds the clients once (cold start), the ECS client too when a train task is configured.
    pub async fn connect(stage: Stage, cfg: FunctionConfig, aws: &AwsSettings) -> Self {
        let b = cfg.backend.connect(aws).await;
        let launcher = dispatch::connect(&cfg.pipeline.dispatch, aws).await;
        Self::new(stage, b.store, Some(b.registry), cfg.pipeline).with_launcher(launcher)
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

fn init_json_logs() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
}

/// The whole Lambda binary of a stage function: JSON logs, configuration from the environment, clients
/// built once, then invocations served through [`handle`] until the runtime stops.
///
/// # Errors
/// Invalid configuration, or the runtime's error.
pub async fn run_lambda(stage: Stage) -> Result<(), lambda_runtime::Error> {
    init_json_logs();
    serve_lambda(stage).await
}

async fn serve_lambda(stage: Stage) -> Result<(), lambda_runtime::Error> {
    let config = FunctionConfig::from_env()?;
    let handler = StageHandler::connect(stage, config, &AwsSettings::default()).await;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event| handle(handler, event))).await
}

/// Runs `stage` once on `key` as the object's `ObjectCreated` event would, with dispatch off (a task never
/// starts another task, and has no in-process limit): the ECS task's work. Its outputs are exactly what the
/// Lambda function writes.
///
/// # Errors
/// The stage's error, or [`PipelineError::Config`] when `key` is not an object the stage handles.
pub async fn run_task(
    stage: Stage,
    mut config: FunctionConfig,
    key: &str,
    aws: &AwsSettings,
) -> Result<Summary, PipelineError> {
    config.pipeline.dispatch = DispatchConfig::default();
    let bucket = config.backend.store.bucket();
    let handler = StageHandler::connect(stage, config, aws).await;
    let summary = handler.handle(&object_created(&bucket, key, 0)).await?;
    if summary.outcomes.is_empty() {
        return Err(PipelineError::Config(format!(
            "{TASK_KEY}={key:?} is not an object the {stage} stage handles"
        )));
    }
    Ok(summary)
}

/// The main of a stage binary that can also run as an ECS task: with `POLARITY_TASK_KEY` set, [`run_task`]
/// on that key (configuration from the environment), then exit 0, or 1 after one line on stderr naming the
/// error; without it, [`run_lambda`]'s invocation loop.
pub async fn run_function(stage: Stage) -> std::process::ExitCode {
    init_json_logs();
    let task_key = std::env::var(TASK_KEY).ok().filter(|k| !k.is_empty());
    let result = match &task_key {
        Some(key) => match FunctionConfig::from_env() {
            Ok(config) => run_task(stage, config, key, &AwsSettings::default())
                .await
                .map(|s| {
                    tracing::info!(
                        stage = stage.as_str(),
                        key,
                        results = ?s.outcomes.iter().map(|o| o.result().as_str()).collect::<Vec<_>>(),
                        "task done"
                    );
                })
                .map_err(|e| format!("{stage} on {key}: {e}")),
            Err(e) => Err(e.to_string()),
        },
        None => serve_lambda(stage).await.map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("polarity-fn-{stage}: {}", e.replace('\n', " "));
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_missing_variables() {
        let e = FunctionConfig::parse(std::iter::empty::<String>()).unwrap_err();
        assert!(e.to_string().contains("POLARITY_STORE"), "{e}");
        let e = FunctionConfig::parse(["--store", "s3://b"]).unwrap_err();
        assert!(e.to_string().contains("POLARITY_REGISTRY"), "{e}");
        let c = FunctionConfig::parse(["--store", "s3://b", "--registry", "dynamodb://t"]).unwrap();
        assert!(c.backend.needs_aws());
        let e = FunctionConfig::parse([
            "--store",
            "s3://b",
            "--registry",
            "dynamodb://t",
            "--gate-alpha",
            "x",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("POLARITY_GATE_ALPHA"), "{e}");
    }
}
