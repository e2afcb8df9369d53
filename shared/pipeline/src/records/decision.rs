//! The decision record validate writes for every candidate (`decisions/<version>.json`) and what it
//! embeds: the scores, the promotion rules' thresholds and results, the baselines.

use std::collections::BTreeMap;

use polarity_core::metrics::{Calibration, Metrics};
use serde::{Deserialize, Serialize};

use super::words::Verdict;

/// Headline scores on the evaluation rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// Unweighted mean F1 (primary metric).
    pub macro_f1: f64,
    /// Fraction correct.
    pub accuracy: f64,
    /// Recall per class.
    pub recall: BTreeMap<String, f64>,
}

impl From<&Metrics> for Scored {
    fn from(m: &Metrics) -> Self {
        Self {
            macro_f1: m.macro_f1,
            accuracy: m.accuracy,
            recall: m
                .per_class
                .iter()
                .map(|(k, v)| (k.clone(), v.recall))
                .collect(),
        }
    }
}

/// The decision record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The candidate.
    pub version: String,
    /// Production when judged (`None`: no production model).
    pub production: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in one sentence.
    pub reason: String,
    /// True when this candidate is now in production.
    pub promoted: bool,
    /// Candidate scores.
    pub candidate_scores: Scored,
    /// Production scores on the same rows.
    pub production_scores: Option<Scored>,
    /// The candidate's full metrics on the rows (per class, confusion matrix).
    #[serde(default)]
    pub candidate_metrics: Option<Metrics>,
    /// Production's full metrics on the same rows.
    #[serde(default)]
    pub production_metrics: Option<Metrics>,
    /// The candidate's reliability on the rows (top-class probability against accuracy).
    #[serde(default)]
    pub calibration: Option<Calibration>,
    /// Production's reliability on the same rows.
    #[serde(default)]
    pub production_calibration: Option<Calibration>,
    /// The trivial baselines on the rows.
    #[serde(default)]
    pub baselines: Option<Baselines>,
    /// Paired outcomes against production.
    pub paired: Option<Paired>,
    /// One-sided McNemar p-value against production.
    pub p_value: Option<f64>,
    /// The thresholds applied.
    pub policy: PromotionPolicy,
    /// Every rule with its numbers.
    pub checks: Vec<Check>,
    /// Whether the candidate's fit converged (a warning, not a rule).
    #[serde(default = "yes")]
    pub converged: bool,
    /// Rows both models were scored on.
    pub eval_rows: u64,
    /// Datasets whose test splits were used.
    pub eval_datasets: Vec<String>,
    /// Where the held-out rows come from: each dataset's share and the held-out labels of older datasets
    /// it changed (newest upload wins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_out: Vec<HeldOutSource>,
    /// When, seconds since the Unix epoch.
    pub at: u64,
    /// True when this run found the decision already made.
    #[serde(default)]
    pub already: bool,
    /// Set when this run found the decision already made against a production that has since been
    /// replaced: what serves now and the command that would serve this version instead. Not stored.
    #[serde(skip)]
    pub since: Option<String>,
}

/// One dataset's part in the held-out rows of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldOutSource {
    /// The dataset.
    pub dataset: String,
    /// Its name (upload folder or file name).
    pub name: String,
    /// Its held-out rows.
    pub rows: u64,
    /// Held-out rows of older datasets whose label it changed when it became active.
    pub relabelled: u64,
}

fn yes() -> bool {
    true
}

/// Bins of the reliability diagrams in decision records.
pub(crate) const CALIBRATION_BINS: usize = 10;

/// Thresholds of the promotion rules (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PromotionPolicy {
    /// Macro-F1 the candidate must gain over production and over the baselines
    /// (`POLARITY_PROMOTE_MARGIN`).
    pub margin: f64,
    /// Optional absolute macro-F1 every promoted model must reach (`POLARITY_PROMOTE_FLOOR`).
    pub floor: Option<f64>,
    /// Largest allowed drop of any class's recall (`POLARITY_MAX_RECALL_DROP`).
    pub max_recall_drop: f64,
    /// Significance level of the paired tests (`POLARITY_PROMOTE_ALPHA`).
    pub alpha: f64,
}

impl Default for PromotionPolicy {
    fn default() -> Self {
        Self {
            margin: 0.005,
            floor: None,
            max_recall_drop: 0.05,
            alpha: 0.05,
        }
    }
}

/// Paired outcomes on the same rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paired {
    /// Rows only the candidate classifies correctly (`b`).
    pub candidate_only: u64,
    /// Rows only the other model classifies correctly (`c`).
    pub production_only: u64,
}

/// One rule's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Rule name: `label_set`, `baseline`, `baseline_mcnemar`, `floor`, `margin`, `recall:<class>`,
    /// `mcnemar`.
    pub rule: String,
    /// Whether it passed.
    pub passed: bool,
    /// The numbers behind it.
    pub detail: String,
    /// The setting that controls it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
}

/// The trivial baselines on the evaluation rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    /// The candidate's most frequent training class.
    pub majority_class: String,
    /// Macro-F1 of always predicting it.
    pub majority_macro_f1: f64,
    /// Accuracy of always predicting it.
    pub majority_accuracy: f64,
    /// Expected macro-F1 of guessing classes at the training prior.
    pub stratified_macro_f1: f64,
    /// Rows only the candidate / only the majority baseline gets right.
    pub paired: Paired,
}
