//! Training and evaluation over labelled rows: label mapping, cleaning, the deterministic split, fitting
//! and metrics. Pure and synchronous; the callers read files and write artifacts.

use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::labels::{LabelScheme, sort_classes};
use crate::logistic::{LogisticConfig, LogisticError};
use crate::metrics::Metrics;
use crate::model::{Classifier, DataInfo, FitInfo, ModelMeta, PredictScratch, argmax};
use crate::reader::{RejectReason, Rejected, Table};
use crate::split::is_test;
use crate::text::{CleanConfig, clean};
use crate::tfidf::{Tfidf, TfidfConfig, TfidfError};

/// Every training setting: what gets stored in the artifact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Text cleaning.
    pub clean: CleanConfig,
    /// Vectoriser.
    pub tfidf: TfidfConfig,
    /// Regression.
    pub logistic: LogisticConfig,
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
    /// A vectoriser setting or the vocabulary.
    #[error(transparent)]
    Tfidf(#[from] TfidfError),
    /// A regression setting.
    #[error(transparent)]
    Logistic(#[from] LogisticError),
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

/// Cleans texts in parallel, in place.
pub fn clean_all(texts: &mut [String], cfg: &CleanConfig) {
    texts.par_iter_mut().for_each(|t| *t = clean(t, cfg));
}

/// Maps training tables to one labelled set: picks the label scheme over all their label values, orders
/// the classes (see [`sort_classes`]) and cleans the texts. Returns `(labels, scheme, rows)`.
pub fn prepare_training(
    tables: Vec<Table>,
    clean_cfg: &CleanConfig,
) -> (Vec<String>, LabelScheme, Labelled) {
    let scheme = LabelScheme::detect(
        tables
            .iter()
            .flat_map(|t| t.label_values.iter().map(String::as_str)),
    );
    let mut labels: Vec<String> = tables
        .iter()
        .flat_map(|t| t.label_values.iter().filter_map(|v| scheme.normalize(v)))
        .collect();
    sort_classes(&mut labels);
    labels.dedup();
    let mut out = Labelled::default();
    for t in tables {
        let map: Vec<u32> = t
            .label_values
            .iter()
            .map(|v| {
                scheme
                    .normalize(v)
                    .and_then(|n| labels.iter().position(|l| *l == n))
                    .unwrap_or(0) as u32
            })
            .collect();
        out.classes
            .extend(t.labels.iter().map(|&i| map[i as usize]));
        out.texts.extend(t.texts);
    }
    clean_all(&mut out.texts, clean_cfg);
    (labels, scheme, out)
}

/// Maps an evaluation table onto a model's classes. Rows whose label is not one of `labels` are moved to
/// `table.rejected` with [`RejectReason::UnknownLabel`] and the report is updated.
pub fn prepare_eval(
    mut table: Table,
    labels: &[String],
    scheme: LabelScheme,
    clean_cfg: &CleanConfig,
) -> (Labelled, Table) {
    let map: Vec<Option<u32>> = table
        .label_values
        .iter()
        .map(|v| {
            scheme
                .normalize(v)
                .and_then(|n| labels.iter().position(|l| *l == n))
                .map(|p| p as u32)
        })
        .collect();
    let mut out = Labelled::default();
    let texts = std::mem::take(&mut table.texts);
    for ((text, &li), &line) in texts.into_iter().zip(&table.labels).zip(&table.lines) {
        match map[li as usize] {
            Some(c) => {
                out.texts.push(text);
                out.classes.push(c);
            }
            None => {
                table.report.reject_accepted(RejectReason::UnknownLabel);
                let raw = format!("{text} (label {:?})", table.label_values[li as usize]);
                table.rejected.push(Rejected {
                    line,
                    reason: RejectReason::UnknownLabel,
                    raw,
                });
            }
        }
    }
    clean_all(&mut out.texts, clean_cfg);
    (out, table)
}

/// Splits rows into `(train, test)` with [`is_test`] on the cleaned text.
pub fn split(rows: Labelled, test_fraction: f64) -> (Labelled, Labelled) {
    let (mut tr, mut te) = (Labelled::default(), Labelled::default());
    for (t, c) in rows.texts.into_iter().zip(rows.classes) {
        let dst = if is_test(&t, test_fraction) {
            &mut te
        } else {
            &mut tr
        };
        dst.texts.push(t);
        dst.classes.push(c);
    }
    (tr, te)
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
    let mut h = Sha256::new();
    for (t, &c) in texts.iter().zip(classes) {
        h.update(t.as_bytes());
        h.update(b"\t");
        h.update(labels[c as usize].as_bytes());
        h.update(b"\n");
    }
    crate::artifact::hex(&h.finalize())
}

/// Fits a classifier on cleaned `texts` with class indices `classes` (no metrics yet).
///
/// # Errors
/// [`TrainError`] for invalid settings, an empty vocabulary or fewer than two classes.
pub fn fit_classifier(
    cfg: &TrainConfig,
    texts: &[String],
    classes: &[u32],
    labels: Vec<String>,
    scheme: LabelScheme,
) -> Result<(Classifier, TrainTimings), TrainError> {
    if texts.is_empty() {
        return Err(TrainError::NoRows { rejected: 0 });
    }
    let mut present = vec![0u64; labels.len()];
    classes.iter().for_each(|&c| present[c as usize] += 1);
    if present.iter().filter(|&&n| n > 0).count() < 2 {
        let only = present
            .iter()
            .position(|&n| n > 0)
            .map(|i| labels[i].clone())
            .unwrap_or_default();
        return Err(TrainError::OneClass(only));
    }
    let t0 = Instant::now();
    let (tfidf, x) = Tfidf::fit_transform(&cfg.tfidf, texts)?;
    let vectorize_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let (model, report) = cfg.logistic.fit(&x, classes, labels.len())?;
    let fit_s = t0.elapsed().as_secs_f64();
    drop(x);
    let n = texts.len() as f64;
    let meta = ModelMeta {
        polarity_version: env!("CARGO_PKG_VERSION").to_string(),
        data: DataInfo {
            digest: data_digest(texts, classes, &labels),
            n_train: texts.len() as u64,
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

/// Fits on `train`, scores `test` (when not empty) and stores the metrics in the model.
///
/// # Errors
/// As [`fit_classifier`].
pub fn train(
    cfg: &TrainConfig,
    train: &Labelled,
    test: &Labelled,
    labels: Vec<String>,
    scheme: LabelScheme,
) -> Result<(Classifier, TrainTimings), TrainError> {
    let (mut c, mut timings) = fit_classifier(cfg, &train.texts, &train.classes, labels, scheme)?;
    if !test.is_empty() {
        let t0 = Instant::now();
        c.meta.metrics = Some(evaluate(&c, test));
        c.meta.data.n_test = test.len() as u64;
        timings.eval_s = t0.elapsed().as_secs_f64();
    }
    Ok((c, timings))
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
    use crate::reader::{ReadOptions, read_bytes};

    #[test]
    fn prepares_labels_across_files_and_rejects_unknown_eval_labels() {
        let a = read_bytes(
            "a.csv",
            b"text,label\nGood <b>film</b>,1\nbad,0\n",
            &ReadOptions::default(),
        )
        .unwrap();
        let b = read_bytes("b.csv", b"text,label\nfine,1\n", &ReadOptions::default()).unwrap();
        let (labels, scheme, rows) = prepare_training(vec![a, b], &CleanConfig::default());
        assert_eq!(labels, ["negative", "positive"]);
        assert_eq!(scheme, LabelScheme::Binary01);
        assert_eq!(rows.texts, ["good film", "bad", "fine"]);
        assert_eq!(rows.classes, [1, 0, 1]);
        let e = read_bytes(
            "e.csv",
            b"text,label\nok,1\nodd,7\n",
            &ReadOptions::default(),
        )
        .unwrap();
        let (ev, table) = prepare_eval(e, &labels, scheme, &CleanConfig::default());
        assert_eq!(ev.classes, [1]);
        assert_eq!(table.report.rows_in, 2);
        assert_eq!(table.report.accepted + table.report.rejected, 2);
        assert_eq!(table.report.reasons["unknown_label"], 1);
    }

    #[test]
    fn training_needs_two_classes() {
        let t = vec!["good".to_string(), "great".to_string()];
        let r = fit_classifier(
            &TrainConfig::default(),
            &t,
            &[1, 1],
            vec!["negative".into(), "positive".into()],
            LabelScheme::Names,
        );
        assert!(matches!(r, Err(TrainError::OneClass(ref c)) if c == "positive"));
    }

    #[test]
    fn split_is_stable_and_near_fraction() {
        let rows = Labelled {
            texts: (0..2000).map(|i| format!("row {i}")).collect(),
            classes: vec![0; 2000],
        };
        let (tr, te) = split(rows.clone(), 0.2);
        assert_eq!(tr.len() + te.len(), 2000);
        assert!((300..500).contains(&te.len()), "{}", te.len());
        let (_, te2) = split(rows, 0.2);
        assert_eq!(te, te2);
    }
}
