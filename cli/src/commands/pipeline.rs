//! `polarity pipeline`: `run FILE…` uploads each file to `incoming/` (with its data contract as object
//! metadata, exactly what `aws s3 cp --metadata` would set) and runs the chain in-process through the same
//! events and routing table the bucket would use; `stage STAGE KEY` runs one stage on one object as its
//! Lambda function would (replaying a failed event, or testing a role's permissions; with the
//! `POLARITY_TASK_*` settings, train above `POLARITY_TRAIN_MAX_ROWS` starts the ECS task as the function
//! does); `status [UPLOAD]` shows where uploads are, from the bucket and the registry.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use polarity_core::reader::{is_unprintable, quoted, visible};
use polarity_pipeline::aws::AwsSettings;
use polarity_pipeline::backend::{BackendArgs, Backends};
use polarity_pipeline::config::{PipelineConfig, SettingsArgs};
use polarity_pipeline::datasets::{DatasetStatus, DatasetView};
use polarity_pipeline::embedded::{Dispatcher, Step};
use polarity_pipeline::handler::StageHandler;
use polarity_pipeline::layout::{self, Stage};
use polarity_pipeline::records::{Decision, StageOutcome};
use polarity_pipeline::store::Metadata;
use polarity_pipeline::{datasets, dispatch, events, telemetry, tracker};

use crate::context::{connect, describe, runtime};
use crate::flags::ContractArgs;

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
    /// Run one stage on one object, as its Lambda function would on the object's ObjectCreated event.
    Stage(StageArgs),
    /// Where uploads are: each dataset's stage, the candidate trained on it and its verdict, and what to
    /// run next.
    Status(StatusArgs),
    /// Continue every upload's chain where it stopped (after a crash or a killed run): each upload under
    /// incoming/ is run again; stages whose output exists skip their work and pass it on.
    Resume(ResumeArgs),
}

/// `polarity pipeline resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Backends.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Pipeline settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Print one JSON object per stage and a final summary instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `polarity pipeline run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Labelled files (CSV, TSV, JSONL; gzip optional), uploaded in order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Upload under incoming/NAME/ (the dataset name; contracts/NAME.json, if present, applies).
    #[arg(long)]
    pub name: Option<String>,
    /// Data contract (sent as object metadata).
    #[command(flatten)]
    pub contract: ContractArgs,
    /// Backends.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Pipeline settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Print one JSON object per stage and a final summary instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `polarity pipeline stage`.
#[derive(Debug, Args)]
pub struct StageArgs {
    /// ingest, process, train or validate.
    pub stage: Stage,
    /// The object key the event names (e.g. incoming/reviews.csv, raw/<dataset>/manifest.json).
    pub key: String,
    /// Backends.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Pipeline settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// `polarity pipeline status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// An upload (its key, file name or dataset name, or a dataset id); all datasets when absent.
    pub upload: Option<String>,
    /// Backends.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `polarity pipeline`.
pub fn run(a: &PipelineArgs) -> Result<()> {
    match &a.command {
        PipelineCommand::Run(r) => runtime()?.block_on(run_files(r)),
        PipelineCommand::Stage(s) => runtime()?.block_on(run_one_stage(s)),
        PipelineCommand::Status(s) => runtime()?.block_on(status(s)),
        PipelineCommand::Resume(r) => runtime()?.block_on(resume(r)),
    }
}

/// `--name` as the folder under `incoming/`: one non-empty folder name of at most 255 bytes (a file
/// name's limit on Linux) without `/` or control characters, used as given (never rewritten).
fn folder_name(n: &str) -> Result<&str> {
    if n.is_empty()
        || n.len() > 255
        || n == "."
        || n == ".."
        || n.contains('/')
        || n.chars().any(is_unprintable)
    {
        bail!(
            "--name {} must be one folder name: not empty, at most 255 bytes, no '/', no control characters",
            quoted(n)
        );
    }
    Ok(n)
}

/// Why an upload's run trained nothing on it, from its steps (`None`: its dataset was trained on, now or
/// before). The upload's dataset counts as unused when it was quarantined whole or had no usable row,
/// when the label-noise gate held it, or when training was skipped.
fn nothing_trained(steps: &[Step]) -> Option<String> {
    let reasons: Vec<String> = steps
        .iter()
        .filter_map(|s| match &s.outcome {
            StageOutcome::Ingest(m) if m.file_error.is_some() => Some(format!(
                "{} was quarantined whole: {}",
                visible(&m.source_key),
                m.file_error.as_deref().unwrap_or_default()
            )),
            StageOutcome::Ingest(m) if m.accepted == 0 => Some(format!(
                "{}: no usable row {:?}",
                visible(&m.source_key),
                m.reasons
            )),
            StageOutcome::Process(m) if m.gate.as_ref().is_some_and(|g| g.held) => Some(format!(
                "dataset {} was {}",
                m.dataset,
                m.gate
                    .as_ref()
                    .map(|g| g.reason.as_str())
                    .unwrap_or_default()
            )),
            StageOutcome::Skipped { of, reason } => Some(format!("{of}: {reason}")),
            _ => None,
        })
        .collect();
    match (
        reasons.is_empty(),
        steps
            .iter()
            .any(|s| matches!(s.outcome, StageOutcome::Train(_))),
    ) {
        (true, true) => None,
        (true, false) => Some("no stage reached training".into()),
        (false, _) => Some(reasons.join("; ")),
    }
}

async fn run_files(a: &RunArgs) -> Result<()> {
    let cfg = a.settings.to_config()?;
    a.contract.contract()?; // a bad flag fails here, before anything is uploaded
    let meta: Metadata = a
        .contract
        .settings()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let b = connect(&a.backend, false).await?;
    b.store
        .ensure()
        .await
        .with_context(|| format!("cannot prepare the store {}", b.store.url()))?;
    if !a.json {
        println!("store {}, registry {}", b.store.url(), b.registry.url());
    }
    let tracker = tracker::from_config(&cfg);
    let dispatcher = Dispatcher::new(
        b.store.as_ref(),
        b.registry.as_ref(),
        &cfg,
        tracker,
        b.bucket.clone(),
    );
    let t0 = Instant::now();
    let mut promoted_at = None;
    let mut not_trained = Vec::new();
    for file in &a.files {
        let body = std::fs::read(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "upload".into());
        let key = match &a.name {
            Some(n) => layout::incoming(&format!("{}/{name}", folder_name(n)?)),
            None => layout::incoming(&name),
        };
        let json = a.json;
        let steps = dispatcher
            .upload_and_run(&key, Bytes::from(body), &meta, |step| {
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
        if let Some(why) = nothing_trained(&steps) {
            not_trained.push(format!("{}: {why}", file.display()));
        }
    }
    telemetry::flush().await;
    summarise(&b, a.json, t0, promoted_at).await?;
    if !not_trained.is_empty() {
        bail!("nothing was trained from {}", not_trained.join("; "));
    }
    Ok(())
}

/// Runs the chain again on every upload under incoming/, oldest first; committed stages skip their work.
async fn resume(a: &ResumeArgs) -> Result<()> {
    let cfg = a.settings.to_config()?;
    let b = connect(&a.backend, true).await?;
    let store = b.store.as_ref();
    let mut uploads = Vec::new();
    for key in store.list(layout::INCOMING).await? {
        let at = store
            .get_object(&key)
            .await?
            .and_then(|o| o.modified_ms)
            .unwrap_or(0);
        uploads.push((at, key));
    }
    uploads.sort();
    if !a.json {
        println!(
            "store {}, registry {}: {} upload(s) to resume",
            store.url(),
            b.registry.url(),
            uploads.len()
        );
    }
    let dispatcher = Dispatcher::new(
        store,
        b.registry.as_ref(),
        &cfg,
        tracker::from_config(&cfg),
        b.bucket.clone(),
    );
    let t0 = Instant::now();
    let mut promoted_at = None;
    for (_, key) in &uploads {
        let json = a.json;
        dispatcher
            .run_key(key, |step| {
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
            .with_context(|| format!("pipeline failed on {}", visible(key)))?;
    }
    telemetry::flush().await;
    summarise(&b, a.json, t0, promoted_at).await
}

/// What is in production and why, after a run.
async fn summarise(
    b: &Backends,
    json: bool,
    t0: Instant,
    promoted_at: Option<std::time::Duration>,
) -> Result<()> {
    let prod = b.registry.production().await?;
    let last: Option<Decision> = match &prod {
        Some(p) => b
            .store
            .get_opt(&layout::decision(&p.version))
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()),
        None => None,
    };
    let reason = last
        .map(|d| d.reason)
        .unwrap_or_else(|| "promoted by an operator".into());
    if json {
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
        None => println!("production: none yet (see the validate lines above for why)"),
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

async fn run_one_stage(a: &StageArgs) -> Result<()> {
    let cfg: PipelineConfig = a.settings.to_config()?;
    let b = connect(&a.backend, true).await?;
    let launcher = dispatch::connect(&cfg.dispatch, &AwsSettings::default()).await;
    let h = StageHandler::new(a.stage, b.store.clone(), Some(b.registry.clone()), cfg)
        .with_launcher(launcher);
    let summary = h
        .handle(&events::object_created(&b.bucket, &a.key, 0))
        .await
        .with_context(|| format!("{} on {}", a.stage, a.key))?;
    if summary.outcomes.is_empty() {
        bail!(
            "{} is not an object the {} stage handles (see `polarity pipeline stage --help`)",
            a.key,
            a.stage
        );
    }
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

fn all_keys(ds: &[DatasetView]) -> Vec<&str> {
    ds.iter().map(|d| d.source_key.as_str()).collect()
}

async fn status(a: &StatusArgs) -> Result<()> {
    let b = connect(&a.backend, true).await?;
    let store = b.store.as_ref();
    let all = datasets::list(store).await?;
    let chosen: Vec<_> = all
        .into_iter()
        .filter(|d| match &a.upload {
            None => true,
            Some(u) => {
                d.source_key == *u
                    || d.dataset == *u
                    || d.name == *u
                    || d.file_name == *u
                    || layout::incoming(u) == d.source_key
            }
        })
        .collect();
    // uploads whose ingest never ran (or never finished)
    let ingested: std::collections::BTreeSet<&str> = all_keys(&chosen).into_iter().collect();
    let waiting: Vec<String> = match &a.upload {
        None => store
            .list(layout::INCOMING)
            .await?
            .into_iter()
            .filter(|k| !ingested.contains(k.as_str()))
            .collect(),
        Some(_) => Vec::new(),
    };
    if !a.json {
        for k in &waiting {
            println!(
                "{} (not ingested yet) — next: `polarity pipeline resume`",
                visible(k)
            );
        }
    }
    if chosen.is_empty() && !waiting.is_empty() {
        return Ok(());
    }
    if chosen.is_empty() {
        match &a.upload {
            Some(u) => bail!(
                "no upload matching '{u}' in {} (has ingest run on it yet?)",
                store.url()
            ),
            None => {
                println!("no uploads in {}", store.url());
                return Ok(());
            }
        }
    }
    let versions = polarity_pipeline::registry::statuses(b.registry.as_ref()).await?;
    let mut out = Vec::new();
    for d in &chosen {
        let latest = versions
            .iter()
            .rev()
            .find(|v| v.record.datasets.contains(&d.dataset));
        let decision: Option<Decision> = match latest {
            Some(v) => store
                .get_opt(&layout::decision(&v.record.version))
                .await?
                .and_then(|bytes| serde_json::from_slice(&bytes).ok()),
            None => None,
        };
        out.push(serde_json::json!({
            "dataset": d,
            "version": latest.map(|v| (&v.record.version, v.status)),
            "decision": decision.as_ref().map(|d| serde_json::json!({"verdict": d.verdict, "promoted": d.promoted, "reason": d.reason})),
        }));
        if !a.json {
            println!(
                "{} ({}, uploaded {})",
                visible(&d.source_key),
                d.dataset,
                crate::report::iso(d.uploaded_at)
            );
            println!(
                "  ingest   {} rows in, {} accepted, {} quarantined",
                d.rows_in, d.accepted, d.quarantined
            );
            println!("  dataset  {} — {}", d.status, d.reason);
            match (latest, &decision) {
                (Some(v), Some(dec)) => {
                    println!("  train    version {} ({})", v.record.version, v.status);
                    println!("  validate {} — {}", dec.verdict, dec.reason);
                }
                (Some(v), None) => println!(
                    "  train    version {} ({}), not validated yet — next: `polarity pipeline resume`",
                    v.record.version, v.status
                ),
                (None, _)
                    if d.status == DatasetStatus::Active || d.status == DatasetStatus::Pending =>
                {
                    println!(
                        "  train    no version trained on it yet — next: `polarity pipeline resume`"
                    )
                }
                (None, _) => println!("  train    no version trained on it yet"),
            }
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}
