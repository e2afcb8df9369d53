//! `polarity pipeline run FILE…`: uploads each file to `incoming/` and runs the chain in-process through
//! the same events and routing table the bucket would use, printing each stage as it finishes and, at the
//! end, what is in production and why.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::{Args, Subcommand};
use polarity_pipeline::aws::AwsSettings;
use polarity_pipeline::backend::{self, Backends, RegistryUrl, StoreUrl};
use polarity_pipeline::embedded::{Dispatcher, Step};
use polarity_pipeline::stages::StageOutcome;
use polarity_pipeline::{PipelineConfig, layout, telemetry};

/// Where the bucket and the registry are.
#[derive(Debug, Args, Clone)]
pub struct BackendArgs {
    /// Embedded home: store `DIR/bucket`, registry `DIR/registry.json` (used for whatever --store and
    /// --registry do not set).
    #[arg(
        long,
        env = "POLARITY_HOME",
        default_value = ".polarity",
        global = true
    )]
    pub home: PathBuf,
    /// Object store: `file:///DIR` or `s3://BUCKET` (endpoint from AWS_ENDPOINT_URL*).
    #[arg(long, env = "POLARITY_STORE", global = true)]
    pub store: Option<String>,
    /// Registry: `file:///FILE.json` or `dynamodb://TABLE`.
    #[arg(long, env = "POLARITY_REGISTRY", global = true)]
    pub registry: Option<String>,
}

impl BackendArgs {
    /// The store and registry URLs these flags name.
    pub fn urls(&self) -> Result<(StoreUrl, RegistryUrl)> {
        let (hs, hr) = backend::home(&self.home);
        let s = self
            .store
            .as_deref()
            .map(StoreUrl::parse)
            .transpose()?
            .unwrap_or(hs);
        let r = self
            .registry
            .as_deref()
            .map(RegistryUrl::parse)
            .transpose()?
            .unwrap_or(hr);
        Ok((s, r))
    }

    /// Connects both backends.
    pub async fn connect(&self) -> Result<Backends> {
        let (s, r) = self.urls()?;
        Ok(backend::connect(&s, &r, &AwsSettings::default()).await)
    }
}

/// `polarity pipeline`.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: PipelineCommand,
}

/// `polarity pipeline` sub-commands.
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Upload files to incoming/ and run ingest → process → train → validate on them.
    Run(RunArgs),
}

/// `polarity pipeline run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Labelled files (CSV, TSV, JSONL; gzip optional), uploaded in order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Backends.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Print one JSON object per stage and a final summary instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Builds the runtime the async commands use.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs `polarity pipeline`.
pub fn run(a: &PipelineArgs) -> Result<()> {
    match &a.command {
        PipelineCommand::Run(r) => runtime()?.block_on(run_files(r)),
    }
}

fn describe(step: &Step) -> String {
    let secs = step.elapsed.as_secs_f64();
    let what = match &step.outcome {
        StageOutcome::Ingest(m) if m.already => {
            format!("{} → dataset {} already ingested", step.key, m.dataset)
        }
        StageOutcome::Ingest(m) => match &m.file_error {
            Some(e) => format!(
                "{} → whole file quarantined as {}: {e}",
                step.key, m.dataset
            ),
            None => format!(
                "{} → dataset {}: {} rows in, {} accepted, {} quarantined{}",
                step.key,
                m.dataset,
                m.rows_in,
                m.accepted,
                m.quarantined,
                if m.reasons.is_empty() {
                    String::new()
                } else {
                    format!(" {:?}", m.reasons)
                }
            ),
        },
        StageOutcome::Process(m) => format!(
            "dataset {}: {} train / {} test rows, {} duplicates, {} empty{}",
            m.dataset,
            m.train.values().sum::<u64>(),
            m.test.values().sum::<u64>(),
            m.duplicates,
            m.empty,
            if m.already {
                " (already processed)"
            } else {
                ""
            }
        ),
        StageOutcome::Train(m) => format!(
            "version {}: {} rows from {} dataset(s), held-out macro-F1 {:.4} on {} rows{}",
            m.version,
            m.n_train,
            m.datasets.len(),
            m.macro_f1,
            m.n_test,
            if m.already { " (already trained)" } else { "" }
        ),
        StageOutcome::Validate(d) => format!(
            "version {}: {} — {}",
            d.version,
            d.verdict.as_str().to_uppercase(),
            d.reason
        ),
        StageOutcome::Skipped { reason, .. } => format!("skipped: {reason}"),
    };
    format!("[{:<8}] {what} ({secs:.2} s)", step.stage.name())
}

async fn run_files(a: &RunArgs) -> Result<()> {
    let cfg = PipelineConfig::from_env()?;
    let b = a.backend.connect().await?;
    b.store
        .ensure()
        .await
        .with_context(|| format!("cannot prepare the store {}", b.store.url()))?;
    if !a.json {
        println!("store {}, registry {}", b.store.url(), b.registry.url());
    }
    let dispatcher = Dispatcher::new(
        b.store.as_ref(),
        b.registry.as_ref(),
        &cfg,
        b.bucket.clone(),
    );
    let t0 = Instant::now();
    let mut promoted_at = None;
    for file in &a.files {
        let body =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "upload".into());
        let key = layout::incoming(&name);
        let json = a.json;
        dispatcher
            .upload_and_run(&key, Bytes::from(body), |step| {
                if json {
                    println!("{}", serde_json::json!({ "stage": step.stage, "key": step.key, "seconds": step.elapsed.as_secs_f64(), "outcome": step.outcome }));
                } else {
                    println!("{}", describe(step));
                }
                if matches!(&step.outcome, StageOutcome::Validate(d) if d.promoted && !d.already) {
                    promoted_at = Some(t0.elapsed());
                }
            })
            .await
            .with_context(|| format!("pipeline failed on {}", file.display()))?;
    }
    telemetry::flush().await;
    let prod = b.registry.production().await?;
    let last = match &prod {
        Some(p) => b.store.get_opt(&layout::decision(&p.version)).await?,
        None => None,
    };
    let reason = last
        .and_then(|bytes| {
            serde_json::from_slice::<polarity_pipeline::stages::Decision>(&bytes).ok()
        })
        .map(|d| d.reason)
        .unwrap_or_else(|| "promoted by an operator".into());
    if a.json {
        let summary = serde_json::json!({
            "production": prod,
            "reason": prod.as_ref().map(|_| reason.clone()),
            "seconds": t0.elapsed().as_secs_f64(),
            "seconds_to_promotion": promoted_at.map(|d| d.as_secs_f64()),
        });
        println!("{summary}");
        return Ok(());
    }
    match prod {
        Some(p) => println!(
            "production: {} (held-out macro-F1 {:.4}, accuracy {:.4}; artifact {}) — {reason}",
            p.version, p.scores.macro_f1, p.scores.accuracy, p.artifact_key
        ),
        None => println!("production: none (no candidate cleared the promotion rules)"),
    }
    match promoted_at {
        Some(d) => println!(
            "upload to promotion: {:.2} s (total {:.2} s)",
            d.as_secs_f64(),
            t0.elapsed().as_secs_f64()
        ),
        None => println!(
            "nothing was promoted in this run (total {:.2} s)",
            t0.elapsed().as_secs_f64()
        ),
    }
    Ok(())
}
