//! The model registry port. Versions are immutable records; the production pointer moves only through
//! [`Registry::transition`], which is conditional on the pointer still being what the caller read
//! (`expected` version and sequence number), so of two validators racing from the same state exactly one
//! wins. Every move is appended to the history in the same atomic step. A freeze flag stops automatic
//! promotions (operators can still promote by hand and roll back).
//!
//! Adapters: [`FileRegistry`] (one JSON file, embedded mode and tests) and [`DynamoRegistry`] (one
//! DynamoDB table), with the same semantics. The rules built on top (rollback target, statuses) are here,
//! once.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[cfg(any(test, feature = "test-util"))]
pub mod conformance;
mod dynamo;
mod file;
mod scoped;

pub use dynamo::{DynamoRegistry, dynamo_actions};
pub use file::FileRegistry;
pub use scoped::Scoped;

use crate::records::Verdict;

polarity_core::named_enum! {
    /// A registry operation (one method of [`Registry`]).
    pub enum RegistryOp {
        /// [`Registry::ensure`].
        Ensure = "ensure",
        /// [`Registry::register`].
        Register = "register",
        /// [`Registry::version`].
        Version = "version",
        /// [`Registry::versions`].
        Versions = "versions",
        /// [`Registry::pointer`].
        Pointer = "pointer",
        /// [`Registry::transition`].
        Transition = "transition",
        /// [`Registry::history`].
        History = "history",
        /// [`Registry::set_frozen`].
        SetFrozen = "set_frozen",
        /// [`Registry::record_verdict`].
        RecordVerdict = "record_verdict",
        /// [`Registry::verdicts`].
        Verdicts = "verdicts",
    }
}

/// Why a registry call failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The production pointer is no longer what the caller expected (someone else moved it first).
    #[error(
        "production pointer changed concurrently (expected {expected:?} at seq {seq}); re-read and retry"
    )]
    Conflict {
        /// The version the caller expected in production.
        expected: Option<String>,
        /// The sequence number the caller expected.
        seq: u64,
    },
    /// Automatic promotions are frozen.
    #[error(
        "the registry is frozen: automatic promotions are stopped (run `polarity registry unfreeze`)"
    )]
    Frozen,
    /// No such version.
    #[error("no model version {}", polarity_core::reader::quoted(.0))]
    UnknownVersion(String),
    /// A version with this name exists with different content.
    #[error("version {0} is already registered with a different artifact")]
    VersionMismatch(String),
    /// Nothing to roll back to.
    #[error("nothing to roll back to: {0}")]
    NoRollbackTarget(String),
    /// The move would put in production the version that is already there.
    #[error("{} is already in production; nothing to do", polarity_core::reader::quoted(.0))]
    NoOp(String),
    /// An operator promotion of a version whose decision failed rules, without `--force`.
    #[error(
        "refusing to put {version} in production: its decision failed {}: {}; `polarity registry promote {version} --force` does it anyway and the history records it as forced",
        if failed.len() == 1 { "1 rule".to_string() } else { format!("{} rules", failed.len()) },
        failed.join("; ")
    )]
    FailedRules {
        /// The version.
        version: String,
        /// The failed rules, described.
        failed: Vec<String>,
    },
    /// The pointer kept moving while a decision was made, more times than the caller retries.
    #[error("the production pointer moved {attempts} times while deciding; giving up for now")]
    RetriesExhausted {
        /// Attempts made.
        attempts: usize,
    },
    /// The caller's scope does not allow the operation (the rule IAM applies in AWS).
    #[error("registry {op}: {action} is not allowed for {principal} (see terraform/access.json)")]
    Denied {
        /// The operation.
        op: RegistryOp,
        /// The DynamoDB action it needs.
        action: &'static str,
        /// Who asked.
        principal: &'static str,
    },
    /// Throttling, a 5xx, a timeout or a dropped connection: try again.
    #[error("transient registry error: {0}")]
    Transient(String),
    /// A stored item or record the registry wrote itself does not decode (a missing or mistyped field):
    /// a bug or manual tampering, never retried, never read as a default.
    #[error("registry item {item}: {problem}")]
    Corrupt {
        /// The item (kind and key).
        item: String,
        /// The field and what is wrong with it.
        problem: String,
    },
    /// Any other failure.
    #[error("registry error: {0}")]
    Other(String),
}

impl RegistryError {
    /// True when trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Transient(_) | Self::Conflict { .. } | Self::RetriesExhausted { .. }
        )
    }
}

/// Headline scores of a version on its own held-out rows (at training time).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Held-out rows.
    pub n: u64,
    /// Fraction correct.
    pub accuracy: f64,
    /// Unweighted mean F1 (the primary metric).
    pub macro_f1: f64,
}

/// One immutable model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Version name (derived from the training inputs).
    pub version: String,
    /// Object key of the artifact in the store.
    pub artifact_key: String,
    /// SHA-256 (hex) of the artifact bytes.
    pub sha256: String,
    /// Object key of the model card.
    pub card_key: String,
    /// Class names in index order.
    pub labels: Vec<String>,
    /// Scores on the held-out rows at training time.
    pub scores: Scores,
    /// Datasets trained on.
    pub datasets: Vec<String>,
    /// SHA-256 over the cleaned training rows.
    pub data_digest: String,
    /// Production version when this one was trained.
    pub parent: Option<String>,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// Git commit of the code that trained it (`POLARITY_GIT_SHA`), when known.
    pub git_sha: Option<String>,
}

/// Where the production pointer is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointerState {
    /// Production version, if any.
    pub version: Option<String>,
    /// Number of moves so far (the history length); part of every transition's condition.
    pub seq: u64,
    /// Automatic promotions stopped.
    pub frozen: bool,
}

polarity_core::named_enum! {
    /// Why the pointer moved.
    pub enum TransitionKind {
        /// The validate stage promoted a candidate (refused while frozen).
        Promote = "promote",
        /// An operator promoted a version.
        ManualPromote = "manual_promote",
        /// An operator promoted a version past rules its decision failed (`--force`).
        ForcedPromote = "forced_promote",
        /// An operator rolled back.
        Rollback = "rollback",
    }
}

impl TransitionKind {
    /// True when a freeze stops this kind of move.
    pub fn respects_freeze(&self) -> bool {
        matches!(self, Self::Promote)
    }
}

/// One entry of the append-only history: the pointer moved `from` → `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// 1-based position; equals the pointer's `seq` after the move.
    pub seq: u64,
    /// Previous production version.
    pub from: Option<String>,
    /// New production version.
    pub to: String,
    /// Why.
    pub kind: TransitionKind,
    /// Human-readable reason.
    pub reason: String,
    /// When, seconds since the Unix epoch.
    pub at: u64,
}

/// A requested move of the production pointer, conditional on `expected`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The pointer state the caller read (version and seq must still match).
    pub expected: PointerState,
    /// The version to put in production.
    pub to: String,
    /// Why.
    pub kind: TransitionKind,
    /// Human-readable reason.
    pub reason: String,
}

impl Transition {
    /// The history entry this move appends.
    pub fn entry(&self, at: u64) -> HistoryEntry {
        HistoryEntry {
            seq: self.expected.seq + 1,
            from: self.expected.version.clone(),
            to: self.to.clone(),
            kind: self.kind,
            reason: self.reason.clone(),
            at,
        }
    }
}

/// The validation verdict recorded on a version (written once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictRecord {
    /// The verdict.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
    /// When, seconds since the Unix epoch.
    pub at: u64,
}

/// A model registry.
#[async_trait]
pub trait Registry: Send + Sync {
    /// Where the registry points (`file:///…` or `dynamodb://table`), for messages.
    fn url(&self) -> String;

    /// Creates the backing file or table when missing. Returns `true` when it was created.
    ///
    /// # Errors
    /// A [`RegistryError`] when creation failed.
    async fn ensure(&self) -> Result<bool, RegistryError>;

    /// Registers a version once. Returns `false` when the same record was already there.
    ///
    /// # Errors
    /// [`RegistryError::VersionMismatch`] when the name is taken by a different artifact.
    async fn register(&self, rec: &VersionRecord) -> Result<bool, RegistryError>;

    /// One version.
    ///
    /// # Errors
    /// A [`RegistryError`] when the read failed.
    async fn version(&self, version: &str) -> Result<Option<VersionRecord>, RegistryError>;

    /// Every version, oldest first.
    ///
    /// # Errors
    /// A [`RegistryError`] when the read failed.
    async fn versions(&self) -> Result<Vec<VersionRecord>, RegistryError>;

    /// The production pointer.
    ///
    /// # Errors
    /// A [`RegistryError`] when the read failed.
    async fn pointer(&self) -> Result<PointerState, RegistryError>;

    /// Moves the pointer and appends the history entry atomically, only if the pointer still equals
    /// `t.expected` (version and seq) and, for automatic promotions, is not frozen.
    ///
    /// # Errors
    /// [`RegistryError::Conflict`], [`RegistryError::Frozen`], [`RegistryError::UnknownVersion`].
    async fn transition(&self, t: &Transition) -> Result<HistoryEntry, RegistryError>;

    /// The history, oldest first.
    ///
    /// # Errors
    /// A [`RegistryError`] when the read failed.
    async fn history(&self) -> Result<Vec<HistoryEntry>, RegistryError>;

    /// Sets or clears the freeze flag.
    ///
    /// # Errors
    /// A [`RegistryError`] when the write failed.
    async fn set_frozen(&self, frozen: bool) -> Result<(), RegistryError>;

    /// Records the validation verdict of a version once. Returns `false` when one was already recorded.
    ///
    /// # Errors
    /// A [`RegistryError`] when the write failed.
    async fn record_verdict(&self, version: &str, v: &VerdictRecord)
    -> Result<bool, RegistryError>;

    /// The recorded verdicts by version.
    ///
    /// # Errors
    /// A [`RegistryError`] when the read failed.
    async fn verdicts(
        &self,
    ) -> Result<std::collections::BTreeMap<String, VerdictRecord>, RegistryError>;

    /// The production version's record: what the inference server loads (`artifact_key`, `sha256`).
    ///
    /// # Errors
    /// A [`RegistryError`] when the read failed.
    async fn production(&self) -> Result<Option<VersionRecord>, RegistryError> {
        match self.pointer().await?.version {
            Some(v) => self.version(&v).await,
            None => Ok(None),
        }
    }
}

/// The version a rollback returns to: the `from` of the latest promotion (automatic or manual) that put
/// the current production version in place. Rollbacks themselves are skipped, so repeated rollbacks walk
/// back through the promotion chain instead of bouncing between two versions.
pub fn rollback_target(history: &[HistoryEntry], current: &str) -> Option<String> {
    history
        .iter()
        .rev()
        .filter(|h| h.from.as_deref() != Some(h.to.as_str())) // self-moves (refused now) change nothing
        .find(|h| h.to == current && h.kind != TransitionKind::Rollback)
        .and_then(|h| h.from.clone())
}

/// Rolls production back to the previous version (see [`rollback_target`]).
///
/// # Errors
/// [`RegistryError::NoRollbackTarget`] when there is no production or no earlier version; `Conflict` when
/// the pointer moved meanwhile.
pub async fn rollback<R: Registry + ?Sized>(
    reg: &R,
    reason: &str,
) -> Result<HistoryEntry, RegistryError> {
    let state = reg.pointer().await?;
    let current = state
        .version
        .clone()
        .ok_or_else(|| RegistryError::NoRollbackTarget("no production model".into()))?;
    let history = reg.history().await?;
    let to = rollback_target(&history, &current).ok_or_else(|| {
        RegistryError::NoRollbackTarget(format!("{current} was the first production model"))
    })?;
    reg.transition(&Transition {
        expected: state,
        to,
        kind: TransitionKind::Rollback,
        reason: reason.to_string(),
    })
    .await
}

/// Puts `version` in production by hand (ignores the freeze). Callers verify the artifact first
/// ([`crate::artifacts::load_verified`]).
///
/// # Errors
/// [`RegistryError::NoOp`] when it is already in production; [`RegistryError::UnknownVersion`];
/// `Conflict` when the pointer moved meanwhile.
pub async fn promote_manual<R: Registry + ?Sized>(
    reg: &R,
    version: &str,
    reason: &str,
) -> Result<HistoryEntry, RegistryError> {
    move_by_hand(
        reg,
        version,
        TransitionKind::ManualPromote,
        reason.to_string(),
    )
    .await
}

/// Puts `version` in production by hand after a person has seen its decision: as [`promote_manual`]
/// when the decision failed no rule (`failed`, the failed rules described; empty also when it was never
/// judged); otherwise only with `force`, recorded as [`TransitionKind::ForcedPromote`] with the failed
/// rules in the history entry's reason.
///
/// # Errors
/// [`RegistryError::FailedRules`] when rules failed and `force` is not given; as [`promote_manual`].
pub async fn promote_reviewed<R: Registry + ?Sized>(
    reg: &R,
    version: &str,
    reason: &str,
    failed: &[String],
    force: bool,
) -> Result<HistoryEntry, RegistryError> {
    if failed.is_empty() {
        return promote_manual(reg, version, reason).await;
    }
    if !force {
        return Err(RegistryError::FailedRules {
            version: version.to_string(),
            failed: failed.to_vec(),
        });
    }
    let reason = format!("{reason} (forced past failed rules: {})", failed.join("; "));
    move_by_hand(reg, version, TransitionKind::ForcedPromote, reason).await
}

async fn move_by_hand<R: Registry + ?Sized>(
    reg: &R,
    version: &str,
    kind: TransitionKind,
    reason: String,
) -> Result<HistoryEntry, RegistryError> {
    let state = reg.pointer().await?;
    if state.version.as_deref() == Some(version) {
        return Err(RegistryError::NoOp(version.to_string()));
    }
    let t = Transition {
        expected: state,
        to: version.to_string(),
        kind,
        reason,
    };
    reg.transition(&t).await
}

polarity_core::named_enum! {
    /// Where a version stands.
    pub enum VersionStatus {
        /// The production pointer names it.
        Production = "production",
        /// It was in production before.
        Retired = "retired",
        /// Validation rejected it.
        Rejected = "rejected",
        /// Validation would promote it, or it needs a person's decision (see its verdict's reason).
        Held = "held",
        /// Not judged yet.
        Candidate = "candidate",
    }
}

/// A version with its status, as `polarity registry list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct VersionView {
    /// The record.
    #[serde(flatten)]
    pub record: VersionRecord,
    /// Where it stands.
    pub status: VersionStatus,
    /// The recorded verdict, if any.
    pub verdict: Option<VerdictRecord>,
    /// The oldest other version whose artifact has the same SHA-256 (the same model under two names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_artifact_as: Option<String>,
}

/// Where `version` stands, given the pointer, the history and its recorded verdict.
pub fn status_of(
    state: &PointerState,
    history: &[HistoryEntry],
    version: &str,
    verdict: Option<Verdict>,
) -> VersionStatus {
    if state.version.as_deref() == Some(version) {
        VersionStatus::Production
    } else if history.iter().any(|h| h.to == version) {
        VersionStatus::Retired
    } else {
        match verdict {
            Some(Verdict::Reject) => VersionStatus::Rejected,
            Some(Verdict::Hold) => VersionStatus::Held,
            _ => VersionStatus::Candidate,
        }
    }
}

/// Every version with its status, oldest first.
///
/// # Errors
/// A [`RegistryError`] when a read failed.
pub async fn statuses<R: Registry + ?Sized>(reg: &R) -> Result<Vec<VersionView>, RegistryError> {
    let state = reg.pointer().await?;
    let history = reg.history().await?;
    let mut verdicts = reg.verdicts().await?;
    let mut out = Vec::new();
    for record in reg.versions().await? {
        let verdict = verdicts.remove(&record.version);
        let status = status_of(
            &state,
            &history,
            &record.version,
            verdict.as_ref().map(|v| v.verdict),
        );
        out.push(VersionView {
            record,
            status,
            verdict,
            same_artifact_as: None,
        });
    }
    mark_same_artifacts(&mut out);
    Ok(out)
}

/// Sets each view's [`VersionView::same_artifact_as`]: the first listed version with the same SHA-256.
fn mark_same_artifacts(views: &mut [VersionView]) {
    let mut first: std::collections::BTreeMap<String, String> = Default::default();
    for v in views.iter_mut() {
        match first.get(&v.record.sha256) {
            Some(f) => v.same_artifact_as = Some(f.clone()),
            None => {
                first.insert(v.record.sha256.clone(), v.record.version.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_with_the_same_artifact_name_the_first() {
        let view = |v: &str, sha: &str| VersionView {
            record: VersionRecord {
                sha256: sha.into(),
                ..conformance::record(v)
            },
            status: VersionStatus::Candidate,
            verdict: None,
            same_artifact_as: None,
        };
        let mut views = vec![
            view("a", "1"),
            view("b", "2"),
            view("c", "1"),
            view("d", "1"),
        ];
        mark_same_artifacts(&mut views);
        let marks: Vec<Option<&str>> = views
            .iter()
            .map(|v| v.same_artifact_as.as_deref())
            .collect();
        assert_eq!(marks, [None, None, Some("a"), Some("a")]);
    }

    fn entry(seq: u64, from: Option<&str>, to: &str, kind: TransitionKind) -> HistoryEntry {
        HistoryEntry {
            seq,
            from: from.map(String::from),
            to: to.into(),
            kind,
            reason: String::new(),
            at: 0,
        }
    }

    #[test]
    fn rollback_walks_back_through_promotions() {
        let mut h = vec![
            entry(1, None, "a", TransitionKind::Promote),
            entry(2, Some("a"), "b", TransitionKind::Promote),
            entry(3, Some("b"), "c", TransitionKind::Promote),
        ];
        assert_eq!(rollback_target(&h, "c").as_deref(), Some("b"));
        h.push(entry(4, Some("c"), "b", TransitionKind::Rollback));
        assert_eq!(rollback_target(&h, "b").as_deref(), Some("a"));
        h.push(entry(5, Some("b"), "a", TransitionKind::Rollback));
        assert_eq!(rollback_target(&h, "a"), None);
    }

    #[test]
    fn a_recorded_self_move_does_not_trap_rollback() {
        // registries written before self-moves were refused may hold one
        let h = vec![
            entry(1, None, "a", TransitionKind::Promote),
            entry(2, Some("a"), "b", TransitionKind::Promote),
            entry(3, Some("b"), "b", TransitionKind::ManualPromote),
        ];
        assert_eq!(rollback_target(&h, "b").as_deref(), Some("a"));
    }
}
