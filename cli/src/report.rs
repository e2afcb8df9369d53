//! The JSON shapes `train --json` and `eval --json` print, and their human-readable summaries.

use std::collections::BTreeMap;

use polarity_core::metrics::{ClassMetrics, Metrics};
use polarity_core::reader::ReadReport;
use serde::Serialize;

pub use polarity_pipeline::report::iso;

/// Wall-clock seconds per phase.
#[derive(Debug, Default, Serialize)]
pub struct Timings {
    /// Reading and cleaning input files.
    pub read_s: f64,
    /// TF-IDF fit and transform.
    pub vectorize_s: f64,
    /// Logistic-regression fit.
    pub fit_s: f64,
    /// Scoring held-out rows.
    pub eval_s: f64,
    /// Whole command.
    pub total_s: f64,
}

/// Metric fields shared by `train` and `eval` (all `null` when there were no held-out rows).
#[derive(Debug, Serialize)]
pub struct MetricFields {
    /// Fraction correct.
    pub accuracy: Option<f64>,
    /// Unweighted mean F1.
    pub macro_f1: Option<f64>,
    /// Support-weighted mean F1.
    pub weighted_f1: Option<f64>,
    /// Mean negative log-likelihood.
    pub log_loss: Option<f64>,
    /// Per-class precision/recall/F1/support.
    pub per_class: Option<BTreeMap<String, ClassMetrics>>,
    /// Confusion matrix, rows = truth, columns = prediction, in `confusion_labels` order.
    pub confusion: Option<Vec<Vec<u64>>>,
    /// The class names of the confusion matrix's rows and columns (the model's class order).
    pub confusion_labels: Option<Vec<String>>,
}

impl From<Option<&Metrics>> for MetricFields {
    fn from(m: Option<&Metrics>) -> Self {
        Self {
            accuracy: m.map(|m| m.accuracy),
            macro_f1: m.map(|m| m.macro_f1),
            weighted_f1: m.map(|m| m.weighted_f1),
            log_loss: m.map(|m| m.log_loss),
            per_class: m.map(|m| m.per_class.clone()),
            confusion: m.map(|m| m.confusion.clone()),
            confusion_labels: m.map(|m| m.class_order(&[])),
        }
    }
}

/// Output of `polarity train --json`.
#[derive(Debug, Serialize)]
pub struct TrainReport {
    /// Class names in label order.
    pub labels: Vec<String>,
    /// Rows the model was fitted on.
    pub n_train: u64,
    /// Held-out rows scored.
    pub n_test: u64,
    /// Data rows read from all files.
    pub rows_in: u64,
    /// Rows rejected while reading.
    pub rejected: u64,
    /// Rejected rows by reason.
    pub rejected_reasons: BTreeMap<String, u64>,
    /// Metrics on the held-out rows.
    #[serde(flatten)]
    pub metrics: MetricFields,
    /// Vocabulary size.
    pub n_features: usize,
    /// L-BFGS iterations.
    pub iterations: usize,
    /// Objective evaluations.
    pub evaluations: usize,
    /// Whether L-BFGS reached its tolerance.
    pub converged: bool,
    /// Path of the written artifact.
    pub model: String,
    /// SHA-256 of the artifact file.
    pub sha256: String,
    /// Size of the artifact in bytes.
    pub model_bytes: usize,
    /// What `--tune` tried and chose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tuning: Option<polarity_core::tune::Tuning>,
    /// Phase timings.
    pub timings: Timings,
}

/// Output of `polarity eval --json`.
#[derive(Debug, Serialize)]
pub struct EvalReport {
    /// Class names in label order.
    pub labels: Vec<String>,
    /// Rows scored.
    pub n_test: u64,
    /// Data rows read.
    pub rows_in: u64,
    /// Rows rejected (unreadable, or a label the model does not know).
    pub rejected: u64,
    /// Rejected rows by reason.
    pub rejected_reasons: BTreeMap<String, u64>,
    /// The metrics.
    #[serde(flatten)]
    pub metrics: MetricFields,
    /// Phase timings (`read_s`, `eval_s`, `total_s`).
    pub timings: Timings,
}

/// Merges read reports into `(rows_in, rejected, reasons)`.
pub fn rejections<'a>(reports: impl IntoIterator<Item = &'a ReadReport>) -> ReadReport {
    let mut all = ReadReport::default();
    for r in reports {
        all.merge(r);
    }
    all
}

/// A few readable lines for a metric set.
pub fn summary(labels: &[String], m: Option<&Metrics>) -> String {
    let Some(m) = m else {
        return "no held-out rows: metrics not computed\n".to_string();
    };
    let mut s = format!(
        "accuracy {:.4}  macro-F1 {:.4}  weighted-F1 {:.4}  log-loss {:.4}  (n = {})\n",
        m.accuracy, m.macro_f1, m.weighted_f1, m.log_loss, m.n
    );
    s.push_str(&format!(
        "{:<16} {:>9} {:>9} {:>9} {:>9}\n",
        "class", "precision", "recall", "f1", "support"
    ));
    for l in labels {
        if let Some(c) = m.per_class.get(l) {
            s.push_str(&format!(
                "{:<16} {:>9.4} {:>9.4} {:>9.4} {:>9}\n",
                l, c.precision, c.recall, c.f1, c.support
            ));
        }
    }
    s
}
