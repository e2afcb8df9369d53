//! Classification metrics, computed the way scikit-learn's `classification_report`, `f1_score` and
//! `log_loss` compute them (a class with no predictions has precision 0; with no support, recall 0).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// TP / (TP + FP), 0 when nothing was predicted as this class.
    pub precision: f64,
    /// TP / (TP + FN), 0 when the class has no rows.
    pub recall: f64,
    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
    /// Rows whose true label is this class.
    pub support: u64,
}

/// Every metric Polarity reports for a labelled evaluation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Rows evaluated.
    pub n: u64,
    /// Fraction of rows predicted correctly.
    pub accuracy: f64,
    /// Unweighted mean of per-class F1.
    pub macro_f1: f64,
    /// Support-weighted mean of per-class F1.
    pub weighted_f1: f64,
    /// Mean negative log-likelihood of the true class (probabilities clipped to `[1e-15, 1]`).
    pub log_loss: f64,
    /// Per-class metrics by class name.
    pub per_class: BTreeMap<String, ClassMetrics>,
    /// `confusion[t][p]`: rows of true class `t` predicted as class `p`, classes in [`Metrics::labels`]
    /// order.
    pub confusion: Vec<Vec<u64>>,
    /// The class names of `confusion`'s rows and columns, in the order they were scored (the model's class
    /// order, not alphabetical: a class added later comes last). Empty in records written before it was
    /// kept; use [`Metrics::class_order`] to read either.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl Metrics {
    /// The class names of the confusion matrix's rows and columns: [`Metrics::labels`] when recorded, else
    /// `fallback` (the model's class order, in which older records were scored) when it names as many
    /// classes, else the per-class names.
    pub fn class_order(&self, fallback: &[String]) -> Vec<String> {
        if !self.labels.is_empty() && self.labels.len() == self.confusion.len() {
            self.labels.clone()
        } else if fallback.len() == self.confusion.len() {
            fallback.to_vec()
        } else {
            self.per_class.keys().cloned().collect()
        }
    }

    /// Computes all metrics from true classes, predicted classes and the probability each row gave its
    /// true class. `labels` names the class indices.
    ///
    /// # Panics
    /// Never for consistent input; the three slices must have equal length and indices `< labels.len()`.
    pub fn compute(labels: &[String], truth: &[u32], pred: &[u32], p_true: &[f64]) -> Self {
        let k = labels.len();
        let mut confusion = vec![vec![0u64; k]; k];
        for (&t, &p) in truth.iter().zip(pred) {
            confusion[t as usize][p as usize] += 1;
        }
        let n = truth.len() as u64;
        let correct: u64 = (0..k).map(|i| confusion[i][i]).sum();
        let mut per_class = BTreeMap::new();
        let (mut macro_f1, mut weighted_f1) = (0.0, 0.0);
        for (i, name) in labels.iter().enumerate() {
            let tp = confusion[i][i] as f64;
            let support: u64 = confusion[i].iter().sum();
            let predicted: u64 = confusion.iter().map(|row| row[i]).sum();
            let precision = if predicted > 0 {
                tp / predicted as f64
            } else {
                0.0
            };
            let recall = if support > 0 {
                tp / support as f64
            } else {
                0.0
            };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            macro_f1 += f1 / k as f64;
            weighted_f1 += f1 * support as f64;
            per_class.insert(
                name.clone(),
                ClassMetrics {
                    precision,
                    recall,
                    f1,
                    support,
                },
            );
        }
        let nf = n.max(1) as f64;
        let log_loss = p_true
            .iter()
            .map(|p| -p.clamp(1e-15, 1.0).ln())
            .sum::<f64>()
            / nf;
        Self {
            n,
            accuracy: correct as f64 / nf,
            macro_f1,
            weighted_f1: weighted_f1 / nf,
            log_loss,
            per_class,
            confusion,
            labels: labels.to_vec(),
        }
    }
}

/// One bin of a reliability diagram: the rows whose top-class probability fell in `[lo, hi)` (the last bin
/// includes 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower edge.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Rows in the bin.
    pub count: u64,
    /// Mean top-class probability of those rows (0 when empty).
    pub confidence: f64,
    /// Fraction of those rows predicted correctly (0 when empty).
    pub accuracy: f64,
}

/// How well a model's confidence matches its accuracy: equal-width bins over the top-class probability and
/// the expected calibration error (the count-weighted mean of `|accuracy − confidence|` over the bins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The bins, lowest first; every row is in exactly one.
    pub bins: Vec<CalibrationBin>,
    /// Expected calibration error.
    pub ece: f64,
}

impl Calibration {
    /// Bins `confidence[i]` (the probability of row `i`'s predicted class) with whether it was right.
    ///
    /// # Panics
    /// If `bins` is 0 or the slices differ in length.
    pub fn compute(confidence: &[f64], correct: &[bool], bins: usize) -> Self {
        assert!(bins > 0, "at least one bin");
        assert_eq!(confidence.len(), correct.len(), "one flag per row");
        let mut count = vec![0u64; bins];
        let mut conf = vec![0.0; bins];
        let mut right = vec![0u64; bins];
        for (&c, &ok) in confidence.iter().zip(correct) {
            let c = if c.is_finite() {
                c.clamp(0.0, 1.0)
            } else {
                0.0
            };
            // truncation is the binning: c in [i/bins, (i+1)/bins) goes to bin i, 1.0 to the last
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let i = ((c * bins as f64) as usize).min(bins - 1);
            count[i] += 1;
            conf[i] += c;
            right[i] += u64::from(ok);
        }
        let n = confidence.len().max(1) as f64;
        let mut ece = 0.0;
        let bins = (0..bins)
            .map(|i| {
                let k = count[i] as f64;
                let (confidence, accuracy) = if count[i] > 0 {
                    (conf[i] / k, right[i] as f64 / k)
                } else {
                    (0.0, 0.0)
                };
                ece += k / n * (accuracy - confidence).abs();
                CalibrationBin {
                    lo: i as f64 / bins as f64,
                    hi: (i + 1) as f64 / bins as f64,
                    count: count[i],
                    confidence,
                    accuracy,
                }
            })
            .collect();
        Self { bins, ece }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_bins_every_row_once_and_measures_the_gap() {
        // 0.55 and 0.58 (one right) land in [0.5, 0.6); 0.95 and 1.0 (both right) in the last bin
        let c = Calibration::compute(&[0.55, 0.58, 0.95, 1.0], &[true, false, true, true], 10);
        assert_eq!(c.bins.len(), 10);
        assert_eq!(c.bins.iter().map(|b| b.count).sum::<u64>(), 4);
        assert_eq!(c.bins[5].count, 2);
        assert_eq!(c.bins[9].count, 2);
        assert!((c.bins[5].accuracy - 0.5).abs() < 1e-12);
        assert!((c.bins[5].confidence - 0.565).abs() < 1e-12);
        assert!((c.bins[9].accuracy - 1.0).abs() < 1e-12);
        // ece = 0.5·|0.5 − 0.565| + 0.5·|1 − 0.975|
        assert!((c.ece - (0.5 * 0.065 + 0.5 * 0.025)).abs() < 1e-12);
        // a model that is exactly as confident as it is right has no gap
        let p = Calibration::compute(&[1.0, 1.0], &[true, true], 4);
        assert!(p.ece.abs() < 1e-12);
    }

    #[test]
    fn the_confusion_matrix_names_its_classes_in_scoring_order() {
        // a class added later ("mixed") sorts first alphabetically but is the model's third class
        let labels: Vec<String> = ["negative", "positive", "mixed"].map(String::from).to_vec();
        let m = Metrics::compute(&labels, &[0, 0, 1, 2], &[0, 0, 1, 0], &[0.9; 4]);
        assert_eq!(m.class_order(&[]), labels);
        assert_eq!(
            m.confusion[2],
            vec![1, 0, 0],
            "mixed was predicted negative"
        );
        assert_eq!(m.per_class["mixed"].recall, 0.0);
        // an older record without the names: the model's order when it fits, else the per-class names
        let old = Metrics {
            labels: Vec::new(),
            ..m.clone()
        };
        assert_eq!(old.class_order(&labels), labels);
        assert_eq!(
            old.class_order(&[]),
            ["mixed", "negative", "positive"].map(String::from).to_vec()
        );
        let json = serde_json::to_string(&old).unwrap();
        assert!(
            !json.contains("\"labels\""),
            "old records keep their bytes: {json}"
        );
    }

    #[test]
    fn matches_hand_computed_values() {
        let labels = vec!["negative".to_string(), "positive".to_string()];
        // truth: 0 0 0 1 1 ; pred: 0 1 0 1 1
        let m = Metrics::compute(
            &labels,
            &[0, 0, 0, 1, 1],
            &[0, 1, 0, 1, 1],
            &[0.9, 0.4, 0.8, 0.7, 0.6],
        );
        assert_eq!(m.confusion, vec![vec![2, 1], vec![0, 2]]);
        assert!((m.accuracy - 0.8).abs() < 1e-12);
        let neg = &m.per_class["negative"];
        assert!((neg.precision - 1.0).abs() < 1e-12 && (neg.recall - 2.0 / 3.0).abs() < 1e-12);
        let pos = &m.per_class["positive"];
        assert!((pos.precision - 2.0 / 3.0).abs() < 1e-12 && (pos.recall - 1.0).abs() < 1e-12);
        let f = 0.8; // both F1s are 0.8
        assert!((m.macro_f1 - f).abs() < 1e-12 && (m.weighted_f1 - f).abs() < 1e-12);
        let ll = -(0.9f64.ln() + 0.4f64.ln() + 0.8f64.ln() + 0.7f64.ln() + 0.6f64.ln()) / 5.0;
        assert!((m.log_loss - ll).abs() < 1e-12);
    }

    #[test]
    fn class_never_predicted_has_zero_precision() {
        let labels = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let m = Metrics::compute(&labels, &[0, 1, 2], &[0, 0, 0], &[1.0, 0.0, 0.0]);
        assert_eq!(m.per_class["b"].precision, 0.0);
        assert_eq!(m.per_class["c"].f1, 0.0);
        assert!(m.log_loss > 20.0); // clipped at 1e-15, finite
    }
}
