//! The `--tune` preset: picks the regression's `C` and sublinear tf by k-fold cross-validation on the
//! training rows only (the held-out rows are never seen), scored by macro-F1. Deterministic: a row's fold
//! is a hash of its rarest word ([`FoldKey`]), and the choice follows the one-standard-error rule (the
//! most regularised setting within one standard error of the best mean). The vectoriser is fitted per fold, so a fold's vocabulary and IDF never see its
//! validation rows.

use serde::{Deserialize, Serialize};

use crate::labels::{LabelScheme, Labels};
use crate::metrics::Metrics;
use crate::model::Classifier;
use crate::model::argmax;
use crate::sparse::Csr;
use crate::tfidf::Tfidf;
use crate::train::{Labelled, TrainError, TrainTimings, ValidTrainConfig};

crate::named_enum! {
    /// What puts rows in the same fold.
    #[derive(Default)]
    pub enum FoldKey {
        /// The row's whole cleaned text.
        Text = "text",
        /// The row's rarest word (lowest document frequency; ties by the word), so overlapping fragments
        /// of one sentence, which share its rare words, are validated together instead of leaking
        /// across folds.
        #[default]
        RarestWord = "rarest_word",
    }
}

/// The settings tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneGrid {
    /// Values of `C`, in the order tried.
    pub c: Vec<f64>,
    /// Values of sublinear tf, in the order tried.
    pub sublinear_tf: Vec<bool>,
    /// Number of folds (at least 2).
    pub folds: usize,
    /// What puts rows in the same fold.
    #[serde(default)]
    pub fold_key: FoldKey,
}

impl Default for TuneGrid {
    fn default() -> Self {
        Self {
            c: vec![0.25, 0.5, 1.0, 2.0, 4.0, 8.0],
            sublinear_tf: vec![false, true],
            folds: 3,
            fold_key: FoldKey::default(),
        }
    }
}

/// One setting's cross-validated score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneScore {
    /// `C`.
    pub c: f64,
    /// Sublinear tf.
    pub sublinear_tf: bool,
    /// Mean macro-F1 over the folds.
    pub macro_f1: f64,
    /// Macro-F1 of each fold.
    pub per_fold: Vec<f64>,
}

/// What tuning tried and chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// The grid.
    pub grid: TuneGrid,
    /// Every setting's score, in grid order.
    pub scores: Vec<TuneScore>,
    /// The chosen `C`.
    pub c: f64,
    /// The chosen sublinear tf.
    pub sublinear_tf: bool,
    /// Rows cross-validated.
    pub rows: usize,
}

/// FNV-1a of `text`'s bytes modulo `folds`.
fn fold_of(text: &str, folds: usize) -> usize {
    let h = crate::split::fnv1a64(text.as_bytes());
    // the remainder is < folds, a usize
    #[allow(clippy::cast_possible_truncation)]
    let f = (h % folds as u64) as usize;
    f
}

/// Each row's fold under `key`.
fn folds_of(texts: &[String], folds: usize, key: FoldKey, min_chars: usize) -> Vec<usize> {
    match key {
        FoldKey::Text => texts.iter().map(|t| fold_of(t, folds)).collect(),
        FoldKey::RarestWord => {
            let mut df: rustc_hash::FxHashMap<&str, u32> = rustc_hash::FxHashMap::default();
            let mut seen: Vec<&str> = Vec::new();
            for t in texts {
                seen.clear();
                crate::text::for_each_token(t, min_chars, |w| seen.push(w));
                seen.sort_unstable();
                seen.dedup();
                for w in &seen {
                    *df.entry(w).or_insert(0) += 1;
                }
            }
            texts
                .iter()
                .map(|t| {
                    let mut best: Option<(u32, &str)> = None;
                    crate::text::for_each_token(t, min_chars, |w| {
                        let c = (df[w], w);
                        if best.is_none_or(|b| c < b) {
                            best = Some(c);
                        }
                    });
                    fold_of(best.map_or(t.as_str(), |b| b.1), folds)
                })
                .collect()
        }
    }
}

/// The one-standard-error rule: among the settings whose mean is within one standard error (of the best
/// setting's per-fold scores) of the best mean, the most regularised: smallest `C`, then raw counts.
/// Differences smaller than the folds' own spread are noise, and the simpler model generalises better.
fn choose(scores: &[TuneScore]) -> Option<TuneScore> {
    let best = scores
        .iter()
        .max_by(|a, b| a.macro_f1.total_cmp(&b.macro_f1))?;
    let n = best.per_fold.len().max(1) as f64;
    let var = best
        .per_fold
        .iter()
        .map(|x| (x - best.macro_f1).powi(2))
        .sum::<f64>()
        / (n - 1.0).max(1.0);
    let floor = best.macro_f1 - (var / n).sqrt();
    scores
        .iter()
        .filter(|s| s.macro_f1 >= floor)
        .min_by(|a, b| {
            a.c.total_cmp(&b.c)
                .then(a.sublinear_tf.cmp(&b.sublinear_tf))
        })
        .cloned()
}

/// Predicted classes of the rows of `x`.
fn predict_all(model: &crate::logistic::LogisticModel, x: &Csr) -> Vec<u32> {
    let mut probs = Vec::new();
    let mut row = Vec::new();
    (0..x.rows())
        .map(|r| {
            let (idx, val) = x.row(r);
            row.clear();
            row.extend(idx.iter().copied().zip(val.iter().copied()));
            model.predict_proba_row(&row, &mut probs);
            u32::try_from(argmax(&probs)).unwrap_or(0)
        })
        .collect()
}

/// Cross-validates every setting of `grid` (other settings from `cfg`) on `texts`/`classes` and returns
/// the best setting applied to `cfg`, with the scores.
///
/// # Errors
/// [`TrainError::TooFewToTune`] when a fold has no training or validation rows;
/// [`TrainError`] from a fit or from the grid's values (a `C` that is not positive).
pub fn tune(
    cfg: &ValidTrainConfig,
    texts: &[String],
    classes: &[u32],
    labels: &[String],
    grid: &TuneGrid,
) -> Result<(ValidTrainConfig, Tuning), TrainError> {
    let folds = grid.folds.max(2);
    let fold = folds_of(texts, folds, grid.fold_key, cfg.tfidf.min_token_chars);
    let k = labels.len();
    // per_fold[setting][fold]
    let settings: Vec<(bool, f64)> = grid
        .sublinear_tf
        .iter()
        .flat_map(|&s| grid.c.iter().map(move |&c| (s, c)))
        .collect();
    let mut per_fold = vec![Vec::with_capacity(folds); settings.len()];
    for f in 0..folds {
        let (mut tr_t, mut tr_y, mut va_t, mut va_y) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, t) in texts.iter().enumerate() {
            if fold[i] == f {
                va_t.push(t.clone());
                va_y.push(classes[i]);
            } else {
                tr_t.push(t.clone());
                tr_y.push(classes[i]);
            }
        }
        if tr_t.is_empty() || va_t.is_empty() {
            return Err(TrainError::TooFewToTune {
                rows: texts.len(),
                folds,
            });
        }
        for &sublinear in &grid.sublinear_tf {
            let mut tfidf_cfg = cfg.tfidf.clone();
            tfidf_cfg.sublinear_tf = sublinear;
            let (tfidf, x) = Tfidf::fit_transform(&tfidf_cfg, &tr_t)?;
            let xv = tfidf.transform(&va_t);
            for (si, &(s, c)) in settings.iter().enumerate() {
                if s != sublinear {
                    continue;
                }
                let mut lc = cfg.logistic.clone();
                lc.c = c;
                let (model, _) = lc.fit(&x, &tr_y, k)?;
                let pred = predict_all(&model, &xv);
                let m = Metrics::compute(labels, &va_y, &pred, &vec![1.0; pred.len()]);
                per_fold[si].push(m.macro_f1);
            }
        }
    }
    let scores: Vec<TuneScore> = grid
        .sublinear_tf
        .iter()
        .flat_map(|&s| grid.c.iter().map(move |&c| (s, c)))
        .zip(per_fold)
        .map(|((s, c), f)| TuneScore {
            c,
            sublinear_tf: s,
            macro_f1: f.iter().sum::<f64>() / f.len().max(1) as f64,
            per_fold: f,
        })
        .collect();
    let best = choose(&scores);
    let Some(best) = best else {
        return Ok((
            cfg.clone(),
            Tuning {
                grid: grid.clone(),
                scores,
                c: cfg.logistic.c,
                sublinear_tf: cfg.tfidf.sublinear_tf,
                rows: texts.len(),
            },
        ));
    };
    let mut chosen = cfg.get().clone();
    chosen.logistic.c = best.c;
    chosen.tfidf.sublinear_tf = best.sublinear_tf;
    Ok((
        chosen.check()?,
        Tuning {
            grid: grid.clone(),
            scores,
            c: best.c,
            sublinear_tf: best.sublinear_tf,
            rows: texts.len(),
        },
    ))
}

/// [`crate::train::train`] with the setting [`tune`] picks on `train` alone (`test` is only scored).
///
/// # Errors
/// As [`tune`] and [`crate::train::train`].
pub fn train_tuned(
    cfg: &ValidTrainConfig,
    train: &Labelled,
    test: &Labelled,
    labels: Labels,
    scheme: LabelScheme,
    grid: &TuneGrid,
) -> Result<(Classifier, TrainTimings, Tuning), TrainError> {
    let (chosen, tuning) = tune(cfg, &train.texts, &train.classes, labels.names(), grid)?;
    let (model, timings) = crate::train::train(&chosen, train, test, labels, scheme)?;
    Ok((model, timings, tuning))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> (Vec<String>, Vec<u32>, Vec<String>) {
        let pos = ["great", "fun", "lovely", "superb", "moving", "witty"];
        let neg = ["awful", "dull", "boring", "messy", "flat", "tedious"];
        let (mut t, mut y) = (Vec::new(), Vec::new());
        for i in 0..240 {
            let (w, c) = if i % 2 == 0 {
                (pos[i % 6], 1)
            } else {
                (neg[i % 6], 0)
            };
            t.push(format!("{w} film number {i} {}", pos[(i / 7) % 6]));
            y.push(c);
        }
        (t, y, vec!["negative".into(), "positive".into()])
    }

    #[test]
    fn tuning_is_deterministic_and_scores_every_setting() {
        let (t, y, labels) = data();
        let grid = TuneGrid {
            c: vec![0.01, 1.0, 10.0],
            sublinear_tf: vec![false, true],
            folds: 3,
            fold_key: FoldKey::RarestWord,
        };
        let cfg = ValidTrainConfig::default();
        let (a, ta) = tune(&cfg, &t, &y, &labels, &grid).unwrap();
        let (b, tb) = tune(&cfg, &t, &y, &labels, &grid).unwrap();
        assert_eq!(a, b);
        assert_eq!(ta, tb);
        assert_eq!(ta.scores.len(), 6);
        assert!(ta.scores.iter().all(|s| s.per_fold.len() == 3));
        let chosen = ta
            .scores
            .iter()
            .find(|s| s.c == ta.c && s.sublinear_tf == ta.sublinear_tf)
            .unwrap();
        assert_eq!(Some(chosen), choose(&ta.scores).as_ref());
        assert_eq!(
            (a.logistic.c, a.tfidf.sublinear_tf),
            (ta.c, ta.sublinear_tf)
        );
        // a row's fold does not depend on the order of the rows
        let mut rt = t.clone();
        let mut ry = y.clone();
        rt.reverse();
        ry.reverse();
        let (_, tr) = tune(&cfg, &rt, &ry, &labels, &grid).unwrap();
        assert_eq!((tr.c, tr.sublinear_tf), (ta.c, ta.sublinear_tf));
    }

    #[test]
    fn the_simplest_setting_within_one_standard_error_wins() {
        let s = |c: f64, sublinear_tf: bool, per_fold: Vec<f64>| TuneScore {
            c,
            sublinear_tf,
            macro_f1: per_fold.iter().sum::<f64>() / per_fold.len() as f64,
            per_fold,
        };
        // best: C 8 at 0.83 with folds ±0.01 (standard error 0.0058); C 2 at 0.826 is within, C 1 is not
        let scores = vec![
            s(1.0, false, vec![0.81, 0.81, 0.81]),
            s(2.0, true, vec![0.826, 0.826, 0.826]),
            s(2.0, false, vec![0.826, 0.826, 0.826]),
            s(8.0, false, vec![0.82, 0.83, 0.84]),
        ];
        let c = choose(&scores).unwrap();
        assert_eq!((c.c, c.sublinear_tf), (2.0, false));
        // folds that agree exactly: only the best is within
        let tight = vec![s(1.0, false, vec![0.8; 3]), s(4.0, false, vec![0.81; 3])];
        assert_eq!(choose(&tight).unwrap().c, 4.0);
        assert!(choose(&[]).is_none());
    }

    #[test]
    fn too_few_rows_for_the_folds_is_an_error() {
        let t = vec!["good".to_string(), "bad".to_string()];
        let r = tune(
            &ValidTrainConfig::default(),
            &t,
            &[1, 0],
            &["negative".into(), "positive".into()],
            &TuneGrid {
                folds: 5,
                ..TuneGrid::default()
            },
        );
        assert!(matches!(
            r,
            Err(TrainError::TooFewToTune { rows: 2, folds: 5 })
        ));
    }
}
