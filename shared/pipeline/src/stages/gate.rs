//! The label-noise gate: before a new dataset is trained on, it is judged against what we already know.
//! A dataset that fails is held (left out of training and of the held-out rows) until an operator runs
//! `polarity dataset include` (or `exclude`). Each row of the upload is one of:
//!
//! * **known**: its cleaned text is already in the active data. Its label is compared with the one it has
//!   there (newest upload wins, so passing would relabel it). The dataset is held when it changes more
//!   than `max_changed` of its known rows: a re-upload may not quietly rewrite training or held-out labels.
//!   Corrections are a person's call (`dataset include` accepts them).
//! * **fresh**, with one of production's classes: scored by the production model. With clean labels they
//!   agree with production about as often as production is right on held-out data (accuracy `a`); each
//!   wrong label (another of the `K` classes, uniformly) lowers the expected agreement by
//!   `d = a − (1 − a)/(K − 1)` per row, so a share `f` of wrong labels gives `a − f·d`. The dataset is held
//!   when its agreement `k/n` over `n` fresh rows is significantly below `p0 = a − max_noise·d`, the
//!   agreement the tolerated share of wrong labels would give: a one-sided test, `Φ(z) < alpha` for
//!   `z = (k/n − p0) / √(p0(1 − p0)/n + c²·a(1 − a)/m)`, whose variance counts both the upload's `n` rows
//!   and the `m` held-out rows `a` was measured on (`c = ∂p0/∂a`): a model judged on few rows has a vague
//!   `a`, and a clean upload must not be held for it.
//!   Measuring noise as a share of rows, not agreement, makes the tolerance mean the same for a strong
//!   two-class model and a weak three-class one.
//!   Known rows are left out of this test: production trained on them, so they would inflate agreement.
//! * **a new class** (a label production does not have): the dataset is held with the class and its row
//!   count. A new class is a decision for a person, never a row silently skipped.
//!
//! What it cannot catch: noise that production shares (labels flipped where production is also wrong),
//! a share of wrong fresh labels near `max_noise` or a small upload (the test needs evidence), a drop in
//! agreement for another reason (clean data from another domain is held: a person decides), and changes to fewer than `max_changed` of the known
//! rows (those pass, and the decision records which held-out labels they changed).

use std::collections::HashMap;

use polarity_core::Classifier;
use polarity_core::model::{PredictScratch, argmax};
use polarity_core::prepare::PreparedRow;
use polarity_core::reader::quoted;

use crate::policy::{binomial_lower_tail, normal_lower_tail, show_p};
use crate::records::{ClassCounts, GateResult, GateSettings, LabelChange};

/// Changes quoted in a gate result.
const EXAMPLES: usize = 3;
/// Characters of an example's text kept.
const EXAMPLE_CHARS: usize = 60;

/// The label the active data gives each cleaned text, and whether that row is held out.
#[derive(Debug, Default)]
pub struct Known {
    labels: HashMap<String, (String, bool)>,
}

impl Known {
    /// From the active data's training and held-out rows (each merged, newest upload winning).
    pub fn new(train: Vec<PreparedRow>, test: Vec<PreparedRow>) -> Self {
        let mut labels = HashMap::with_capacity(train.len() + test.len());
        for (rows, held_out) in [(train, false), (test, true)] {
            for r in rows {
                labels.insert(r.clean, (r.label, held_out));
            }
        }
        Self { labels }
    }

    /// True when there is no active data.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The production model the fresh rows are scored with.
pub struct Production<'a> {
    /// Its version.
    pub version: &'a str,
    /// The model.
    pub model: &'a Classifier,
    /// Its held-out accuracy.
    pub accuracy: f64,
    /// The number of held-out rows that accuracy was measured on.
    pub held_out: u64,
}

/// Judges `rows` (module docs) against `known` and, when there is one, production. `None` when there is
/// neither (the first dataset: nothing to judge against).
pub fn judge(
    dataset: &str,
    production: Option<Production<'_>>,
    known: &Known,
    rows: &[PreparedRow],
    settings: GateSettings,
) -> Option<GateResult> {
    if production.is_none() && known.is_empty() {
        return None;
    }
    let mut s = PredictScratch::default();
    let (mut n, mut k) = (0u64, 0u64);
    let (mut n_known, mut changed, mut changed_held_out) = (0u64, 0u64, 0u64);
    let mut examples = Vec::new();
    let mut new_classes = ClassCounts::new();
    for r in rows {
        if let Some((label, held_out)) = known.labels.get(&r.clean) {
            n_known += 1;
            if *label != r.label {
                changed += 1;
                changed_held_out += u64::from(*held_out);
                if examples.len() < EXAMPLES {
                    examples.push(LabelChange {
                        text: r.text.chars().take(EXAMPLE_CHARS).collect(),
                        from: label.clone(),
                        to: r.label.clone(),
                    });
                }
            }
            continue;
        }
        let Some(p) = &production else { continue };
        let Some(truth) = p.model.labels().iter().position(|l| *l == r.label) else {
            *new_classes.entry(r.label.clone()).or_insert(0) += 1;
            continue;
        };
        p.model.predict_into(&r.text, &mut s); // cleaned with the model's own settings
        n += 1;
        k += u64::from(argmax(&s.probs) == truth);
    }
    let expected = production.as_ref().map_or(0.0, |p| p.accuracy);
    let agreement = if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let classes = production
        .as_ref()
        .map_or(2, |p| p.model.labels().len())
        .max(2) as f64;
    let per_wrong = (expected - (1.0 - expected) / (classes - 1.0)).max(0.0);
    let p0 = (expected - settings.max_noise * per_wrong).clamp(0.0, 1.0);
    let noise = if per_wrong > 0.0 && n > 0 {
        ((expected - agreement) / per_wrong).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let held_out = production.as_ref().map_or(0, |p| p.held_out);
    let slope = 1.0 - settings.max_noise * (1.0 + 1.0 / (classes - 1.0));
    let variance = p0 * (1.0 - p0) / n.max(1) as f64
        + if held_out > 0 {
            slope * slope * expected * (1.0 - expected) / held_out as f64
        } else {
            0.0
        };
    let p_value = if n == 0 {
        1.0
    } else if variance > 0.0 {
        normal_lower_tail((agreement - p0) / variance.sqrt())
    } else {
        binomial_lower_tail(k, n, p0)
    };
    let noisy = p_value < settings.alpha;
    let relabels = changed > 0 && changed as f64 > settings.max_changed * n_known as f64;

    let mut found = Vec::new();
    let mut held_for = Vec::new();
    if let Some(p) = &production {
        let test = if n == 0 {
            format!(
                "no fresh rows with production {}'s classes to score",
                p.version
            )
        } else {
            format!(
                "fresh rows agree with production {} on {agreement:.4} of {n}, against its held-out accuracy {expected:.4} on {held_out} rows \
                 (about {:.0}% of the labels look wrong); at most POLARITY_GATE_MAX_NOISE={} wrong would give agreement ≥ {p0:.4}: \
                 one-sided p = {}, {} POLARITY_GATE_ALPHA={}",
                p.version,
                noise * 100.0,
                settings.max_noise,
                show_p(p_value),
                if noisy { "below" } else { "not below" },
                settings.alpha
            )
        };
        (if noisy { &mut held_for } else { &mut found }).push(test);
    }
    let changes = format!(
        "it changes the label of {changed} of its {n_known} rows the active data already has ({} held out; \
         POLARITY_GATE_MAX_CHANGED={}){}",
        changed_held_out,
        settings.max_changed,
        if examples.is_empty() {
            String::new()
        } else {
            let shown: Vec<String> = examples
                .iter()
                .map(|e| format!("{} {} → {}", quoted(&e.text), e.from, e.to))
                .collect();
            format!(", e.g. {}", shown.join("; "))
        }
    );
    (if relabels { &mut held_for } else { &mut found }).push(changes);
    if !new_classes.is_empty() {
        let list: Vec<String> = new_classes
            .iter()
            .map(|(c, n)| format!("{} ({n} rows)", quoted(c)))
            .collect();
        held_for.push(format!(
            "it brings classes production does not have: {}; including it makes every later candidate \
             change the label set, which is held for a person until `polarity registry promote`",
            list.join(", ")
        ));
    }
    let held = !held_for.is_empty();
    let reason = if held {
        let mut r = format!("held by the label-noise gate: {}", held_for.join("; "));
        if !found.is_empty() {
            r.push_str(&format!(" (also: {})", found.join("; ")));
        }
        r.push_str(&format!(
            "; `polarity dataset include {dataset}` trains on it anyway, `polarity dataset exclude {dataset}` \
             drops it (`polarity dataset show {dataset}` for details)"
        ));
        r
    } else {
        format!("passed the label-noise gate: {}", found.join("; "))
    };
    Some(GateResult {
        production: production
            .map(|p| p.version.to_string())
            .unwrap_or_default(),
        rows: n,
        agreeing: k,
        agreement,
        expected,
        settings,
        p_value,
        known: n_known,
        changed,
        changed_held_out,
        examples,
        new_classes,
        held,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str, label: &str) -> PreparedRow {
        PreparedRow {
            text: text.into(),
            clean: text.into(),
            label: label.into(),
        }
    }

    #[test]
    fn known_rows_are_compared_with_their_current_label_not_scored() {
        let train: Vec<PreparedRow> = (0..100).map(|i| row(&format!("t{i}"), "a")).collect();
        let test: Vec<PreparedRow> = (0..100).map(|i| row(&format!("h{i}"), "a")).collect();
        let known = Known::new(train, test);
        let settings = GateSettings::default();
        // a clean re-upload changes nothing and passes, without a production model to score with
        let same: Vec<PreparedRow> = (0..100).map(|i| row(&format!("t{i}"), "a")).collect();
        let g = judge("d1", None, &known, &same, settings).unwrap();
        assert!(!g.held && g.known == 100 && g.changed == 0, "{g:?}");
        // 20% relabelled (half of them held out) is held, and says how many and which
        let mut noisy: Vec<PreparedRow> = (0..80).map(|i| row(&format!("t{i}"), "a")).collect();
        noisy.extend((0..10).map(|i| row(&format!("t{}", 80 + i), "b")));
        noisy.extend((0..10).map(|i| row(&format!("h{i}"), "b")));
        let g = judge("d1", None, &known, &noisy, settings).unwrap();
        assert!(
            g.held && g.changed == 20 && g.changed_held_out == 10,
            "{g:?}"
        );
        assert_eq!(g.examples.len(), EXAMPLES);
        assert!(
            g.reason.contains("20 of its 100")
                && g.reason.contains("\"t80\" a → b")
                && g.reason.contains("dataset include d1")
                && g.reason.contains("dataset exclude"),
            "{}",
            g.reason
        );
        // one change in a hundred is within POLARITY_GATE_MAX_CHANGED
        let mut one = same.clone();
        one[0].label = "b".into();
        assert!(!judge("d1", None, &known, &one, settings).unwrap().held);
        // nothing to judge against: no verdict
        assert!(judge("d1", None, &Known::default(), &same, settings).is_none());
    }
}
