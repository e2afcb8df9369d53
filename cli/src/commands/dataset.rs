//! `polarity dataset …`: every upload is a dataset; list them with their status (active, held by the
//! label-noise gate, excluded, quarantined, pending), show one, and exclude or include one. Excluding or
//! including writes `datasets/<id>.json`, which triggers train: embedded and with `--store/--registry`
//! the chain runs here at once; in AWS the bucket notification starts the train function (pass
//! `--no-run` so only the Lambdas do the work).

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use polarity_core::reader::visible;
use polarity_pipeline::backend::BackendArgs;
use polarity_pipeline::config::SettingsArgs;
use polarity_pipeline::datasets::{self, Action, DatasetView};
use polarity_pipeline::embedded::Dispatcher;
use polarity_pipeline::tracker;

use crate::context::{connect, describe, runtime};
use crate::report::iso;

/// `polarity dataset`.
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DatasetCommand,
    /// Backends.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `polarity dataset` sub-commands.
#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Every dataset, oldest upload first.
    List,
    /// One dataset (by id, name or file name), with the gate's numbers.
    Show {
        /// Dataset id, name or file name.
        dataset: String,
    },
    /// Leave a dataset out of training and of the held-out rows; trains and validates a new candidate.
    Exclude(DecideArgs),
    /// Use a dataset again (also one held by the label-noise gate); trains and validates a new candidate.
    Include(DecideArgs),
}

/// Arguments of exclude/include.
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// Dataset id, name or file name.
    pub dataset: String,
    /// Why (recorded with the decision).
    #[arg(long, default_value = "by an operator")]
    pub reason: String,
    /// Only record the decision (in AWS the bucket notification then starts training).
    #[arg(long)]
    pub no_run: bool,
    /// Pipeline settings for the run.
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Runs `polarity dataset`.
pub fn run(a: &DatasetArgs) -> Result<()> {
    runtime()?.block_on(run_async(a))
}

fn find<'a>(all: &'a [DatasetView], q: &str) -> Result<&'a DatasetView> {
    let hits: Vec<&DatasetView> = all
        .iter()
        .filter(|d| d.dataset == q || d.name == q || d.file_name == q || d.source_key == q)
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => bail!("no dataset '{q}' (see `polarity dataset list`)"),
        many => bail!(
            "'{q}' names {} datasets ({}); give the id",
            many.len(),
            many.iter()
                .map(|d| d.dataset.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

async fn run_async(a: &DatasetArgs) -> Result<()> {
    let read_only = matches!(
        a.command,
        DatasetCommand::List | DatasetCommand::Show { .. }
    );
    let b = connect(&a.backend, read_only).await?;
    let all = datasets::list(b.store.as_ref()).await?;
    match &a.command {
        DatasetCommand::List => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(());
            }
            if all.is_empty() {
                println!("no datasets in {}", b.store.url());
                return Ok(());
            }
            print!("{}", polarity_pipeline::tables::datasets(&all));
        }
        DatasetCommand::Show { dataset } => {
            let d = find(&all, dataset)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(d)?);
                return Ok(());
            }
            println!("dataset   {} ({})", d.dataset, visible(&d.name));
            println!(
                "upload    {} ({}), uploaded {}",
                visible(&d.source_key),
                visible(&d.file_name),
                iso(d.uploaded_at)
            );
            println!(
                "rows      {} in, {} accepted, {} quarantined{}",
                d.rows_in,
                d.accepted,
                d.quarantined,
                if d.reasons.is_empty() {
                    String::new()
                } else {
                    format!(" {:?}", d.reasons)
                }
            );
            if !d.classes.is_empty() {
                println!("classes   {:?}", d.classes);
            }
            if let (Some(tr), Some(te)) = (d.train_rows, d.test_rows) {
                println!("split     {tr} train / {te} held out");
            }
            println!("status    {} — {}", d.status, d.reason);
            if let Some(g) = &d.gate {
                println!(
                    "gate      {} known rows, {} relabelled ({} held out)",
                    g.known, g.changed, g.changed_held_out
                );
                if !g.production.is_empty() {
                    println!(
                        "          production {}: {} of {} fresh rows agree ({:.4}) vs its accuracy {:.4}; p = {}",
                        g.production,
                        g.agreeing,
                        g.rows,
                        g.agreement,
                        g.expected,
                        polarity_pipeline::policy::show_p(g.p_value)
                    );
                }
                for (class, n) in &g.new_classes {
                    println!("          new class {class:?}: {n} rows");
                }
            }
            if let Some(c) = &d.control {
                println!("decision  {} at {} — {}", c.action, iso(c.at), c.reason);
            }
        }
        DatasetCommand::Exclude(d) | DatasetCommand::Include(d) => {
            let action = if matches!(a.command, DatasetCommand::Exclude(_)) {
                Action::Exclude
            } else {
                Action::Include
            };
            let target = find(&all, &d.dataset)?;
            let cfg = d.settings.to_config()?;
            let key = datasets::decide(b.store.as_ref(), &target.dataset, action, &d.reason)
                .await
                .with_context(|| format!("cannot record the decision on {}", target.dataset))?;
            if !a.json {
                println!(
                    "{} {} ({}): recorded as {key}",
                    action,
                    target.dataset,
                    visible(&target.name)
                );
            }
            if d.no_run {
                return Ok(());
            }
            let tracker = tracker::from_config(&cfg);
            let dispatcher = Dispatcher::new(
                b.store.as_ref(),
                b.registry.as_ref(),
                &cfg,
                tracker,
                b.bucket.clone(),
            );
            let json = a.json;
            dispatcher
                .run_key(&key, |step| {
                    if json {
                        println!("{}", serde_json::json!({ "stage": step.stage, "key": step.key, "outcome": step.outcome }));
                    } else {
                        println!("{}", describe(step));
                    }
                })
                .await?;
        }
    }
    Ok(())
}
