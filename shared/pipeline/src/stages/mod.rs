//! The four stages as plain async functions over the store and registry ports. Each takes the (decoded)
//! key of the object that triggered it, writes its data first and its manifest last (with
//! `put_if_absent`: the commit marker is written once), and returns a small outcome. A re-delivered event
//! finds the manifest and returns the recorded outcome with `already: true`.
//!
//! [`run_stage`] runs a stage with the store and registry scoped to what that stage's role may do
//! ([`crate::layout::ROUTES`]): the rules IAM enforces in AWS hold in every mode.

use crate::config::PipelineConfig;
use crate::dispatch::TaskLauncher;
use crate::error::PipelineError;
use crate::layout::Stage;
use crate::records::StageOutcome;
use crate::registry::{self, Registry};
use crate::store::{self, ObjectStore};
use crate::tracker::Tracker;

pub mod gate;
pub mod ingest;
pub mod process;
pub mod train;
pub mod validate;

pub use ingest::ingest;
pub use process::process;
pub use train::train;
pub use validate::validate;

/// What a stage needs besides the key that triggered it.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The bucket.
    pub store: &'a dyn ObjectStore,
    /// The model registry (process, train and validate use it).
    pub registry: Option<&'a dyn Registry>,
    /// Settings.
    pub cfg: &'a PipelineConfig,
    /// Where training runs and verdicts are reported.
    pub tracker: &'a dyn Tracker,
    /// Starts the train task for datasets above the in-process limit (`None`: train stays in process; see
    /// [`crate::dispatch`]).
    pub launcher: Option<&'a dyn TaskLauncher>,
}

impl<'a> Ctx<'a> {
    /// The registry, or a configuration error naming the stage that needs it.
    ///
    /// # Errors
    /// [`PipelineError::Config`] when there is none.
    pub fn registry(&self, stage: Stage) -> Result<&'a dyn Registry, PipelineError> {
        self.registry.ok_or_else(|| {
            PipelineError::Config(format!(
                "the {stage} stage needs a registry (--registry / POLARITY_REGISTRY)"
            ))
        })
    }
}

/// Runs `stage` on the object `key`, with the store and registry limited to the stage's permissions.
///
/// # Errors
/// A [`PipelineError`]; retryable ones should make the caller try the event again.
pub async fn run_stage(
    stage: Stage,
    ctx: Ctx<'_>,
    key: &str,
) -> Result<StageOutcome, PipelineError> {
    let access = stage.access();
    let store = store::Scoped::new(ctx.store, access, stage.as_str());
    let scoped_registry = ctx
        .registry
        .map(|r| registry::Scoped::new(r, access, stage.as_str()));
    let ctx = Ctx {
        store: &store,
        registry: scoped_registry.as_ref().map(|r| r as &dyn Registry),
        ..ctx
    };
    match stage {
        Stage::Ingest => ingest(ctx, key).await,
        Stage::Process => process(ctx, key).await,
        Stage::Train => train(ctx, key).await,
        Stage::Validate => validate(ctx, key).await,
    }
}
