//! The predict function: the inference server's axum router behind `lambda_http` (function URL or API
//! Gateway). Configuration comes from the same `POLARITY_…` variables as the server (`POLARITY_STORE` +
//! `POLARITY_REGISTRY`: the registry's production model; or `POLARITY_MODEL`; limits); a function has no
//! embedded home. The model is loaded, verified and warmed at cold start when there is one; before the
//! first promotion the function answers 503 `no_model`. Hot reload as on the server: a background task
//! checks the source every `POLARITY_POLL_INTERVAL`. Lambda freezes the environment between invocations,
//! so the check runs while invocations are in flight: after a promotion, a warm environment swaps models
//! within one interval of its next invocation (requests meanwhile get the previous model).

use clap::Parser;
use polarity_server::ServeArgs;

/// Settings of the function, read from the environment only.
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct FnArgs {
    #[command(flatten)]
    args: ServeArgs,
}

/// The settings from the environment.
///
/// # Errors
/// A variable with a bad value.
pub fn config_from_env() -> Result<ServeArgs, lambda_http::Error> {
    Ok(FnArgs::try_parse_from(std::iter::empty::<String>())?.args)
}

/// The settings from arguments (tests) and the environment.
///
/// # Errors
/// A bad flag or variable.
pub fn config_from_args(args: &[&str]) -> Result<ServeArgs, lambda_http::Error> {
    Ok(FnArgs::try_parse_from(args)?.args)
}

/// Loads the configured model when there is one, starts the hot-reload task and builds the router. Needs a
/// Tokio runtime.
///
/// # Errors
/// No model source (neither `POLARITY_MODEL` nor `POLARITY_STORE` + `POLARITY_REGISTRY`), or a
/// `POLARITY_MODEL` that cannot be loaded.
pub async fn router(cfg: ServeArgs) -> Result<axum::Router, lambda_http::Error> {
    if cfg.model.is_none() && cfg.backend.store.is_none() && cfg.backend.registry.is_none() {
        return Err("set POLARITY_MODEL, or POLARITY_STORE and POLARITY_REGISTRY: a function has no embedded home".into());
    }
    let source = polarity_server::source_from_args(&cfg).await?;
    let state = polarity_server::start_state(&cfg, source.as_ref()).await?;
    tokio::spawn(polarity_server::reload::poll(
        state.clone(),
        source,
        cfg.poll_interval,
    ));
    Ok(polarity_server::app(state))
}
