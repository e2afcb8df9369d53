//! The `--tune` preset: picks the regression's `C`, sublinear tf and class weights by k-fold
//! cross-validation on the training rows only (the held-out rows are never seen), scored by macro-F1, and
//! **keeps the settings it was given (the defaults) unless another setting is reliably better**: a setting
//! is taken only when its mean paired gain over the given settings, fold by fold, exceeds one standard error
//! of those gains ([`choose`]); among such settings the best mean wins. So tuning cannot pick a setting that
//! only won by the folds' noise. Deterministic: a row's fold is a hash of the longest row containing it
//! ([`FoldKey`]), so fragments of one sentence never straddle folds;
//! small sets are cross-validated several times with differently salted folds ([`TuneGrid::repeats`]). The
//! vectoriser is fitted per fold, so a fold's vocabulary and IDF never see its validation rows.

use serde::{Deserialize, Serialize};

use crate::labels::{LabelScheme, Labels};
use crate::logistic::ClassWeight;
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
        RarestWord = "rarest_word",
        /// The longest row whose text contains the row's text (the row itself when none does), so the
        /// phrases of one sentence, each a substring of it, are validated with the sentence and never
        /// leak across folds.
        #[default]
        Container = "container",
    }
}

/// The settings tried. The settings tuning starts from (the defaults) are always tried too, as the
/// baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneGrid {
    /// Values of `C`, in the order tried.
    pub c: Vec<f64>,
    /// Values of sublinear tf, in the order tried.
    pub sublinear_tf: Vec<bool>,
    /// Class weightings, in the order tried (records from before they were tuned: `none` only).
    #[serde(default = "untuned_class_weight")]
    pub class_weight: Vec<ClassWeight>,
    /// Number of folds (at least 2).
    pub folds: usize,
    /// Times the folds are drawn, each with another salt; sets under [`SMALL_SET_ROWS`] rows are drawn at
    /// least [`SMALL_SET_REPEATS`] times, since a few hundred validation rows per fold are noisy.
    #[serde(default = "one")]
    pub repeats: usize,
    /// What puts rows in the same fold.
    #[serde(default)]
    pub fold_key: FoldKey,
}

/// Below this many training rows, the folds are drawn at least [`SMALL_SET_REPEATS`] times.
pub const SMALL_SET_ROWS: usize = 5_000;
/// Repeats for small sets.
pub const SMALL_SET_REPEATS: usize = 3;

fn untuned_class_weight() -> Vec<ClassWeight> {
    vec![ClassWeight::None]
}

fn one() -> usize {
    1
}

impl Default for TuneGrid {
    fn default() -> Self {
        Self {
            c: vec![0.25, 0.5, 1.0, 2.0, 4.0, 8.0],
            sublinear_tf: vec![false, true],
            class_weight: vec![ClassWeight::None, ClassWeight::Balanced],
            folds: 5,
            repeats: 1,
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
    /// Class weighting.
    #[serde(default)]
    pub class_weight: ClassWeight,
    /// Mean macro-F1 over the folds.
    pub macro_f1: f64,
    /// Macro-F1 of each fold (repeat by repeat), in the same order for every setting.
    pub per_fold: Vec<f64>,
}

impl TuneScore {
    fn setting(&self) -> (f64, bool, ClassWeight) {
        (self.c, self.sublinear_tf, self.class_weight)
    }
}

/// What tuning tried and chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// The grid.
    pub grid: TuneGrid,
    /// Every setting's score, in grid order (the baseline's too).
    pub scores: Vec<TuneScore>,
    /// The chosen `C`.
    pub c: f64,
    /// The chosen sublinear tf.
    pub sublinear_tf: bool,
    /// The chosen class weighting.
    #[serde(default)]
    pub class_weight: ClassWeight,
    /// The settings tuning started from, and their score: kept unless a setting was reliably better.
    #[serde(default)]
    pub baseline: Option<TuneScore>,
    /// Times the folds were drawn (the grid's repeats, or more for a small set).
    #[serde(default = "one")]
    pub repeats: usize,
    /// Rows cross-validated.
    pub rows: usize,
}

impl Tuning {
    /// The chosen setting's score.
    pub fn chosen(&self) -> Option<&TuneScore> {
        self.scores
            .iter()
            .find(|s| s.setting() == (self.c, self.sublinear_tf, self.class_weight))
    }

    /// True when tuning kept the settings it started from (no setting was reliably better).
    pub fn kept_baseline(&self) -> bool {
        self.baseline
            .as_ref()
            .is_some_and(|b| b.setting() == (self.c, self.sublinear_tf, self.class_weight))
    }
}

/// FNV-1a of `text`'s bytes, mixed with `salt` (0: the plain hash), modulo `folds`.
fn fold_of(text: &str, folds: usize, salt: u64) -> usize {
    let h = crate::split::fnv1a64(text.as_bytes());
    let h = if salt == 0 {
        h
    } else {
        crate::split::fmix64(h ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    };
    // the remainder is < folds, a usize
    #[allow(clippy::cast_possible_truncation)]
    let f = (h % folds as u64) as usize;
    f
}

/// The rows each word occurs in (each row once per word).
type Postings<'a> = rustc_hash::FxHashMap<&'a str, Vec<usize>>;

fn postings(texts: &[String], min_chars: usize) -> Postings<'_> {
    let mut postings = Postings::default();
    let mut seen: Vec<&str> = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        seen.clear();
        crate::text::for_each_token(t, min_chars, |w| seen.push(w));
        seen.sort_unstable();
        seen.dedup();
        for w in &seen {
            postings.entry(w).or_default().push(i);
        }
    }
    postings
}

/// Each row's rarest word (fewest rows in `postings`; ties by the word), if it has one.
fn rarest_words<'a>(
    texts: &'a [String],
    min_chars: usize,
    postings: &Postings<'a>,
) -> Vec<Option<&'a str>> {
    texts
        .iter()
        .map(|t| {
            let mut best: Option<(usize, &str)> = None;
            crate::text::for_each_token(t, min_chars, |w| {
                let c = (postings[w].len(), w);
                if best.is_none_or(|b| c < b) {
                    best = Some(c);
                }
            });
            best.map(|b| b.1)
        })
        .collect()
}

/// Each row's fold under `key`.
fn folds_of(
    texts: &[String],
    folds: usize,
    key: FoldKey,
    min_chars: usize,
    salt: u64,
) -> Vec<usize> {
    match key {
        FoldKey::Text => texts.iter().map(|t| fold_of(t, folds, salt)).collect(),
        FoldKey::Container => {
            let postings = postings(texts, min_chars);
            let rarest = rarest_words(texts, min_chars, &postings);
            texts
                .iter()
                .zip(&rarest)
                .map(|(t, w)| {
                    let container = w
                        .and_then(|w| postings.get(w))
                        .into_iter()
                        .flatten()
                        .map(|&j| texts[j].as_str())
                        .filter(|c| c.len() > t.len() && c.contains(t.as_str()))
                        .max_by(|a, b| a.len().cmp(&b.len()).then(b.cmp(a)))
                        .unwrap_or(t.as_str());
                    fold_of(container, folds, salt)
                })
                .collect()
        }
        FoldKey::RarestWord => rarest_words(texts, min_chars, &postings(texts, min_chars))
            .into_iter()
            .zip(texts)
            .map(|(w, t)| fold_of(w.unwrap_or(t.as_str()), folds, salt))
            .collect(),
    }
}

/// The one-standard-error rule against the baseline: a setting is reliably better than `baseline` when
/// its paired gains over it, fold by fold, have a mean above one standard error of those gains. Among such
/// settings the best mean wins (ties: the most regularised, smallest `C`, raw counts, no class weights);
/// when there is none, the baseline stays. Differences within the folds' own spread are noise.
fn choose<'a>(scores: &'a [TuneScore], baseline: &'a TuneScore) -> &'a TuneScore {
    let reliable_gain = |s: &TuneScore| -> Option<f64> {
        let n = s.per_fold.len().min(baseline.per_fold.len());
        if n < 2 {
            return None;
        }
        let d: Vec<f64> = (0..n)
            .map(|i| s.per_fold[i] - baseline.per_fold[i])
            .collect();
        let mean = d.iter().sum::<f64>() / n as f64;
        let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        let se = (var / n as f64).sqrt();
        (mean - se > 0.0).then_some(mean)
    };
    let simpler = |a: &TuneScore, b: &TuneScore| {
        a.c.total_cmp(&b.c)
            .then(a.sublinear_tf.cmp(&b.sublinear_tf))
            .then((!a.class_weight.is_none()).cmp(&!b.class_weight.is_none()))
    };
    scores
        .iter()
        .filter_map(|s| reliable_gain(s).map(|g| (s, g)))
        .max_by(|(a, ga), (b, gb)| ga.total_cmp(gb).then_with(|| simpler(b, a)))
        .map_or(baseline, |(s, _)| s)
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

/// Cross-validates every setting of `grid` and the settings of `cfg` (the baseline) on `texts`/`classes`,
/// and returns `cfg` with the setting [`choose`] takes (the baseline's own unless one is reliably better),
/// with the scores.
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
    let repeats = if texts.len() < SMALL_SET_ROWS {
        grid.repeats.max(SMALL_SET_REPEATS)
    } else {
        grid.repeats.max(1)
    };
    let k = labels.len();
    let base = (
        cfg.logistic.c,
        cfg.tfidf.sublinear_tf,
        cfg.logistic.class_weight,
    );
    // every (sublinear tf, C, class weight) of the grid, then the baseline if the grid lacks it
    let mut settings: Vec<(bool, f64, ClassWeight)> = Vec::new();
    for &s in &grid.sublinear_tf {
        for &c in &grid.c {
            for &w in &grid.class_weight {
                settings.push((s, c, w));
            }
        }
    }
    if !settings.contains(&(base.1, base.0, base.2)) {
        settings.push((base.1, base.0, base.2));
    }
    let tf_values: Vec<bool> = {
        let mut v: Vec<bool> = settings.iter().map(|s| s.0).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    // per_fold[setting][repeat * folds + fold]
    let mut per_fold = vec![Vec::with_capacity(folds * repeats); settings.len()];
    for r in 0..repeats {
        let fold = folds_of(
            texts,
            folds,
            grid.fold_key,
            cfg.tfidf.min_token_chars,
            r as u64,
        );
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
            for &sublinear in &tf_values {
                let mut tfidf_cfg = cfg.tfidf.clone();
                tfidf_cfg.sublinear_tf = sublinear;
                let (tfidf, x) = Tfidf::fit_transform(&tfidf_cfg, &tr_t)?;
                let xv = tfidf.transform(&va_t);
                for (si, &(s, c, w)) in settings.iter().enumerate() {
                    if s != sublinear {
                        continue;
                    }
                    let mut lc = cfg.logistic.clone();
                    lc.c = c;
                    lc.class_weight = w;
                    let (model, _) = lc.fit(&x, &tr_y, k)?;
                    let pred = predict_all(&model, &xv);
                    let m = Metrics::compute(labels, &va_y, &pred, &vec![1.0; pred.len()]);
                    per_fold[si].push(m.macro_f1);
                }
            }
        }
    }
    let scores: Vec<TuneScore> = settings
        .iter()
        .zip(per_fold)
        .map(|(&(s, c, w), f)| TuneScore {
            c,
            sublinear_tf: s,
            class_weight: w,
            macro_f1: f.iter().sum::<f64>() / f.len().max(1) as f64,
            per_fold: f,
        })
        .collect();
    let baseline =
        scores
            .iter()
            .find(|x| x.setting() == base)
            .cloned()
            .ok_or(TrainError::TooFewToTune {
                rows: texts.len(),
                folds,
            })?;
    let best = choose(&scores, &baseline).clone();
    let mut chosen = cfg.get().clone();
    chosen.logistic.c = best.c;
    chosen.tfidf.sublinear_tf = best.sublinear_tf;
    chosen.logistic.class_weight = best.class_weight;
    Ok((
        chosen.check()?,
        Tuning {
            grid: grid.clone(),
            scores,
            c: best.c,
            sublinear_tf: best.sublinear_tf,
            class_weight: best.class_weight,
            baseline: Some(baseline),
            repeats,
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
    fn tuning_is_deterministic_scores_every_setting_and_never_chooses_below_the_baseline() {
        let (t, y, labels) = data();
        let cfg = ValidTrainConfig::default();
        let start = (
            cfg.logistic.c,
            cfg.tfidf.sublinear_tf,
            cfg.logistic.class_weight,
        );
        let grid = TuneGrid {
            c: vec![0.01, start.0, 100.0],
            sublinear_tf: vec![false, true],
            class_weight: vec![ClassWeight::None, ClassWeight::Balanced],
            folds: 3,
            repeats: 1,
            fold_key: FoldKey::Container,
        };
        let (a, ta) = tune(&cfg, &t, &y, &labels, &grid).unwrap();
        let (b, tb) = tune(&cfg, &t, &y, &labels, &grid).unwrap();
        assert_eq!(a, b);
        assert_eq!(ta, tb);
        assert_eq!(ta.scores.len(), 12);
        // 240 rows: a small set, cross-validated SMALL_SET_REPEATS times
        assert_eq!(ta.repeats, SMALL_SET_REPEATS);
        assert!(
            ta.scores
                .iter()
                .all(|s| s.per_fold.len() == 3 * SMALL_SET_REPEATS)
        );
        let baseline = ta.baseline.clone().unwrap();
        assert_eq!(baseline.setting(), start);
        let chosen = ta.chosen().unwrap();
        assert_eq!(chosen, choose(&ta.scores, &baseline));
        assert!(chosen.macro_f1 >= baseline.macro_f1);
        assert_eq!(
            (a.logistic.c, a.tfidf.sublinear_tf, a.logistic.class_weight),
            (ta.c, ta.sublinear_tf, ta.class_weight)
        );
        // a row's fold does not depend on the order of the rows
        let mut rt = t.clone();
        let mut ry = y.clone();
        rt.reverse();
        ry.reverse();
        let (_, tr) = tune(&cfg, &rt, &ry, &labels, &grid).unwrap();
        assert_eq!(
            (tr.c, tr.sublinear_tf, tr.class_weight),
            (ta.c, ta.sublinear_tf, ta.class_weight)
        );
        // settings tuning starts from that the grid lacks are tried as the baseline
        let mut odd = cfg.get().clone();
        odd.logistic.c = 3.0;
        let (_, to) = tune(&odd.check().unwrap(), &t, &y, &labels, &grid).unwrap();
        assert_eq!(to.scores.len(), 13);
        assert_eq!(to.baseline.unwrap().c, 3.0);
    }

    #[test]
    fn a_setting_replaces_the_baseline_only_when_it_is_reliably_better() {
        let s = |c: f64, per_fold: Vec<f64>| TuneScore {
            c,
            sublinear_tf: false,
            class_weight: ClassWeight::None,
            macro_f1: per_fold.iter().sum::<f64>() / per_fold.len() as f64,
            per_fold,
        };
        let base = s(1.0, vec![0.80, 0.82, 0.81, 0.80, 0.82]);
        // +0.006 on average, but the gains swing ±0.03: within one standard error of 0
        let noisy = s(8.0, vec![0.83, 0.80, 0.83, 0.79, 0.83]);
        // +0.010 on every fold, give or take 0.002: reliable
        let steady = s(2.0, vec![0.811, 0.829, 0.820, 0.812, 0.828]);
        assert_eq!(choose(&[base.clone(), noisy.clone()], &base).c, 1.0);
        assert_eq!(
            choose(&[base.clone(), noisy.clone(), steady.clone()], &base).c,
            2.0
        );
        // a higher mean that is not reliable does not beat a reliable one
        let lucky = s(4.0, vec![0.95, 0.70, 0.95, 0.70, 0.83]);
        assert!(lucky.macro_f1 > steady.macro_f1);
        assert_eq!(choose(&[base.clone(), lucky, steady], &base).c, 2.0);
        // the baseline alone, or worse settings: the baseline
        let worse = s(0.25, vec![0.79, 0.81, 0.80, 0.79, 0.81]);
        assert_eq!(choose(&[worse], &base).c, 1.0);
        assert_eq!(choose(&[], &base).c, 1.0);
    }

    #[test]
    fn tuning_records_from_before_class_weights_and_repeats_still_read() {
        let old = r#"{"grid":{"c":[1.0,2.0],"sublinear_tf":[false],"folds":3,"fold_key":"rarest_word"},
            "scores":[{"c":1.0,"sublinear_tf":false,"macro_f1":0.8,"per_fold":[0.8,0.8,0.8]}],
            "c":1.0,"sublinear_tf":false,"rows":100}"#;
        let t: Tuning = serde_json::from_str(old).unwrap();
        assert_eq!(t.grid.class_weight, vec![ClassWeight::None]);
        assert_eq!((t.grid.repeats, t.repeats), (1, 1));
        assert_eq!(t.class_weight, ClassWeight::None);
        assert!(t.baseline.is_none());
    }

    #[test]
    fn the_phrases_of_a_sentence_share_its_fold() {
        let texts: Vec<String> = [
            "a gorgeous , witty , seductive movie",
            "gorgeous , witty",
            "seductive movie",
            "witty",
            "a dull , flat film",
            "flat film",
        ]
        .map(String::from)
        .to_vec();
        for salt in 0..5 {
            let f = folds_of(&texts, 7, FoldKey::Container, 1, salt);
            assert!(f[1..4].iter().all(|&x| x == f[0]), "{f:?}");
            assert_eq!(f[5], f[4], "{f:?}");
        }
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
