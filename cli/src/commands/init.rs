//! `polarity init --store URL --registry URL`: creates the bucket and the registry table when missing
//! (for local S3/DynamoDB servers; Terraform owns them in AWS).

use anyhow::{Context, Result};
use clap::Args;
use polarity_pipeline::backend::BackendArgs;

use crate::context::{connect, runtime};

/// `polarity init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Backends.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Runs `polarity init`.
pub fn run(a: &InitArgs) -> Result<()> {
    runtime()?.block_on(async {
        let b = connect(&a.backend, false).await?;
        let created = b
            .store
            .ensure()
            .await
            .with_context(|| format!("cannot create {}", b.store.url()))?;
        println!(
            "store {}: {}",
            b.store.url(),
            if created { "created" } else { "exists" }
        );
        let created = b
            .registry
            .ensure()
            .await
            .with_context(|| format!("cannot create {}", b.registry.url()))?;
        println!(
            "registry {}: {}",
            b.registry.url(),
            if created { "created" } else { "exists" }
        );
        Ok(())
    })
}
