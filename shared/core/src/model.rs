//! The fitted classifier: cleaning + TF-IDF + logistic regression + class names, and its metadata.
//! Only a [`Classifier`] predicts; it is built by [`crate::train`] or loaded by [`crate::artifact`].

use serde::{Deserialize, Serialize};

use crate::labels::LabelScheme;
use crate::logistic::{LogisticConfig, LogisticModel};
use crate::metrics::Metrics;
use crate::text::{CleanConfig, clean_into};
use crate::tfidf::{Scratch, Tfidf, TfidfConfig, TokenStats};

/// Where the training data came from and what it looked like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// SHA-256 (hex) over the cleaned training rows and their classes, in order.
    pub digest: String,
    /// Training rows.
    pub n_train: u64,
    /// Held-out rows the stored metrics were computed on.
    pub n_test: u64,
    /// Fraction of training rows in each class (label order): the prior that drift is measured against.
    pub class_prior: Vec<f64>,
}

/// How the optimiser finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitInfo {
    /// L-BFGS iterations.
    pub iterations: usize,
    /// Objective evaluations (including line-search trials).
    pub evaluations: usize,
    /// Whether a tolerance was reached.
    pub converged: bool,
    /// Final objective value.
    pub objective: f64,
}

/// Everything about a model except its arrays; stored as JSON inside the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Version of Polarity that trained the model.
    pub polarity_version: String,
    /// Class names, in class-index order.
    pub labels: Vec<String>,
    /// How raw labels were mapped to `labels`.
    pub label_scheme: LabelScheme,
    /// Cleaning applied before tokenising.
    pub clean: CleanConfig,
    /// Vectoriser settings.
    pub tfidf: TfidfConfig,
    /// Regression settings.
    pub logistic: LogisticConfig,
    /// Training data summary.
    pub data: DataInfo,
    /// Metrics on the held-out rows, when there were any.
    pub metrics: Option<Metrics>,
    /// Optimiser outcome.
    pub fit: FitInfo,
}

/// A trained sentiment classifier. `Send + Sync`: share one behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Classifier {
    /// Metadata.
    pub meta: ModelMeta,
    /// Fitted vectoriser.
    pub tfidf: Tfidf,
    /// Fitted regression.
    pub model: LogisticModel,
}

/// Reusable buffers for [`Classifier::predict_into`]; one per thread.
#[derive(Debug, Default)]
pub struct PredictScratch {
    cleaned: String,
    tf: Scratch,
    /// Class probabilities of the last prediction, in label order.
    pub probs: Vec<f64>,
}

/// The outcome of one prediction. It serialises as the API answers: `{"label", "score",
/// "probabilities": {label: probability, …}}` (labels in label order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Predicted class name.
    pub label: String,
    /// Probability of the predicted class.
    pub score: f64,
    /// Probability of every class, in label order.
    #[serde(serialize_with = "as_map")]
    pub probabilities: Vec<(String, f64)>,
}

fn as_map<S: serde::Serializer>(v: &[(String, f64)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (k, p) in v {
        m.serialize_entry(k, p)?;
    }
    m.end()
}

impl Classifier {
    /// Class names in index order.
    pub fn labels(&self) -> &[String] {
        &self.meta.labels
    }

    /// Predicts one raw text into `s.probs` and returns the winning class index and token counters.
    /// Allocation-free once `s` has grown. Ties go to the lower class index.
    pub fn predict_into(&self, text: &str, s: &mut PredictScratch) -> (usize, TokenStats) {
        let mut cleaned = std::mem::take(&mut s.cleaned);
        clean_into(text, &self.meta.clean, &mut cleaned);
        let out = self.predict_cleaned_into(&cleaned, s);
        s.cleaned = cleaned;
        out
    }

    /// Like [`Classifier::predict_into`] for text that is already cleaned with this model's config.
    pub fn predict_cleaned_into(
        &self,
        cleaned: &str,
        s: &mut PredictScratch,
    ) -> (usize, TokenStats) {
        let stats = self.tfidf.transform_into(cleaned, &mut s.tf);
        self.model.predict_proba_row(&s.tf.row, &mut s.probs);
        (argmax(&s.probs), stats)
    }

    /// Predicts one raw text.
    pub fn predict(&self, text: &str) -> Prediction {
        let mut s = PredictScratch::default();
        let (best, _) = self.predict_into(text, &mut s);
        self.prediction(best, &s.probs)
    }

    /// Builds a [`Prediction`] from a class index and probabilities.
    pub fn prediction(&self, best: usize, probs: &[f64]) -> Prediction {
        Prediction {
            label: self.meta.labels[best].clone(),
            score: probs[best],
            probabilities: self
                .meta
                .labels
                .iter()
                .cloned()
                .zip(probs.iter().copied())
                .collect(),
        }
    }

    /// The vocabulary's n-grams with the largest weights towards `class` (the model's global evidence for
    /// it, before TF-IDF scaling of a particular text), strongest first, at most `top`; ties by n-gram.
    pub fn top_terms(&self, class: usize, top: usize) -> Vec<(String, f64)> {
        let mut c: Vec<(usize, f64)> = (0..self.tfidf.terms().len())
            .map(|f| (f, self.model.weight(f, class)))
            .filter(|(_, w)| *w > 0.0)
            .collect();
        let terms = self.tfidf.terms();
        c.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| terms[a.0].cmp(&terms[b.0]))
        });
        c.truncate(top);
        c.into_iter().map(|(f, w)| (terms[f].clone(), w)).collect()
    }

    /// The n-grams of the last text predicted with `s` that pushed hardest towards `class`, with their
    /// contributions (`tfidf value × weight`), strongest first, at most `top`.
    pub fn explain(&self, s: &PredictScratch, class: usize, top: usize) -> Vec<(String, f64)> {
        let mut c: Vec<(String, f64)> =
            s.tf.row
                .iter()
                .map(|&(f, v)| {
                    (
                        self.tfidf.terms()[f as usize].clone(),
                        f64::from(v) * self.model.weight(f as usize, class),
                    )
                })
                .collect();
        c.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        c.truncate(top);
        c
    }
}

/// Index of the largest value (first on ties).
pub fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |best, (i, x)| if *x > v[best] { i } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifier_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Classifier>();
    }

    #[test]
    fn argmax_prefers_first_on_ties() {
        assert_eq!(argmax(&[0.5, 0.5]), 0);
        assert_eq!(argmax(&[0.2, 0.3, 0.5]), 2);
    }
}
