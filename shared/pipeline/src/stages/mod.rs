//! The four stages as plain async functions over the store and registry ports. Each takes the (decoded)
//! key of the object that triggered it, writes its data first and its manifest last (with
//! `put_if_absent`: the commit marker is written once), and returns a small outcome. A re-delivered event
//! finds the manifest and returns the recorded outcome with `already: true`.
//!
//! [`run_stage`] runs a stage with the store and registry scoped to what that stage's role may do
//! ([`crate::layout::ROUTES`]): the rules IAM enforces in AWS hold in every mode.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::PipelineConfig;
use crate::dispatch::{TaskDispatch, TaskLauncher};
use crate::error::{PipelineError, parse_json};
use crate::layout::Stage;
use crate::registry::{self, Registry};
use crate::store::{self, ObjectStore};
use crate::tracker::Tracker;

pub mod gate;
pub mod ingest;
pub mod process;
pub mod train;
pub mod validate;

pub use ingest::{IngestManifest, ingest};
pub use process::{ProcessManifest, process};
pub use train::{TrainManifest, train};
pub use validate::{Decision, validate};

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

polarity_core::named_enum! {
    /// A stable one-word result of a stage run, for logs and metrics (`outcome` label).
    pub enum Outcome {
        /// Done.
        Ok = "ok",
        /// Found already done (a re-delivered event).
        Already = "already",
        /// Ingest accepted no row.
        Quarantined = "quarantined",
        /// The dataset was held by the label-noise gate.
        Held = "held",
        /// Nothing to do.
        Skipped = "skipped",
        /// Validate promoted the candidate.
        Promote = "promote",
        /// Validate rejected the candidate.
        Reject = "reject",
        /// Validate held the candidate.
        Hold = "hold",
        /// Train started an ECS task for datasets above the in-process limit.
        Dispatched = "dispatched",
        /// The stage failed.
        Error = "error",
    }
}

/// What one stage run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "lowercase")]
// one value per stage run, never kept in bulk: boxing the decision would buy nothing
#[allow(clippy::large_enum_variant)]
pub enum StageOutcome {
    /// Ingest.
    Ingest(IngestManifest),
    /// Process.
    Process(ProcessManifest),
    /// Train.
    Train(TrainManifest),
    /// Validate.
    Validate(Decision),
    /// Train started (or, `already`, had started) an ECS task that trains the version (see
    /// [`crate::dispatch`]).
    Dispatched(TaskDispatch),
    /// Nothing to do, with the reason (e.g. fewer than two classes to train on, or the object vanished).
    Skipped {
        /// The stage.
        of: Stage,
        /// Why.
        reason: String,
    },
}

impl StageOutcome {
    /// The one-word result.
    pub fn result(&self) -> Outcome {
        match self {
            Self::Ingest(m) if m.already => Outcome::Already,
            Self::Ingest(m) if m.accepted == 0 => Outcome::Quarantined,
            Self::Process(m) if m.already => Outcome::Already,
            Self::Process(m) if m.gate.as_ref().is_some_and(|g| g.held) => Outcome::Held,
            Self::Train(m) if m.already => Outcome::Already,
            Self::Validate(d) if d.already => Outcome::Already,
            Self::Validate(d) => d.verdict.outcome(),
            Self::Dispatched(d) if d.already => Outcome::Already,
            Self::Dispatched(_) => Outcome::Dispatched,
            Self::Skipped { .. } => Outcome::Skipped,
            _ => Outcome::Ok,
        }
    }

    /// True when the run found its work already done.
    pub fn already(&self) -> bool {
        self.result() == Outcome::Already
    }

    /// The commit marker this outcome stands for: the manifest that triggers the next stage, if any. A run
    /// that finds its work already done re-announces it, so an interrupted chain resumes downstream. A
    /// dispatched run has none: the task writes the model manifest.
    pub fn commit_marker(&self) -> Option<String> {
        match self {
            Self::Ingest(m) if m.accepted > 0 => {
                Some(crate::layout::raw(&m.dataset, crate::layout::MANIFEST))
            }
            Self::Process(m) => Some(crate::layout::processed(
                &m.dataset,
                crate::layout::MANIFEST,
            )),
            Self::Train(m) => Some(crate::layout::model(&m.version, crate::layout::MANIFEST)),
            _ => None,
        }
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

/// Serialises rows as JSON Lines.
pub(crate) fn to_jsonl<T: Serialize>(rows: &[T]) -> Bytes {
    let mut out = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut out, r).expect("the pipeline's rows are plain data");
        out.push(b'\n');
    }
    Bytes::from(out)
}

/// Parses JSON Lines the pipeline wrote.
pub(crate) fn from_jsonl<T: serde::de::DeserializeOwned>(
    key: &str,
    bytes: &[u8],
) -> Result<Vec<T>, PipelineError> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| parse_json(key, l))
        .collect()
}

/// Reads a JSON object the pipeline wrote (a manifest, a record) if present.
///
/// # Errors
/// A store error, or [`PipelineError::Corrupt`] when it is not the expected JSON.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<Option<T>, PipelineError> {
    match store.get_opt(key).await? {
        Some(b) => Ok(Some(parse_json(key, &b)?)),
        None => Ok(None),
    }
}
