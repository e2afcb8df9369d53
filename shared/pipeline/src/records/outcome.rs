//! What one stage run did, as the handlers log and return it.

use serde::{Deserialize, Serialize};

use super::decision::Decision;
use super::manifests::{IngestManifest, ProcessManifest, TaskDispatch, TrainManifest};
use super::words::Outcome;
use crate::layout::Stage;

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
