//! The Lambda side of a stage, written once for the four stage functions: configuration read once per cold
//! start ([`FunctionConfig::from_env`]), the handler's clients built once and borrowed by every invocation
//! ([`StageHandler`]), JSON logs in the one shape the server writes too (`timestamp`, `level`, fields; so
//! Lambda's log-level filtering and timestamps apply), and errors returned to the runtime with their kind
//! and whether a retry may help.
//!
//! The same binary also runs as an ECS task ([`run_task`], [`run_function`]): with `POLARITY_TASK_KEY` set it
//! runs the stage once on that key, with dispatch off, and exits.

use aws_lambda_events::event::s3::S3Event;
use clap::Parser;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use polarity_pipeline::aws::AwsSettings;
use polarity_pipeline::backend::{Backend, BackendArgs};
use polarity_pipeline::config::{PipelineConfig, SettingsArgs};
use polarity_pipeline::dispatch::{DispatchConfig, TASK_KEY};
use polarity_pipeline::events::object_created;
use polarity_pipeline::handler::{StageHandler, Summary};
use polarity_pipeline::{PipelineError, Stage};

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
    /// Stage settings (see [`polarity_pipeline::config`]).
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
            PipelineError::Config(polarity_pipeline::config::name_variable(
                &FunctionArgs::command(),
                &e,
            ))
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
    polarity_server::init_tracing(true);
    serve_lambda(stage).await
}

async fn serve_lambda(stage: Stage) -> Result<(), lambda_runtime::Error> {
    let config = FunctionConfig::from_env()?;
    let handler = StageHandler::connect(
        stage,
        &config.backend,
        config.pipeline,
        &AwsSettings::default(),
    )
    .await;
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
    let handler = StageHandler::connect(stage, &config.backend, config.pipeline, aws).await;
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
    polarity_server::init_tracing(true);
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
