//! Polarity's inference server: an axum [`Router`] ([`app`]) serving `/predict`, `/health`, `/ready`, `/info`,
//! `/metrics` and `/openapi.json`, with hot model reload, Prometheus metrics, request limits and graceful
//! shutdown. The same router runs as a process ([`serve`], EC2) and inside AWS Lambda (`polarity-fn-predict`).
//!
//! Wiring `polarity serve` into another binary:
//! ```no_run
//! # async fn f(args: polarity_server::ServeArgs) -> anyhow::Result<()> {
//! polarity_server::init_tracing(args.json_logs);
//! polarity_server::serve(args).await
//! # }
//! ```

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

pub mod config;
pub mod error;
pub mod metrics;
pub mod registry_source;
pub mod reload;
pub mod routes;
pub mod shutdown;
pub mod source;
pub mod state;

pub use config::{Limits, ServeArgs};
pub use error::ApiError;
pub use registry_source::RegistrySource;
pub use source::{FileSource, ModelRef, ModelSource, SourceError};
pub use state::{AppState, LoadedModel};

/// How often startup retries a retryable source error before giving up.
const STARTUP_ATTEMPTS: u32 = 5;

/// The HTTP API over `state`. Every response, errors included, is counted by route template.
pub fn app(state: AppState) -> Router {
    use routes::*;
    Router::new()
        .route(
            "/predict",
            post(predict::predict).route_layer(from_fn_with_state(state.clone(), predict::guard)),
        )
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/info", get(info::info))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::openapi))
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits().max_body_bytes))
        .layer(from_fn_with_state(state.clone(), crate::metrics::track))
        .with_state(state)
}

/// Builds state and loads, verifies and warms the first model from `source` (retrying retryable errors).
///
/// # Errors
/// Invalid limits, or the model could not be loaded.
pub async fn load_state(source: &dyn ModelSource, limits: Limits) -> anyhow::Result<AppState> {
    limits.validate().map_err(anyhow::Error::msg)?;
    let state = AppState::new(limits)?;
    reload::load_initial(&state, source, STARTUP_ATTEMPTS)
        .await
        .with_context(|| format!("could not load the model from {}", source.describe()))?;
    Ok(state)
}

/// Runs the server from command-line settings: `--model FILE` (plus optional sidecar), else
/// `--store URL --registry URL`, else `--home DIR`, as the source.
///
/// # Errors
/// No model source, a model that cannot be loaded, or an address that cannot be bound.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let source = source_from_args(&args).await?;
    serve_with_source(args, source).await
}

/// The model source the flags name (see [`serve`]).
///
/// # Errors
/// No source given, or a store/registry URL that does not parse.
pub async fn source_from_args(args: &ServeArgs) -> anyhow::Result<Arc<dyn ModelSource>> {
    if let Some(path) = &args.model {
        return Ok(Arc::new(FileSource::new(
            path.clone(),
            args.model_sidecar.clone(),
        )));
    }
    if let (Some(s), Some(r)) = (&args.store, &args.registry) {
        return Ok(Arc::new(RegistrySource::connect(s, r).await?));
    }
    let home = args.home.as_ref().context(
        "no model source: pass --model FILE, --store URL --registry URL, or --home DIR \
         (or set POLARITY_MODEL, POLARITY_STORE + POLARITY_REGISTRY, or POLARITY_HOME)",
    )?;
    Ok(Arc::new(RegistrySource::home(home).await))
}

/// Runs the server with any [`ModelSource`] (e.g. a registry): load, warm, only then bind `args.addr`,
/// poll for new models every `args.poll_interval`, and drain on SIGTERM/ctrl-c.
///
/// # Errors
/// A model that cannot be loaded or an address that cannot be bound.
pub async fn serve_with_source(
    args: ServeArgs,
    source: Arc<dyn ModelSource>,
) -> anyhow::Result<()> {
    let state = load_state(source.as_ref(), args.limits.clone()).await?;
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("could not listen on {}", args.addr))?;
    tracing::info!(addr = %listener.local_addr()?, poll_interval_s = args.poll_interval.as_secs_f64(), "listening");
    let poller = tokio::spawn(reload::poll(state.clone(), source, args.poll_interval));
    let served = shutdown::serve_until(
        listener,
        app(state),
        shutdown::signal(),
        args.shutdown_timeout,
    )
    .await;
    poller.abort();
    served.context("server failed")
}

/// Installs the global tracing subscriber (`RUST_LOG` filter, default `info`; JSON lines when `json`).
/// Does nothing if one is already installed.
pub fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json().try_init()
    } else {
        b.try_init()
    };
}
