//! `polarity registry …`: list versions with their status, show one, the promotion history, and the
//! operator's moves (promote, rollback, freeze, unfreeze). Promote and rollback verify the target's
//! artifact against its recorded SHA-256 (and that it is a valid model) before the pointer moves.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use polarity_core::reader::quoted;
use polarity_pipeline::artifacts::load_verified;
use polarity_pipeline::backend::BackendArgs;
use polarity_pipeline::config::MlflowArgs;
use polarity_pipeline::records::Decision;
use polarity_pipeline::records::clock::now_secs;
use polarity_pipeline::registry::{self, Registry, VersionStatus, rollback_target};
use polarity_pipeline::store::ObjectStore;
use polarity_pipeline::{tables, tracker};

use crate::context::{connect, runtime};

/// `polarity registry`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RegistryCommand,
    /// Backends.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// MLflow (promote and rollback move the registered model's `champion` alias).
    #[command(flatten)]
    pub mlflow: MlflowArgs,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `polarity registry` sub-commands.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Every version with its status (production, retired, rejected, held, candidate).
    List,
    /// One version: its record, verdict, decision and model card.
    Show {
        /// Version name.
        version: String,
    },
    /// The production pointer's history, oldest first.
    History,
    /// Put a version in production (works while frozen; its artifact is verified first). A version
    /// whose decision failed rules needs --force.
    Promote {
        /// Version name.
        version: String,
        /// Why (recorded in the history).
        #[arg(long, default_value = "promoted by an operator")]
        reason: String,
        /// Promote even though the version's decision failed rules (the history records it as forced,
        /// with the rules).
        #[arg(long)]
        force: bool,
    },
    /// Return production to the version before the current one (its artifact is verified first).
    Rollback {
        /// Why (recorded in the history).
        #[arg(long, default_value = "rolled back by an operator")]
        reason: String,
    },
    /// Stop automatic promotions (candidates that would be promoted are held).
    Freeze,
    /// Resume automatic promotions.
    Unfreeze,
}

impl RegistryCommand {
    fn read_only(&self) -> bool {
        matches!(self, Self::List | Self::Show { .. } | Self::History)
    }
}

/// Runs `polarity registry`.
pub fn run(a: &RegistryArgs) -> Result<()> {
    runtime()?.block_on(run_async(a))
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Verifies `version`'s artifact (bytes against the recorded SHA-256, then a full decode) before a move.
async fn verify(reg: &dyn Registry, store: &dyn ObjectStore, version: &str) -> Result<()> {
    let Some(rec) = reg.version(version).await? else {
        bail!("no version {} in {}", quoted(version), reg.url())
    };
    load_verified(store, &rec).await.with_context(|| {
        format!("refusing to put {version} in production: its artifact does not verify")
    })?;
    Ok(())
}

/// `version`'s decision record, if it was judged.
async fn decision(store: &dyn ObjectStore, version: &str) -> Result<Option<Decision>> {
    let key = polarity_pipeline::layout::decision(version);
    store
        .get_opt(&key)
        .await?
        .map(|d| serde_json::from_slice(&d).with_context(|| format!("{key} does not decode")))
        .transpose()
}

async fn run_async(a: &RegistryArgs) -> Result<()> {
    let tracking = tracker::from_mlflow(a.mlflow.config()?.as_ref());
    let b = connect(&a.backend, a.command.read_only()).await?;
    let reg = b.registry.as_ref();
    let store = b.store.as_ref();
    match &a.command {
        RegistryCommand::List => {
            let list = registry::statuses(reg).await?;
            if a.json {
                return print_json(&list);
            }
            if list.is_empty() {
                println!("no versions in {}", reg.url());
                return Ok(());
            }
            let frozen = reg.pointer().await?.frozen;
            print!("{}", tables::versions(&list, frozen));
        }
        RegistryCommand::Show { version } => {
            let Some(rec) = reg.version(version).await? else {
                bail!("no version {} in {}", quoted(version), reg.url())
            };
            let status = registry::statuses(reg)
                .await?
                .into_iter()
                .find(|s| s.record.version == *version);
            let card = store
                .get_opt(&rec.card_key)
                .await?
                .and_then(|c| serde_json::from_slice::<serde_json::Value>(&c).ok());
            let decision = decision(store, version).await?;
            if a.json {
                let v = serde_json::json!({ "version": rec, "status": status.as_ref().map(|s| s.status), "verdict": status.and_then(|s| s.verdict), "decision": decision, "card": card });
                return print_json(&v);
            }
            print!(
                "{}",
                tables::version(&rec, status.map(|s| s.status), decision.as_ref())
            );
        }
        RegistryCommand::History => {
            let h = reg.history().await?;
            if a.json {
                return print_json(&h);
            }
            if h.is_empty() {
                println!("no moves yet in {}", reg.url());
                return Ok(());
            }
            print!("{}", tables::history(&h));
        }
        RegistryCommand::Promote {
            version,
            reason,
            force,
        } => {
            verify(reg, store, version).await?;
            let failed: Vec<String> = decision(store, version)
                .await?
                .map(|d| {
                    d.checks
                        .iter()
                        .filter(|c| !c.passed)
                        .map(|c| c.describe())
                        .collect()
                })
                .unwrap_or_default();
            let e = registry::promote_reviewed(reg, version, reason, &failed, *force).await?;
            tracking.production_moved(&e.to).await;
            if a.json {
                return print_json(&e);
            }
            println!(
                "production: {} (was {})",
                e.to,
                e.from.as_deref().unwrap_or("none")
            );
        }
        RegistryCommand::Rollback { reason } => {
            let state = reg.pointer().await?;
            if let Some(current) = &state.version
                && let Some(target) = rollback_target(&reg.history().await?, current)
            {
                verify(reg, store, &target).await?;
            }
            let e = registry::rollback(reg, reason).await?;
            tracking.production_moved(&e.to).await;
            if a.json {
                return print_json(&e);
            }
            println!(
                "production: {} (rolled back from {})",
                e.to,
                e.from.as_deref().unwrap_or("none")
            );
        }
        RegistryCommand::Freeze | RegistryCommand::Unfreeze => {
            let frozen = matches!(a.command, RegistryCommand::Freeze);
            reg.set_frozen(frozen).await?;
            if a.json {
                return print_json(&serde_json::json!({ "frozen": frozen, "at": now_secs() }));
            }
            if frozen {
                println!("frozen: automatic promotions stopped");
            } else {
                println!("unfrozen: automatic promotions resumed");
                let held: Vec<String> = registry::statuses(reg)
                    .await?
                    .into_iter()
                    .filter(|s| s.status == VersionStatus::Held)
                    .map(|s| s.record.version)
                    .collect();
                if !held.is_empty() {
                    println!(
                        "held while frozen (they stay held; new candidates are judged as usual): {}; promote one with `polarity registry promote VERSION`",
                        held.join(", ")
                    );
                }
            }
        }
    }
    Ok(())
}
