//! Training and evaluation over labelled rows: label mapping, cleaning, the deterministic split, fitting
//! and metrics. Pure and synchronous; the callers read files and write artifacts.

use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::labels::{LabelScheme, Labels};
use crate::logistic::{LogisticConfig, LogisticError};
use crate::metrics::Metrics;
use crate::model::{Classifier, DataInfo, FitInfo, ModelMeta, PredictScratch, argmax};
use crate::text::CleanConfig;
use crate::tfidf::{Tfidf, TfidfConfig, TfidfError};

/// Every training setting (unchecked): what gets stored in the artifact. [`TrainConfig::check`] turns it
/// into a [`ValidTrainConfig`], the only form training accepts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Text cleaning.
    pub clean: CleanConfig,
    /// Vectoriser.
    pub tfidf: TfidfConfig,
    /// Regression.
    pub logistic: LogisticConfig,
}

impl TrainConfig {
    /// Validates every setting once (vectoriser and regression).
    ///
    /// # Errors
    /// [`TrainError::Tfidf`] or [`TrainError::Logistic`] naming the setting.
    pub fn check(self) -> Result<ValidTrainConfig, TrainError> {
        self.tfidf.validate()?;
        self.logistic.validate()?;
        Ok(ValidTrainConfig(self))
    }
}

/// Training settings that passed [`TrainConfig::check`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ValidTrainConfig(TrainConfig);

impl ValidTrainConfig {
    /// The settings.
    pub fn get(&self) -> &TrainConfig {
        &self.0
    }
}

impl Default for ValidTrainConfig {
    fn default() -> Self {
        TrainConfig::default()
            .check()
            .expect("the default training settings are valid")
    }
}

impl std::ops::Deref for ValidTrainConfig {
    type Target = TrainConfig;
    fn deref(&self) -> &TrainConfig {
        &self.0
    }
}

/// Why training could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// No usable training rows.
    #[error("no usable training rows (all {rejected} rows were rejected or the input was empty)")]
    NoRows {
        /// Rows rejected while reading.
        rejected: u64,
    },
    /// Only one class in the training rows.
    #[error("training data has a single class ({0}); need at least two")]
    OneClass(String),
    /// `--tune` needs every fold to have training and validation rows.
    #[error("{rows} training rows are too few to cross-validate in {folds} folds (--tune)")]
    TooFewToTune {
        /// Training rows.
        rows: usize,
        /// Folds asked for.
        folds: usize,
    },
    /// A vectoriser setting or the vocabulary.
    #[error(transparent)]
    Tfidf(#[from] TfidfError),
    /// A regression setting.
    #[error(transparent)]
    Logistic(#[from] LogisticError),
    /// The rows given again for the matrix were not the rows counted ([`train_streamed`]).
    #[error(
        "the training rows changed between the passes over them ({counted} rows counted, then {given}); was the input modified while training?"
    )]
    Replay {
        /// Rows in the first pass.
        counted: usize,
        /// Rows in the second.
        given: usize,
    },
}

/// Cleaned texts with class indices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labelled {
    /// Cleaned texts.
    pub texts: Vec<String>,
    /// Class index of each text.
    pub classes: Vec<u32>,
}

impl Labelled {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

/// Seconds spent in each training phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TrainTimings {
    /// TF-IDF fit and transform.
    pub vectorize_s: f64,
    /// Logistic regression fit.
    pub fit_s: f64,
    /// Scoring the held-out rows.
    pub eval_s: f64,
}

/// SHA-256 (hex) over the rows: each cleaned text, a tab, its class name, a newline.
pub fn data_digest(texts: &[String], classes: &[u32], labels: &[String]) -> String {
    let mut d = DataDigest::default();
    d.update(texts, classes, labels);
    d.finish()
}

/// [`data_digest`] over rows given in batches.
#[derive(Default)]
struct DataDigest(Sha256);

impl DataDigest {
    fn update(&mut self, texts: &[String], classes: &[u32], labels: &[String]) {
        for (t, &c) in texts.iter().zip(classes) {
            self.0.update(t.as_bytes());
            self.0.update(b"\t");
            self.0.update(labels[c as usize].as_bytes());
            self.0.update(b"\n");
        }
    }

    fn finish(self) -> String {
        crate::artifact::hex(&self.0.finalize())
    }
}

/// What training is doing (for progress displays).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Building the TF-IDF vocabulary and matrix.
    Vectorizing {
        /// Training rows.
        rows: usize,
    },
    /// One objective evaluation of the regression fit.
    Fitting {
        /// Evaluations so far.
        evaluation: usize,
        /// The objective's value.
        objective: f64,
    },
    /// Scoring the held-out rows.
    Scoring {
        /// Held-out rows.
        rows: usize,
    },
}

/// Fits a classifier on cleaned `texts` with class indices `classes` (no metrics yet).
///
/// # Errors
/// [`TrainError`] for invalid settings, an empty vocabulary or fewer than two classes.
pub fn fit_classifier(
    cfg: &ValidTrainConfig,
    texts: &[String],
    classes: &[u32],
    labels: Labels,
    scheme: LabelScheme,
) -> Result<(Classifier, TrainTimings), TrainError> {
    fit_observed(
        cfg,
        Docs::Borrowed(texts),
        classes,
        labels,
        scheme,
        &mut |_| {},
    )
}

/// Training texts: borrowed, or owned and freed as soon as they are vectorised (before the fit).
enum Docs<'a> {
    Borrowed(&'a [String]),
    Owned(Vec<String>),
}

impl Docs<'_> {
    fn get(&self) -> &[String] {
        match self {
            Docs::Borrowed(t) => t,
            Docs::Owned(t) => t,
        }
    }
}

/// [`fit_classifier`] reporting its [`Phase`]s to `on`.
///
/// # Errors
/// As [`fit_classifier`].
fn fit_observed(
    cfg: &ValidTrainConfig,
    docs: Docs<'_>,
    classes: &[u32],
    labels: Labels,
    scheme: LabelScheme,
    on: &mut dyn FnMut(Phase),
) -> Result<(Classifier, TrainTimings), TrainError> {
    let labels = labels.into_names();
    let texts = docs.get();
    let present = class_counts(classes, &labels);
    check_classes(&present, &labels)?;
    let digest = data_digest(texts, classes, &labels);
    let t0 = Instant::now();
    on(Phase::Vectorizing { rows: texts.len() });
    let (tfidf, tokens) = Tfidf::fit_tokens(&cfg.tfidf, texts)?;
    drop(docs);
    let x = tfidf.matrix(tokens);
    let vectorized = Vectorized {
        tfidf,
        x,
        digest,
        present,
        seconds: t0.elapsed().as_secs_f64(),
    };
    fit_matrix(cfg, vectorized, classes, labels, scheme, on)
}

/// The rows of each class (indices into `labels`).
fn class_counts(classes: &[u32], labels: &[String]) -> Vec<u64> {
    let mut present = vec![0u64; labels.len()];
    classes.iter().for_each(|&c| present[c as usize] += 1);
    present
}

/// Checks the rows of each class: some rows, of at least two classes.
fn check_classes(present: &[u64], labels: &[String]) -> Result<(), TrainError> {
    if present.iter().all(|&n| n == 0) {
        return Err(TrainError::NoRows { rejected: 0 });
    }
    if present.iter().filter(|&&n| n > 0).count() < 2 {
        let only = present
            .iter()
            .position(|&n| n > 0)
            .map(|i| labels[i].clone())
            .unwrap_or_default();
        return Err(TrainError::OneClass(only));
    }
    Ok(())
}

/// The training rows vectorised: the fitted vectoriser, their matrix, their digest and class counts, and
/// the seconds it took.
struct Vectorized {
    tfidf: Tfidf,
    x: crate::sparse::ScaledCounts,
    digest: String,
    present: Vec<u64>,
    seconds: f64,
}

/// Fits the regression on vectorised rows of classes `classes` and makes the classifier.
fn fit_matrix(
    cfg: &ValidTrainConfig,
    v: Vectorized,
    classes: &[u32],
    labels: Vec<String>,
    scheme: LabelScheme,
    on: &mut dyn FnMut(Phase),
) -> Result<(Classifier, TrainTimings), TrainError> {
    let Vectorized {
        tfidf,
        x,
        digest,
        present,
        seconds: vectorize_s,
    } = v;
    let n_train = classes.len();
    let t0 = Instant::now();
    let (model, report) =
        cfg.logistic
            .fit_observed(&x, classes, labels.len(), &mut |evaluation, objective| {
                on(Phase::Fitting {
                    evaluation,
                    objective,
                })
            })?;
    let fit_s = t0.elapsed().as_secs_f64();
    drop(x);
    let n = n_train as f64;
    let meta = ModelMeta {
        polarity_version: env!("CARGO_PKG_VERSION").to_string(),
        data: DataInfo {
            digest,
            n_train: n_train as u64,
            n_test: 0,
            class_prior: present.iter().map(|&c| c as f64 / n).collect(),
        },
        labels,
        label_scheme: scheme,
        clean: cfg.clean,
        tfidf: cfg.tfidf.clone(),
        logistic: cfg.logistic.clone(),
        metrics: None,
        fit: FitInfo {
            iterations: report.iterations,
            evaluations: report.evaluations,
            converged: report.converged,
            objective: report.value,
        },
    };
    Ok((
        Classifier { meta, tfidf, model },
        TrainTimings {
            vectorize_s,
            fit_s,
            eval_s: 0.0,
        },
    ))
}

/// Training rows read twice instead of held: each call of `replay` must give `sink` the same cleaned
/// texts, with their classes (indices into `labels`), in the same batches' order. The first pass fits the
/// vocabulary, the second builds the matrix; only the matrix and one batch are held. The same model as
/// [`fit_classifier`] on all the rows at once (a test); [`score_held_out`] scores it as [`train`] does.
///
/// # Errors
/// `replay`'s error; [`TrainError`] as [`fit_classifier`], or [`TrainError::Replay`] when the second
/// pass gives another number of rows than the first.
pub fn train_streamed<E: From<TrainError>>(
    cfg: &ValidTrainConfig,
    mut replay: impl FnMut(&mut dyn FnMut(&[String], &[u32])) -> Result<(), E>,
    labels: Labels,
    scheme: LabelScheme,
    on: &mut dyn FnMut(Phase),
) -> Result<(Classifier, TrainTimings), E> {
    let labels = labels.into_names();
    let t0 = Instant::now();
    let mut counter = crate::tfidf::VocabularyCounter::new(&cfg.tfidf).map_err(TrainError::from)?;
    let mut digest = DataDigest::default();
    let mut present = vec![0u64; labels.len()];
    replay(&mut |texts, classes| {
        digest.update(texts, classes, &labels);
        class_counts(classes, &labels)
            .iter()
            .zip(present.iter_mut())
            .for_each(|(n, p)| *p += n);
        counter.add(texts);
    })?;
    let counted = counter.docs();
    check_classes(&present, &labels)?;
    on(Phase::Vectorizing { rows: counted });
    let tfidf = counter.finish().map_err(TrainError::from)?;
    let mut rows = crate::tfidf::MatrixBuilder::new(&tfidf);
    let mut classes: Vec<u32> = Vec::with_capacity(counted);
    replay(&mut |texts, batch| {
        rows.add(texts);
        classes.extend_from_slice(batch);
    })?;
    let x = rows.finish();
    if classes.len() != counted {
        return Err(TrainError::Replay {
            counted,
            given: classes.len(),
        }
        .into());
    }
    let vectorized = Vectorized {
        tfidf,
        x,
        digest: digest.finish(),
        present,
        seconds: t0.elapsed().as_secs_f64(),
    };
    Ok(fit_matrix(cfg, vectorized, &classes, labels, scheme, on)?)
}

/// Fits on `train`, scores `test` (when not empty) and stores the metrics in the model.
///
/// # Errors
/// As [`fit_classifier`].
pub fn train(
    cfg: &ValidTrainConfig,
    train: &Labelled,
    test: &Labelled,
    labels: Labels,
    scheme: LabelScheme,
) -> Result<(Classifier, TrainTimings), TrainError> {
    let (c, timings) = fit_observed(
        cfg,
        Docs::Borrowed(&train.texts),
        &train.classes,
        labels,
        scheme,
        &mut |_| {},
    )?;
    Ok(score_held_out(c, timings, test, &mut |_| {}))
}

/// [`train`] taking the training rows, whose texts are freed once vectorised (the fit holds only the
/// matrix), reporting its [`Phase`]s to `on`. The same model as [`train`] on the same rows.
///
/// # Errors
/// As [`fit_classifier`].
pub fn train_observed(
    cfg: &ValidTrainConfig,
    train: Labelled,
    test: &Labelled,
    labels: Labels,
    scheme: LabelScheme,
    on: &mut dyn FnMut(Phase),
) -> Result<(Classifier, TrainTimings), TrainError> {
    let (c, timings) = fit_observed(
        cfg,
        Docs::Owned(train.texts),
        &train.classes,
        labels,
        scheme,
        on,
    )?;
    Ok(score_held_out(c, timings, test, on))
}

/// Scores `test` (when not empty) with the fitted `c` and stores the metrics in it (and the seconds in
/// `timings`).
pub fn score_held_out(
    mut c: Classifier,
    mut timings: TrainTimings,
    test: &Labelled,
    on: &mut dyn FnMut(Phase),
) -> (Classifier, TrainTimings) {
    if !test.is_empty() {
        on(Phase::Scoring { rows: test.len() });
        let t0 = Instant::now();
        c.meta.metrics = Some(evaluate(&c, test));
        c.meta.data.n_test = test.len() as u64;
        timings.eval_s = t0.elapsed().as_secs_f64();
    }
    (c, timings)
}

/// Scores a classifier on cleaned, labelled rows (in parallel).
pub fn evaluate(c: &Classifier, rows: &Labelled) -> Metrics {
    let scored: Vec<(u32, f64)> = rows
        .texts
        .par_iter()
        .zip(rows.classes.par_iter())
        .map_init(PredictScratch::default, |s, (t, &y)| {
            c.predict_cleaned_into(t, s);
            (argmax(&s.probs) as u32, s.probs[y as usize])
        })
        .collect();
    let pred: Vec<u32> = scored.iter().map(|p| p.0).collect();
    let p_true: Vec<f64> = scored.iter().map(|p| p.1).collect();
    Metrics::compute(c.labels(), &rows.classes, &pred, &p_true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_needs_two_classes() {
        let t = vec!["good".to_string(), "great".to_string()];
        let r = fit_classifier(
            &ValidTrainConfig::default(),
            &t,
            &[1, 1],
            Labels::from_names(["negative", "positive"]),
            LabelScheme::Names,
        );
        assert!(matches!(r, Err(TrainError::OneClass(ref c)) if c == "positive"));
    }

    #[test]
    fn training_on_owned_or_streamed_rows_gives_the_same_model_bytes() {
        let texts = two_class_texts();
        let classes: Vec<u32> = (0..400).map(|i| i % 2).collect();
        let test = Labelled {
            texts: texts[..40].to_vec(),
            classes: classes[..40].to_vec(),
        };
        let rows = Labelled { texts, classes };
        let labels = || Labels::from_names(["negative", "positive"]);
        let cfg = ValidTrainConfig::default();
        let (a, _) = train(&cfg, &rows, &test, labels(), LabelScheme::Names).unwrap();
        let mut phases = 0;
        let (b, _) = train_observed(&cfg, rows, &test, labels(), LabelScheme::Names, &mut |_| {
            phases += 1
        })
        .unwrap();
        assert!(phases >= 3);
        assert_eq!(crate::artifact::encode(&a), crate::artifact::encode(&b));
        // given twice in batches instead of held: the same bytes
        let rows = Labelled {
            texts: two_class_texts(),
            classes: (0..400).map(|i| i % 2).collect(),
        };
        for batch in [1, 33, 400] {
            let replay = |sink: &mut dyn FnMut(&[String], &[u32])| -> Result<(), TrainError> {
                rows.texts
                    .chunks(batch)
                    .zip(rows.classes.chunks(batch))
                    .for_each(|(t, c)| sink(t, c));
                Ok(())
            };
            let (c, t) =
                train_streamed(&cfg, replay, labels(), LabelScheme::Names, &mut |_| {}).unwrap();
            let (c, _) = score_held_out(c, t, &test, &mut |_| {});
            assert_eq!(
                crate::artifact::encode(&a),
                crate::artifact::encode(&c),
                "{batch}"
            );
        }
        // a second pass that differs from the first is an error, not a model
        let mut passes = 0;
        let changing = |sink: &mut dyn FnMut(&[String], &[u32])| -> Result<(), TrainError> {
            passes += 1;
            let n = if passes == 1 { 400 } else { 399 };
            sink(&rows.texts[..n], &rows.classes[..n]);
            Ok(())
        };
        let r = train_streamed(&cfg, changing, labels(), LabelScheme::Names, &mut |_| {});
        assert!(matches!(
            r,
            Err(TrainError::Replay {
                counted: 400,
                given: 399
            })
        ));
    }

    fn two_class_texts() -> Vec<String> {
        (0..400)
            .map(|i| {
                format!(
                    "w{} w{} shared {}",
                    i % 37,
                    i % 11,
                    if i % 2 == 0 { "good" } else { "bad" }
                )
            })
            .collect()
    }

    #[test]
    fn top_terms_are_each_class_s_strongest_evidence() {
        let texts: Vec<String> = [
            "great fun",
            "great film",
            "great cast",
            "awful mess",
            "awful plot",
            "awful acting",
        ]
        .iter()
        .map(|t| (*t).to_string())
        .collect();
        let (c, _) = fit_classifier(
            &ValidTrainConfig::default(),
            &texts,
            &[1, 1, 1, 0, 0, 0],
            Labels::from_names(["negative", "positive"]),
            LabelScheme::Names,
        )
        .unwrap();
        let pos = c.top_terms(1, 3);
        let neg = c.top_terms(0, 3);
        assert_eq!(pos[0].0, "great");
        assert_eq!(neg[0].0, "awful");
        assert!(pos.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(pos.iter().all(|(t, w)| *w > 0.0 && !t.contains("awful")));
        assert!(c.top_terms(1, 0).is_empty());
    }
}
