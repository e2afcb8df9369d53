//! The label-noise gate: before a new dataset is trained on, the production model scores it. Its labels
//! should agree with production about as often as production is right on held-out data; a dataset whose
//! agreement is far below that is held (left out of training and of the held-out rows) until an operator
//! runs `polarity dataset include`.
//!
//! "Far below" is a one-sided exact binomial test, not a fixed threshold: with `n` rows of production's
//! classes, `k` of them agreeing, production's held-out accuracy `a` and the tolerance `margin`, the
//! dataset is held when `P(X ≤ k) < alpha` for `X ~ Binomial(n, a − margin)`, i.e. when agreement this low
//! is unlikely for labels no noisier than `margin` below production's own accuracy. A small dataset needs
//! a larger shortfall to be held than a big one.

use polarity_core::Classifier;
use polarity_core::model::{PredictScratch, argmax};
use polarity_core::prepare::PreparedRow;

use crate::policy::{binomial_lower_tail, show_p};
use crate::records::{GateResult, GateSettings};

/// Scores `rows` with the production model and applies the test (module docs). `None` when no row has
/// one of production's classes (nothing to compare).
pub fn judge(
    production: &str,
    model: &Classifier,
    expected: f64,
    rows: &[PreparedRow],
    settings: GateSettings,
) -> Option<GateResult> {
    let labels = model.labels();
    let mut s = PredictScratch::default();
    let (mut n, mut k) = (0u64, 0u64);
    for r in rows {
        let Some(truth) = labels.iter().position(|l| *l == r.label) else {
            continue;
        };
        model.predict_into(&r.text, &mut s); // cleaned with the model's own settings
        n += 1;
        k += u64::from(argmax(&s.probs) == truth);
    }
    if n == 0 {
        return None;
    }
    let agreement = k as f64 / n as f64;
    let p0 = (expected - settings.margin).clamp(0.0, 1.0);
    let p_value = binomial_lower_tail(k, n, p0);
    let held = p_value < settings.alpha;
    let reason = format!(
        "label agreement with production {production} is {agreement:.4} on {n} rows, against its held-out accuracy {expected:.4}: \
         one-sided binomial p = {} for agreement ≥ {p0:.4} (POLARITY_GATE_MARGIN={}), {} POLARITY_GATE_ALPHA={}",
        show_p(p_value),
        settings.margin,
        if held { "below" } else { "not below" },
        settings.alpha
    );
    Some(GateResult {
        production: production.to_string(),
        rows: n,
        agreeing: k,
        agreement,
        expected,
        settings,
        p_value,
        held,
        reason: if held {
            format!(
                "held by the label-noise gate: {reason}; `polarity dataset include` trains on it anyway"
            )
        } else {
            format!("passed the label-noise gate: {reason}")
        },
    })
}
