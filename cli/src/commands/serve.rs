//! `polarity serve`: the inference server (the same library as the standalone `polarity-server`). Without
//! a source flag it serves the embedded registry under `.polarity` (what `pipeline run` wrote).

use anyhow::{Context, Result};
use polarity_server::ServeArgs;

pub fn run(a: ServeArgs) -> Result<()> {
    polarity_server::init_tracing(a.json_logs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(polarity_server::serve(a))
}
