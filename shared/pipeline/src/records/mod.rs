//! The records and words every layer of the pipeline shares: what a stage writes (manifests, the model
//! card, the decision record, the task marker), what a run reports ([`outcome::StageOutcome`], [`words`]),
//! one clock and the JSON encoding of what the pipeline stores. This floor imports nothing else of the
//! crate except the bucket [`layout`](crate::layout), so stages, policy, registry, tracker and report can
//! all use it.

pub mod card;
pub mod clock;
pub mod decision;
pub mod json;
pub mod manifests;
pub mod outcome;
pub mod words;

pub use card::{CardDataset, ModelCard};
pub use decision::{Baselines, Check, Decision, HeldOutSource, Paired, PromotionPolicy, Scored};
pub use manifests::{
    ClassCounts, GateResult, GateSettings, IngestManifest, LabelChange, ProcessManifest,
    QuarantinedRow, RawRow, TaskDispatch, TrainManifest,
};
pub use outcome::StageOutcome;
pub use words::{Outcome, Verdict};
