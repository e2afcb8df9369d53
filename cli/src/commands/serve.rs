//! `polarity serve`: the inference server (the same library as the standalone `polarity-server`).

use anyhow::{Context, Result};
use polarity_server::ServeArgs;

/// Embedded home served when no source flag is given (what `polarity pipeline run` uses by default).
const DEFAULT_HOME: &str = ".polarity";

pub fn run(mut a: ServeArgs) -> Result<()> {
    if a.model.is_none() && a.store.is_none() && a.home.is_none() {
        a.home = Some(DEFAULT_HOME.into());
    }
    polarity_server::init_tracing(a.json_logs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(polarity_server::serve(a))
}
