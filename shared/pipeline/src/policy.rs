//! The promotion policy, written once. A candidate replaces production only when, on the **same** held-out
//! rows, it
//! 1. reaches the absolute floor on macro-F1 (`floor`);
//! 2. beats production's macro-F1 by at least `margin`;
//! 3. loses no more than `max_recall_drop` of recall on any class production knows;
//! 4. is better in a paired, one-sided exact McNemar test at level `alpha`: with `b` rows only the
//!    candidate gets right and `c` rows only production gets right, under "no difference" `b` follows
//!    Binomial(`b + c`, ½), and `p = P(X ≥ b) = Σ_{k=b}^{b+c} C(b+c, k) / 2^(b+c)` must be below `alpha`.
//!
//! With no production model, rule 1 alone decides.

use polarity_core::metrics::Metrics;
use serde::{Deserialize, Serialize};

/// Thresholds of the promotion rules (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PromotionPolicy {
    /// Macro-F1 the candidate must gain over production.
    pub margin: f64,
    /// Macro-F1 every promoted model must reach.
    pub floor: f64,
    /// Largest allowed drop of any class's recall.
    pub max_recall_drop: f64,
    /// Significance level of the paired test.
    pub alpha: f64,
}

impl Default for PromotionPolicy {
    fn default() -> Self {
        Self {
            margin: 0.005,
            floor: 0.6,
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
    /// Rows only production classifies correctly (`c`).
    pub production_only: u64,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Put the candidate in production.
    Promote,
    /// Keep production.
    Reject,
    /// Would be promoted, but the registry is frozen.
    Hold,
}

impl Verdict {
    /// Stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Promote => "promote",
            Self::Reject => "reject",
            Self::Hold => "hold",
        }
    }
}

/// One rule's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Rule name: `floor`, `margin`, `recall:<class>`, `mcnemar`.
    pub rule: String,
    /// Whether it passed.
    pub passed: bool,
    /// The numbers behind it.
    pub detail: String,
}

/// What the policy decided and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyOutcome {
    /// Promote or reject.
    pub verdict: Verdict,
    /// One sentence: the first failed rule, or why it passed.
    pub reason: String,
    /// Every rule evaluated.
    pub checks: Vec<Check>,
    /// One-sided McNemar p-value (when there is a production model).
    pub p_value: Option<f64>,
}

/// One-sided exact McNemar p-value `P(X ≥ b)`, `X ~ Binomial(b + c, ½)`; 1 when `b + c = 0`.
pub fn mcnemar_p(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let mut ln_fact = Vec::with_capacity(n as usize + 1);
    ln_fact.push(0.0f64);
    for i in 1..=n {
        ln_fact.push(ln_fact[i as usize - 1] + (i as f64).ln());
    }
    let ln_half_n = n as f64 * 0.5f64.ln();
    let p: f64 = (b..=n)
        .map(|k| {
            (ln_fact[n as usize] - ln_fact[k as usize] - ln_fact[(n - k) as usize] + ln_half_n)
                .exp()
        })
        .sum();
    p.min(1.0)
}

impl PromotionPolicy {
    /// Decides on a candidate scored on the same rows as production (`None`: no production model yet).
    pub fn decide(
        &self,
        candidate: &Metrics,
        production: Option<(&Metrics, Paired)>,
    ) -> PolicyOutcome {
        let mut checks = vec![Check {
            rule: "floor".into(),
            passed: candidate.macro_f1 >= self.floor,
            detail: format!(
                "macro-F1 {:.4} vs floor {:.4}",
                candidate.macro_f1, self.floor
            ),
        }];
        let mut p_value = None;
        if let Some((prod, paired)) = production {
            let gain = candidate.macro_f1 - prod.macro_f1;
            checks.push(Check {
                rule: "margin".into(),
                passed: gain >= self.margin,
                detail: format!(
                    "macro-F1 {:.4} vs production {:.4}: gain {gain:+.4}, need {:+.4}",
                    candidate.macro_f1, prod.macro_f1, self.margin
                ),
            });
            for (class, pm) in &prod.per_class {
                if pm.support == 0 {
                    continue;
                }
                let cr = candidate.per_class.get(class).map_or(0.0, |m| m.recall);
                let drop = pm.recall - cr;
                checks.push(Check {
                    rule: format!("recall:{class}"),
                    passed: drop <= self.max_recall_drop + 1e-12,
                    detail: format!(
                        "recall {cr:.4} vs production {:.4}: drop {drop:+.4}, allowed {:.4}",
                        pm.recall, self.max_recall_drop
                    ),
                });
            }
            let p = mcnemar_p(paired.candidate_only, paired.production_only);
            p_value = Some(p);
            checks.push(Check {
                rule: "mcnemar".into(),
                passed: p < self.alpha,
                detail: format!(
                    "{} rows only the candidate gets right, {} only production: one-sided p = {p:.4}, need < {}",
                    paired.candidate_only, paired.production_only, self.alpha
                ),
            });
        }
        let (verdict, reason) = match checks.iter().find(|c| !c.passed) {
            Some(failed) => (
                Verdict::Reject,
                format!("rejected by rule {}: {}", failed.rule, failed.detail),
            ),
            None if production.is_none() => (
                Verdict::Promote,
                format!("first model; {}", checks[0].detail),
            ),
            None => (
                Verdict::Promote,
                format!("passes every rule; {}", checks[1].detail),
            ),
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

    fn metrics(truth: &[u32], pred: &[u32]) -> Metrics {
        let labels = vec!["negative".to_string(), "positive".to_string()];
        Metrics::compute(&labels, truth, pred, &vec![0.5; truth.len()])
    }

    #[test]
    fn mcnemar_matches_hand_computed_binomial_tails() {
        assert!((mcnemar_p(8, 0) - 1.0 / 256.0).abs() < 1e-12);
        assert!((mcnemar_p(3, 1) - 5.0 / 16.0).abs() < 1e-12);
        assert!((mcnemar_p(0, 4) - 1.0).abs() < 1e-12);
        assert_eq!(mcnemar_p(0, 0), 1.0);
        // n = 10, b = 8: (C(10,8) + C(10,9) + C(10,10)) / 1024 = 56 / 1024
        assert!((mcnemar_p(8, 2) - 56.0 / 1024.0).abs() < 1e-12);
        // large n stays finite and symmetric-ish
        let p = mcnemar_p(600, 400);
        assert!(p > 0.0 && p < 1e-9, "{p}");
    }

    #[test]
    fn first_model_needs_only_the_floor() {
        let pol = PromotionPolicy::default();
        let good = metrics(&[0, 0, 1, 1], &[0, 0, 1, 1]);
        assert_eq!(pol.decide(&good, None).verdict, Verdict::Promote);
        let bad = metrics(&[0, 0, 1, 1], &[1, 1, 1, 1]);
        let out = pol.decide(&bad, None);
        assert_eq!(out.verdict, Verdict::Reject);
        assert!(out.reason.contains("floor"), "{}", out.reason);
    }

    #[test]
    fn candidate_must_win_by_margin_keep_recall_and_be_significant() {
        let pol = PromotionPolicy::default();
        // 40 rows, 20 per class
        let truth: Vec<u32> = (0..40).map(|i| u32::from(i >= 20)).collect();
        let mut prod_pred = truth.clone();
        for p in prod_pred.iter_mut().take(10) {
            *p = 1; // production misses 10 negatives
        }
        let prod = metrics(&truth, &prod_pred);
        // candidate fixes all of them: b = 10, c = 0, p = 1/1024
        let cand = metrics(&truth, &truth);
        let out = pol.decide(
            &cand,
            Some((
                &prod,
                Paired {
                    candidate_only: 10,
                    production_only: 0,
                },
            )),
        );
        assert_eq!(out.verdict, Verdict::Promote, "{}", out.reason);
        // the same scores but a noisy pairing (b = 12, c = 2... p ≈ 0.0065) still pass; b = 3, c = 1 does not
        let out = pol.decide(
            &cand,
            Some((
                &prod,
                Paired {
                    candidate_only: 3,
                    production_only: 1,
                },
            )),
        );
        assert_eq!(out.verdict, Verdict::Reject);
        assert!(out.reason.contains("mcnemar"), "{}", out.reason);
        // a candidate that trades positive recall for negative recall fails the recall rule
        let mut trade = truth.clone();
        for p in trade.iter_mut().skip(20).take(4) {
            *p = 0;
        }
        let out = pol.decide(
            &metrics(&truth, &trade),
            Some((
                &prod,
                Paired {
                    candidate_only: 10,
                    production_only: 4,
                },
            )),
        );
        assert_eq!(out.verdict, Verdict::Reject);
        assert!(
            out.checks
                .iter()
                .any(|c| c.rule == "recall:positive" && !c.passed),
            "{:?}",
            out.checks
        );
        // equal models never pass the margin
        let out = pol.decide(&prod, Some((&prod, Paired::default())));
        assert_eq!(out.verdict, Verdict::Reject);
        assert!(out.reason.contains("margin"), "{}", out.reason);
    }
}
