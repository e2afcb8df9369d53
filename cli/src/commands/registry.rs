//! `polarity registry …`: list versions with their status, show one, the promotion history, and the
//! operator's moves (promote, rollback, freeze, unfreeze).

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use polarity_pipeline::registry::{self, now_secs};

use super::pipeline::{BackendArgs, runtime};

/// `polarity registry`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RegistryCommand,
    /// Backends.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `polarity registry` sub-commands.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Every version with its status (production, retired, rejected, held, candidate).
    List,
    /// One version's record, verdict and model card.
    Show {
        /// Version name.
        version: String,
    },
    /// The production pointer's history, oldest first.
    History,
    /// Put a version in production (works while frozen).
    Promote {
        /// Version name.
        version: String,
        /// Why (recorded in the history).
        #[arg(long, default_value = "promoted by an operator")]
        reason: String,
    },
    /// Return production to the version before the current one.
    Rollback {
        /// Why (recorded in the history).
        #[arg(long, default_value = "rolled back by an operator")]
        reason: String,
    },
    /// Stop automatic promotions.
    Freeze,
    /// Resume automatic promotions.
    Unfreeze,
}

/// Runs `polarity registry`.
pub fn run(a: &RegistryArgs) -> Result<()> {
    runtime()?.block_on(run_async(a))
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn run_async(a: &RegistryArgs) -> Result<()> {
    let b = a.backend.connect().await?;
    let reg = b.registry.as_ref();
    match &a.command {
        RegistryCommand::List => {
            let list = registry::statuses(reg).await?;
            if a.json {
                return print_json(&list);
            }
            if list.is_empty() {
                println!("no versions in {}", reg.url());
            }
            for s in list {
                println!(
                    "{:<14} {:<10} macro-F1 {:.4}  acc {:.4}  n_test {:<6} datasets {}",
                    s.record.version,
                    s.status,
                    s.record.scores.macro_f1,
                    s.record.scores.accuracy,
                    s.record.scores.n,
                    s.record.datasets.join(",")
                );
            }
            let p = reg.pointer().await?;
            if p.frozen {
                println!("(frozen: automatic promotions are stopped)");
            }
        }
        RegistryCommand::Show { version } => {
            let Some(rec) = reg.version(version).await? else {
                bail!("no version {version} in {}", reg.url())
            };
            let status = registry::statuses(reg)
                .await?
                .into_iter()
                .find(|s| s.record.version == *version);
            let card = b
                .store
                .get_opt(&rec.card_key)
                .await?
                .and_then(|c| serde_json::from_slice::<serde_json::Value>(&c).ok());
            let v = serde_json::json!({ "version": rec, "status": status.as_ref().map(|s| s.status), "verdict": status.and_then(|s| s.verdict), "card": card });
            print_json(&v)?;
        }
        RegistryCommand::History => {
            let h = reg.history().await?;
            if a.json {
                return print_json(&h);
            }
            for e in h {
                println!(
                    "#{:<3} {:<14} → {:<14} {:<15} at {} — {}",
                    e.seq,
                    e.from.as_deref().unwrap_or("(none)"),
                    e.to,
                    e.kind.as_str(),
                    e.at,
                    e.reason
                );
            }
        }
        RegistryCommand::Promote { version, reason } => {
            let e = registry::promote_manual(reg, version, reason).await?;
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
            let e = registry::rollback(reg, reason).await?;
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
            println!(
                "{}",
                if frozen {
                    "frozen: automatic promotions stopped"
                } else {
                    "unfrozen: automatic promotions resumed"
                }
            );
        }
    }
    Ok(())
}
