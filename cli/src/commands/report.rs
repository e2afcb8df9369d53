//! `polarity report`: a version's report page (default: production) as one self-contained HTML file —
//! the same page the validate stage writes beside the model as `models/<version>/report.html`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use polarity_pipeline::backend::BackendArgs;
use polarity_pipeline::report;

use crate::context::{check_output_path, connect, runtime, write_atomic};

/// `polarity report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Version to report on (default: the production version).
    #[arg(long)]
    pub version: Option<String>,
    /// Where to write the page (default: `report-<version>.html` in the current folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Backends.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Runs `polarity report`.
pub fn run(a: &ReportArgs) -> Result<()> {
    if let Some(out) = &a.out {
        check_output_path(out)?;
    }
    runtime()?.block_on(async {
        let b = connect(&a.backend, true).await?;
        let version = match &a.version {
            Some(v) => v.clone(),
            None => match b.registry.pointer().await?.version {
                Some(v) => v,
                None => bail!(
                    "no version is in production in {}; pass --version (see `polarity registry list`)",
                    b.registry.url()
                ),
            },
        };
        let data = report::load(b.store.as_ref(), b.registry.as_ref(), &version)
            .await
            .with_context(|| format!("cannot report on {version}"))?;
        let out = a
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("report-{version}.html")));
        check_output_path(&out)?;
        write_atomic(&out, report::render(&data).as_bytes())?;
        println!("wrote {} (version {version}, {})", out.display(), data.status.as_str());
        Ok(())
    })
}
