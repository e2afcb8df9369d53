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

pub mod auth;
pub mod config;
pub mod conn;
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
pub use state::{AppState, LoadedModel, ServingOptions};

/// How often startup retries a retryable source error before opening the port without a model.
const STARTUP_ATTEMPTS: u32 = 5;

/// The HTTP API over `state`. Every response, errors included, is counted by route template.
pub fn app(state: AppState) -> Router {
    use routes::*;
    let access_log = state.options().access_log;
    let guarded = |r: axum::routing::MethodRouter<AppState>| {
        r.route_layer(from_fn_with_state(state.clone(), predict::guard))
    };
    // bearer-token auth (when --api-key is set) on the inference routes only
    let inference = Router::new()
        .route("/predict", guarded(post(predict::predict)))
        .route("/", guarded(post(predict::predict)))
        .route("/v2", get(v2::server_metadata))
        .route("/v2/models/{name}", get(v2::metadata))
        .route("/v2/models/{name}/ready", get(v2::model_ready))
        .route("/v2/models/{name}/infer", guarded(post(v2::infer)))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(v2::version_metadata),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(v2::version_ready),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            guarded(post(v2::infer_version)),
        )
        .route_layer(from_fn_with_state(state.clone(), crate::auth::require_key));
    let router = Router::new()
        .merge(inference)
        .route("/docs", get(docs::docs))
        // health probes stay open with --api-key, like /health and /ready
        .route("/v2/health/live", get(v2::live))
        .route("/v2/health/ready", get(v2::ready))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/info", get(info::info))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::openapi))
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(DefaultBodyLimit::disable())
        .layer(from_fn_with_state(
            state.clone(),
            crate::metrics::track::<AppState>,
        ));
    let router = if access_log {
        router.layer(axum::middleware::from_fn(crate::metrics::access_log))
    } else {
        router
    };
    router.with_state(state)
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

/// Runs the server from command-line settings: `--model FILE` (plus optional sidecar), else the registry
/// the backend flags name.
///
/// # Errors
/// A backend that does not resolve, a `--model` file that cannot be loaded, or an address that cannot be
/// bound.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let source = source_from_args(&args).await?;
    serve_with_source(args, source).await
}

/// The model source the flags name (see [`serve`]).
///
/// # Errors
/// A half-given backend or a URL that does not parse.
pub async fn source_from_args(args: &ServeArgs) -> anyhow::Result<Arc<dyn ModelSource>> {
    if let Some(path) = &args.model {
        return Ok(Arc::new(FileSource::new(
            path.clone(),
            args.model_sidecar.clone(),
        )));
    }
    let backend = args.backend.resolve()?;
    Ok(Arc::new(RegistrySource::connect(&backend).await))
}

/// Runs the server with any [`ModelSource`]: try to load, verify and warm the current model, bind
/// `args.addr` either way (a registry with no production model yet serves 503 `no_model` until one is
/// promoted), poll for new models every `args.poll_interval`, and drain on SIGTERM/ctrl-c. A `--model`
/// file that cannot be loaded at start is an error (the file is the whole point); a registry's problems are
/// logged and retried at every poll.
///
/// # Errors
/// Invalid limits, a `--model` file that cannot be loaded, or an address that cannot be bound.
pub(crate) async fn serve_with_source(
    args: ServeArgs,
    source: Arc<dyn ModelSource>,
) -> anyhow::Result<()> {
    let state = start_state(&args, source.as_ref()).await?;
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("could not listen on {}", args.addr))?;
    tracing::info!(addr = %listener.local_addr()?, poll_interval_s = args.poll_interval.as_secs_f64(), "listening");
    let poller = tokio::spawn(reload::poll(state.clone(), source, args.poll_interval));
    let served = conn::serve(
        listener,
        app(state),
        conn::ConnSettings {
            header_timeout: args.header_timeout,
            idle_timeout: args.idle_timeout,
            drain: args.shutdown_timeout,
            max_connections: args.limits.max_connections,
            max_body_bytes: args.limits.max_body_bytes,
        },
        shutdown::signal(),
    )
    .await;
    poller.abort();
    served.context("server failed")
}

/// The state a server (or the predict function) starts with: limits checked, and the current model loaded,
/// verified and warmed when there is one. A `--model` file that cannot be loaded is an error; a registry
/// with no model yet, or whose model is refused, gives a state without a model (503 `no_model`) that the
/// poll task fills in.
///
/// # Errors
/// Invalid limits, or a `--model` file that cannot be loaded.
pub async fn start_state(args: &ServeArgs, source: &dyn ModelSource) -> anyhow::Result<AppState> {
    args.limits.validate().map_err(anyhow::Error::msg)?;
    if let Some(k) = args.api_key.as_deref().filter(|k| !k.is_empty()) {
        config::parse_api_key(k)
            .map_err(|e| anyhow::anyhow!("--api-key / POLARITY_API_KEY: {e}"))?;
    }
    if !(0.0..=1.0).contains(&args.shadow_sample) {
        anyhow::bail!(
            "--shadow-sample must be in [0, 1], got {}",
            args.shadow_sample
        );
    }
    let state = AppState::new(args.limits.clone())?.with_options(state::ServingOptions {
        access_log: args.access_log,
        api_key: args.api_key.clone().filter(|k| !k.is_empty()),
        model_name: args.model_name.clone(),
        shadow_every: state::ServingOptions::shadow_every(args.shadow_sample),
    });
    match reload::load_initial(&state, source, STARTUP_ATTEMPTS).await {
        Ok(_) => {}
        Err(e) if args.model.is_some() => {
            return Err(anyhow::Error::new(e).context(format!(
                "could not load the model from {}",
                source.describe()
            )));
        }
        Err(e) if e.is_no_model() => tracing::info!(
            source = %source.describe(),
            "no production model yet; /ready and /predict answer 503 no_model until one is promoted"
        ),
        Err(e) => tracing::error!(
            source = %source.describe(),
            error = %e,
            "could not load the production model; serving 503 no_model and retrying every poll"
        ),
    }
    Ok(state)
}

/// Installs the global tracing subscriber (`RUST_LOG` filter, default `info`; JSON lines when `json`;
/// colours only on a terminal). Does nothing if one is already installed.
pub fn init_tracing(json: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json().try_init()
    } else {
        b.try_init()
    };
}
