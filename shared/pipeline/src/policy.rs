//! The promotion policy, written once. On the **same** held-out rows, a candidate
//!
//! * `label_set`: has the same classes as production. A candidate with another label set (2 → 3 classes,
//!   say) is **held** for a person (`polarity registry promote`), never promoted automatically, since
//!   clients would suddenly receive a class they have never seen;
//! * `baseline`: beats the better of two trivial baselines fitted on its own training classes, the
//!   majority class and stratified random guessing (its expected macro-F1 `mean_c 2·p_c·q_c/(p_c+q_c)`
//!   with `p` the training prior and `q` the rows' class shares), by at least `margin` macro-F1, and
//!   `baseline_mcnemar`: is right more often than the majority baseline in a one-sided exact McNemar test
//!   at level `alpha`. This is what the first model needs, whatever the number of classes;
//! * `floor` (only when set): reaches an absolute macro-F1;
//! * with a production model: `margin` (beats production's macro-F1 by at least `margin`),
//!   `recall:<class>` (loses no more than `max_recall_drop` of any class's recall) and `mcnemar` (better
//!   than production in the paired test: with `b` rows only the candidate gets right and `c` only
//!   production, `p = P(X ≥ b)`, `X ~ Binomial(b + c, ½)`, must be below `alpha`).
//!
//! Any failed rule rejects (a failed `label_set` holds instead); the reason lists every failed rule with
//! the setting that controls it.

use polarity_core::metrics::Metrics;
use serde::{Deserialize, Serialize};

use crate::records::{Baselines, Check, Paired, PromotionPolicy, Verdict};

impl Paired {
    /// Counts `b` and `c` from the true classes and two models' predictions.
    pub fn count(truth: &[u32], candidate: &[u32], other: &[u32]) -> Self {
        let mut p = Paired::default();
        for ((t, c), o) in truth.iter().zip(candidate).zip(other) {
            p.candidate_only += u64::from(c == t && o != t);
            p.production_only += u64::from(o == t && c != t);
        }
        p
    }
}

impl Check {
    fn new(rule: impl Into<String>, passed: bool, detail: String, setting: Option<String>) -> Self {
        Self {
            rule: rule.into(),
            passed,
            detail,
            setting,
        }
    }

    /// `rule (SETTING=value): detail`.
    pub fn describe(&self) -> String {
        match &self.setting {
            Some(s) => format!("{} ({s}): {}", self.rule, self.detail),
            None => format!("{}: {}", self.rule, self.detail),
        }
    }
}

impl Baselines {
    /// The baselines for a candidate with training `prior` over `labels`, on rows with classes `truth`;
    /// `candidate` are its predictions.
    pub fn compute(labels: &[String], prior: &[f64], truth: &[u32], candidate: &[u32]) -> Self {
        let k = labels.len();
        let majority = (0..k)
            .max_by(|&a, &b| prior[a].total_cmp(&prior[b]).then(b.cmp(&a)))
            .unwrap_or(0);
        let pred = vec![majority as u32; truth.len()];
        let m = Metrics::compute(labels, truth, &pred, &vec![0.0; truth.len()]);
        let n = truth.len().max(1) as f64;
        let mut q = vec![0.0; k];
        truth.iter().for_each(|&t| q[t as usize] += 1.0 / n);
        let stratified = (0..k)
            .map(|c| {
                let (p, q) = (prior.get(c).copied().unwrap_or(0.0), q[c]);
                if p + q > 0.0 {
                    2.0 * p * q / (p + q)
                } else {
                    0.0
                }
            })
            .sum::<f64>()
            / k.max(1) as f64;
        Self {
            majority_class: labels.get(majority).cloned().unwrap_or_default(),
            majority_macro_f1: m.macro_f1,
            majority_accuracy: m.accuracy,
            stratified_macro_f1: stratified,
            paired: Paired::count(truth, candidate, &pred),
        }
    }
}

/// Production as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct ProductionScores<'a> {
    /// Production's metrics on the rows.
    pub metrics: &'a Metrics,
    /// Candidate vs production on the rows.
    pub paired: Paired,
    /// Production's classes.
    pub labels: &'a [String],
}

/// What the policy decided and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyOutcome {
    /// The verdict.
    pub verdict: Verdict,
    /// One sentence: every failed rule with its setting, or why it passed.
    pub reason: String,
    /// Every rule evaluated.
    pub checks: Vec<Check>,
    /// One-sided McNemar p-value against production (when there is one).
    pub p_value: Option<f64>,
}

/// A p-value for people: four decimals, or two significant digits in scientific form below 0.001.
pub fn show_p(p: f64) -> String {
    if p != 0.0 && p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// `P(X ≤ k)` for `X ~ Binomial(n, p)`.
pub(crate) fn binomial_lower_tail(k: u64, n: u64, p: f64) -> f64 {
    if k >= n || p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    // ln C(n, i) built incrementally: ln C(n, i+1) = ln C(n, i) + ln(n - i) - ln(i + 1)
    let mut ln_c = 0.0f64;
    let mut terms = Vec::with_capacity(k as usize + 1);
    for i in 0..=k {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        terms.push(ln_c + i as f64 * lp + (n - i) as f64 * lq);
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = terms.iter().map(|t| (t - max).exp()).sum();
    (max + sum.ln()).exp().min(1.0)
}

/// `P(Z ≤ z)` for a standard normal `Z` (complementary error function with fractional error below
/// 1.2e-7, Numerical Recipes' `erfcc`).
pub(crate) fn normal_lower_tail(z: f64) -> f64 {
    if z.is_nan() {
        return 1.0;
    }
    let x = -z / std::f64::consts::SQRT_2; // Φ(z) = erfc(−z/√2) / 2
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let erfc = if x >= 0.0 { erfc } else { 2.0 - erfc };
    (erfc / 2.0).clamp(0.0, 1.0)
}

/// One-sided exact McNemar p-value `P(X ≥ b)`, `X ~ Binomial(b + c, ½)`; 1 when `b + c = 0`.
pub(crate) fn mcnemar_p(b: u64, c: u64) -> f64 {
    // P(X ≥ b) = P(Y ≤ c) for Y = n − X, which is Binomial(n, ½) too
    if b + c == 0 {
        return 1.0;
    }
    binomial_lower_tail(c, b + c, 0.5)
}

impl PromotionPolicy {
    /// Decides on a candidate scored on the same rows as production (`None`: no production model yet).
    pub fn decide(
        &self,
        candidate: &Metrics,
        candidate_labels: &[String],
        baselines: &Baselines,
        production: Option<ProductionScores<'_>>,
    ) -> PolicyOutcome {
        let margin_s = Some(format!("POLARITY_PROMOTE_MARGIN={}", self.margin));
        let alpha_s = Some(format!("POLARITY_PROMOTE_ALPHA={}", self.alpha));
        let mut checks = Vec::new();
        if let Some(p) = &production {
            checks.push(Check::new(
                "label_set",
                p.labels == candidate_labels,
                format!(
                    "candidate classes [{}] vs production [{}]",
                    candidate_labels.join(", "),
                    p.labels.join(", ")
                ),
                None,
            ));
        }
        let best = baselines
            .majority_macro_f1
            .max(baselines.stratified_macro_f1);
        checks.push(Check::new(
            "baseline",
            candidate.macro_f1 >= best + self.margin,
            format!(
                "macro-F1 {:.4} vs trivial baselines: majority class '{}' {:.4}, stratified random {:.4}; need {:.4}",
                candidate.macro_f1,
                baselines.majority_class,
                baselines.majority_macro_f1,
                baselines.stratified_macro_f1,
                best + self.margin
            ),
            margin_s.clone(),
        ));
        let pb = mcnemar_p(
            baselines.paired.candidate_only,
            baselines.paired.production_only,
        );
        checks.push(Check::new(
            "baseline_mcnemar",
            pb < self.alpha,
            format!(
                "{} rows only the candidate gets right, {} only the majority baseline: one-sided p = {}, need < {}",
                baselines.paired.candidate_only,
                baselines.paired.production_only,
                show_p(pb),
                self.alpha
            ),
            alpha_s.clone(),
        ));
        if let Some(floor) = self.floor {
            checks.push(Check::new(
                "floor",
                candidate.macro_f1 >= floor,
                format!("macro-F1 {:.4} vs floor {floor:.4}", candidate.macro_f1),
                Some(format!("POLARITY_PROMOTE_FLOOR={floor}")),
            ));
        }
        let mut p_value = None;
        if let Some(p) = production {
            let prod = p.metrics;
            let gain = candidate.macro_f1 - prod.macro_f1;
            checks.push(Check::new(
                "margin",
                gain >= self.margin,
                format!(
                    "macro-F1 {:.4} vs production {:.4}: gain {gain:+.4}, need {:+.4}",
                    candidate.macro_f1, prod.macro_f1, self.margin
                ),
                margin_s,
            ));
            for (class, pm) in &prod.per_class {
                if pm.support == 0 {
                    continue;
                }
                let cr = candidate.per_class.get(class).map_or(0.0, |m| m.recall);
                let drop = pm.recall - cr;
                checks.push(Check::new(
                    format!("recall:{class}"),
                    drop <= self.max_recall_drop + 1e-12,
                    format!(
                        "recall {cr:.4} vs production {:.4}: drop {drop:+.4}, allowed {:.4}",
                        pm.recall, self.max_recall_drop
                    ),
                    Some(format!("POLARITY_MAX_RECALL_DROP={}", self.max_recall_drop)),
                ));
            }
            let pv = mcnemar_p(p.paired.candidate_only, p.paired.production_only);
            p_value = Some(pv);
            checks.push(Check::new(
                "mcnemar",
                pv < self.alpha,
                format!(
                    "{} rows only the candidate gets right, {} only production: one-sided p = {}, need < {}",
                    p.paired.candidate_only,
                    p.paired.production_only,
                    show_p(pv),
                    self.alpha
                ),
                alpha_s,
            ));
        }
        let failed: Vec<&Check> = checks.iter().filter(|c| !c.passed).collect();
        let (verdict, reason) = if failed.is_empty() {
            let why = if p_value.is_none() {
                format!("first model; {}", checks[0].detail)
            } else {
                let margin = checks
                    .iter()
                    .find(|c| c.rule == "margin")
                    .map(|c| c.detail.clone());
                format!("passes every rule; {}", margin.unwrap_or_default())
            };
            (Verdict::Promote, why)
        } else {
            let list: Vec<String> = failed.iter().map(|c| c.describe()).collect();
            if failed.iter().any(|c| c.rule == "label_set") {
                (
                    Verdict::Hold,
                    format!(
                        "held for a person: {}; promote it by hand with `polarity registry promote VERSION` if clients expect the new classes",
                        list.join("; ")
                    ),
                )
            } else {
                (
                    Verdict::Reject,
                    format!("rejected by {} rule(s): {}", failed.len(), list.join("; ")),
                )
            }
        };
        PolicyOutcome {
            verdict,
            reason,
            checks,
            p_value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tail_matches_tables() {
        for (z, p) in [
            (0.0, 0.5),
            (-1.644_853_6, 0.05),
            (-2.326_347_9, 0.01),
            (-3.090_232_3, 0.001),
            (1.959_964, 0.975),
        ] {
            assert!(
                (normal_lower_tail(z) - p).abs() < 1e-6 * p.max(1e-3),
                "{z}: {}",
                normal_lower_tail(z)
            );
        }
        assert_eq!(normal_lower_tail(f64::NAN), 1.0);
        assert!(normal_lower_tail(-40.0) >= 0.0 && normal_lower_tail(40.0) <= 1.0);
    }

    fn labels() -> Vec<String> {
        vec!["negative".to_string(), "positive".to_string()]
    }

    fn metrics(truth: &[u32], pred: &[u32]) -> Metrics {
        Metrics::compute(&labels(), truth, pred, &vec![0.5; truth.len()])
    }

    #[test]
    fn binomial_tails_match_hand_computed_values() {
        assert!((mcnemar_p(8, 0) - 1.0 / 256.0).abs() < 1e-12);
        assert!((mcnemar_p(3, 1) - 5.0 / 16.0).abs() < 1e-12);
        assert!((mcnemar_p(0, 4) - 1.0).abs() < 1e-12);
        assert_eq!(mcnemar_p(0, 0), 1.0);
        // n = 10, b = 8: (C(10,8) + C(10,9) + C(10,10)) / 1024 = 56 / 1024
        assert!((mcnemar_p(8, 2) - 56.0 / 1024.0).abs() < 1e-12);
        let p = mcnemar_p(600, 400);
        assert!(p > 0.0 && p < 1e-9, "{p}");
        // P(X ≤ 1), X ~ Bin(4, 0.3) = 0.7^4 + 4·0.3·0.7^3 = 0.2401 + 0.4116
        assert!((binomial_lower_tail(1, 4, 0.3) - 0.6517).abs() < 1e-12);
        assert_eq!(binomial_lower_tail(4, 4, 0.3), 1.0);
        // large n stays finite: 40,000 of 100,000 against p = 0.5 is astronomically unlikely
        let t = binomial_lower_tail(40_000, 100_000, 0.5);
        assert!((0.0..1e-300).contains(&t), "{t}");
        assert!((binomial_lower_tail(50_000, 100_000, 0.5) - 0.5).abs() < 0.01);
    }

    fn truth40() -> Vec<u32> {
        (0..40).map(|i| u32::from(i >= 20)).collect()
    }

    #[test]
    fn first_model_is_judged_against_trivial_baselines_for_any_class_count() {
        let pol = PromotionPolicy::default();
        let truth = truth40();
        let good = metrics(&truth, &truth);
        let b = Baselines::compute(&labels(), &[0.5, 0.5], &truth, &truth);
        assert_eq!(b.majority_macro_f1, metrics(&truth, &[0; 40]).macro_f1);
        assert!((b.stratified_macro_f1 - 0.5).abs() < 1e-12);
        let out = pol.decide(&good, &labels(), &b, None);
        assert_eq!(out.verdict, Verdict::Promote, "{}", out.reason);
        // a model no better than guessing is rejected, with the rule and its setting named
        let coin: Vec<u32> = (0..40).map(|i| (i % 2) as u32).collect();
        let b = Baselines::compute(&labels(), &[0.5, 0.5], &truth, &coin);
        let out = pol.decide(&metrics(&truth, &coin), &labels(), &b, None);
        assert_eq!(out.verdict, Verdict::Reject);
        assert!(
            out.reason
                .contains("baseline (POLARITY_PROMOTE_MARGIN=0.005)"),
            "{}",
            out.reason
        );
        assert!(
            out.reason.contains("baseline_mcnemar"),
            "every failed rule is listed: {}",
            out.reason
        );
        // three classes: a sound model clears the baselines although its macro-F1 is below 0.6
        let l3 = vec![
            "negative".to_string(),
            "neutral".to_string(),
            "positive".to_string(),
        ];
        let truth3: Vec<u32> = (0..300).map(|i| (i % 3) as u32).collect();
        let pred3: Vec<u32> = truth3
            .iter()
            .enumerate()
            .map(|(i, &t)| if i % 20 < 11 { t } else { (t + 1) % 3 })
            .collect();
        let m3 = Metrics::compute(&l3, &truth3, &pred3, &[0.5; 300]);
        assert!(m3.macro_f1 < 0.6, "{}", m3.macro_f1);
        let b3 = Baselines::compute(&l3, &[0.34, 0.33, 0.33], &truth3, &pred3);
        let out = pol.decide(&m3, &l3, &b3, None);
        assert_eq!(out.verdict, Verdict::Promote, "{}", out.reason);
        // an absolute floor is optional and, when set, named
        let strict = PromotionPolicy {
            floor: Some(0.6),
            ..pol
        };
        let out = strict.decide(&m3, &l3, &b3, None);
        assert!(
            out.reason.contains("floor (POLARITY_PROMOTE_FLOOR=0.6)"),
            "{}",
            out.reason
        );
    }

    #[test]
    fn candidate_must_win_by_margin_keep_recall_be_significant_and_keep_the_label_set() {
        let pol = PromotionPolicy::default();
        let truth = truth40();
        let mut prod_pred = truth.clone();
        for p in prod_pred.iter_mut().take(10) {
            *p = 1; // production misses 10 negatives
        }
        let prod = metrics(&truth, &prod_pred);
        let cand = metrics(&truth, &truth);
        let b = Baselines::compute(&labels(), &[0.5, 0.5], &truth, &truth);
        let l = labels();
        let against = |m: &Metrics, b_: u64, c_: u64, labels: &[String]| {
            pol.decide(
                &cand,
                &l,
                &b,
                Some(ProductionScores {
                    metrics: m,
                    paired: Paired {
                        candidate_only: b_,
                        production_only: c_,
                    },
                    labels,
                }),
            )
        };
        let out = against(&prod, 10, 0, &l);
        assert_eq!(out.verdict, Verdict::Promote, "{}", out.reason);
        let out = against(&prod, 3, 1, &l);
        assert_eq!(out.verdict, Verdict::Reject);
        assert!(
            out.reason.contains("mcnemar (POLARITY_PROMOTE_ALPHA=0.05)"),
            "{}",
            out.reason
        );
        let out = against(&cand, 0, 0, &l);
        assert!(out.reason.contains("margin"), "{}", out.reason);
        // a candidate that trades positive recall for negative recall fails the recall rule
        let mut trade = truth.clone();
        for p in trade.iter_mut().skip(20).take(4) {
            *p = 0;
        }
        let out = pol.decide(
            &metrics(&truth, &trade),
            &l,
            &b,
            Some(ProductionScores {
                metrics: &prod,
                paired: Paired {
                    candidate_only: 10,
                    production_only: 4,
                },
                labels: &l,
            }),
        );
        assert!(
            out.checks
                .iter()
                .any(|c| c.rule == "recall:positive" && !c.passed),
            "{:?}",
            out.checks
        );
        // another label set: held for a person, never promoted, even when better on every count
        let three = vec![
            "negative".to_string(),
            "neutral".to_string(),
            "positive".to_string(),
        ];
        let out = against(&prod, 10, 0, &three);
        assert_eq!(out.verdict, Verdict::Hold, "{}", out.reason);
        assert!(out.reason.contains("label_set"), "{}", out.reason);
    }
}
