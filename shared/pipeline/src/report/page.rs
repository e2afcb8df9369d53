//! The report page's markup, from maud's `html!`: every interpolated value is HTML-escaped unless it is
//! wrapped in `PreEscaped`, which only the stylesheet (a constant) and the charts (SVG that plotters drew and
//! escaped) are. The sections follow the module docs of [`super`].

use maud::{DOCTYPE, Markup, PreEscaped, html};
use polarity_core::logistic::ClassWeight;
use polarity_core::metrics::{ClassMetrics, Metrics};

use super::charts::{MOVE_COLORS, confusion_svg, reliability_svg, terms_svg, timeline_svg};
use super::{ClassTerms, ReportData, TIMELINE_ENTRIES, iso};

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;\
color:#1f2933;background:#f5f7fa}main{max-width:1100px;margin:0 auto;padding:24px}\
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.2em;margin:28px 0 8px;border-bottom:1px solid #d9e2ec;\
padding-bottom:4px}.sub{color:#52606d}.badge{display:inline-block;padding:2px 10px;border-radius:12px;\
font-size:.85em;font-weight:600;color:#fff;margin-left:8px;vertical-align:middle}\
.production,.promote{background:#2f855a}.retired{background:#718096}.rejected,.reject{background:#c53030}\
.held,.hold{background:#b7791f}.candidate{background:#2b6cb0}\
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.card{background:#fff;border-radius:8px;\
padding:12px 16px;min-width:130px;box-shadow:0 1px 2px rgba(0,0,0,.08)}.card b{display:block;\
font-size:1.5em}.card span{color:#52606d;font-size:.85em}.card span.badge{color:#fff}table{border-collapse:collapse;background:#fff;\
margin:8px 0;font-size:.92em}th,td{padding:5px 10px;border-bottom:1px solid #e4e7eb;text-align:left}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.pass{color:#2f855a;font-weight:600}\
.fail{color:#c53030;font-weight:600}.charts{display:flex;flex-wrap:wrap;gap:16px}\
.chart{background:#fff;border-radius:8px;padding:8px;box-shadow:0 1px 2px rgba(0,0,0,.08)}\
.note{color:#52606d;font-size:.88em;max-width:900px}code{background:#e4e7eb;padding:1px 4px;border-radius:3px}\
tr.this{font-weight:600}td.chosen{font-weight:700}";

/// `x` with four decimals; `–` for a number that is not finite (a record that lacks it).
fn f4(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        "–".into()
    }
}

/// Renders the page.
pub fn render(d: &ReportData) -> String {
    let metrics = d
        .decision
        .as_ref()
        .and_then(|x| x.candidate_metrics.clone())
        .or_else(|| d.card.as_ref().and_then(|c| c.metrics.clone()));
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                link rel="icon" href="data:,";
                title { "Polarity report " (d.record.version) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                main {
                    (header(d))
                    (headline(d, metrics.as_ref()))
                    @if let Some(m) = &metrics { (quality(d, m)) }
                    (terms(&d.top_terms))
                    (comparison(d))
                    (datasets(d))
                    (history(d))
                    (config(d))
                    p.note {
                        "Generated " (iso(d.generated_at)) " UTC by Polarity " (env!("CARGO_PKG_VERSION"))
                        ". Scores are on held-out rows the model never trained on; see docs/pipeline.md \
                         (Promotion rules) for what each rule means."
                    }
                }
            }
        }
    }
    .into_string()
}

fn header(d: &ReportData) -> Markup {
    let r = &d.record;
    html! {
        h1 { "Model " (r.version) span class={ "badge " (d.status.as_str()) } { (d.status.as_str()) } }
        div.sub {
            "created " (iso(r.created_at)) " UTC · classes " (r.labels.join(", "))
            " · production now: " (d.production.as_deref().unwrap_or("none"))
            @if let Some(p) = &r.parent { " · trained while " (p) " was in production" }
        }
    }
}

fn card(value: &str, what: &str) -> Markup {
    html! { div.card { b { (value) } span { (what) } } }
}

fn headline(d: &ReportData, m: Option<&Metrics>) -> Markup {
    let source = if d.decision.is_some() {
        "the held-out rows of every active dataset when it was validated (the rows production was scored on too)"
    } else {
        "its own held-out rows when it was trained (it has no decision record yet)"
    };
    html! {
        div.cards {
            @if let Some(m) = m {
                (card(&f4(m.macro_f1), "macro-F1"))
                (card(&f4(m.accuracy), "accuracy"))
                (card(&f4(m.log_loss), "log loss"))
                (card(&m.n.to_string(), "held-out rows"))
            }
            @if let Some(c) = d.decision.as_ref().and_then(|x| x.calibration.as_ref()) {
                (card(&f4(c.ece), "expected calibration error"))
            }
            @if let Some(x) = &d.decision {
                div.card {
                    b { span class={ "badge " (x.verdict.as_str()) } { (x.verdict.as_str()) } }
                    span { "validation verdict" }
                }
            }
        }
        p.note { "Scores on " (source) "." }
    }
}

/// The per-class rows of `m` in the model's class order (the order of its confusion matrix; `labels`: the
/// model's classes, for records that did not keep the order).
pub(super) fn per_class_in_order<'a>(
    m: &'a Metrics,
    labels: &[String],
) -> Vec<(String, &'a ClassMetrics)> {
    let mut names = m.class_order(labels);
    names.extend(
        m.per_class
            .keys()
            .filter(|k| !names.contains(k))
            .cloned()
            .collect::<Vec<_>>(),
    );
    names
        .into_iter()
        .filter_map(|n| m.per_class.get(&n).map(|c| (n, c)))
        .collect()
}

/// A chart's SVG (drawn and escaped by plotters) in its frame.
fn chart(svg: &str) -> Markup {
    html! { div.chart { (PreEscaped(svg)) } }
}

fn quality(d: &ReportData, m: &Metrics) -> Markup {
    let production_calibration = d.decision.as_ref().and_then(|x| {
        x.production_calibration
            .as_ref()
            .zip(x.production.as_deref())
    });
    html! {
        h2 { "Per-class precision, recall and F1" }
        table {
            tr { th { "class" } th.n { "precision" } th.n { "recall" } th.n { "F1" } th.n { "support" } }
            @for (name, c) in per_class_in_order(m, &d.record.labels) {
                tr {
                    td { (name) }
                    td.n { (f4(c.precision)) } td.n { (f4(c.recall)) } td.n { (f4(c.f1)) } td.n { (c.support) }
                }
            }
            tr { th { "macro average" } td {} td {} td.n { (f4(m.macro_f1)) } td.n { (m.n) } }
            tr { th { "weighted average" } td {} td {} td.n { (f4(m.weighted_f1)) } td {} }
        }
        h2 { "Confusion matrix and reliability" }
        div.charts {
            (chart(&confusion_svg(&m.class_order(&d.record.labels), &m.confusion)))
            @if let Some(c) = d.decision.as_ref().and_then(|x| x.calibration.as_ref()) {
                (chart(&reliability_svg(c, production_calibration)))
            }
        }
        p.note {
            "Confusion matrix: rows are the true class, columns the predicted class, shaded by the share of \
             the row. Reliability: each point is a bin of rows by the model's top-class probability; a \
             calibrated model lies on the diagonal (its confidence equals its accuracy), points below it are \
             over-confident. Marker size follows the bin's share of rows."
        }
    }
}

fn terms(top: &[ClassTerms]) -> Markup {
    html! {
        @if !top.is_empty() {
            h2 { "Top n-grams per class" }
            div.charts {
                @for t in top.iter().filter(|t| !t.terms.is_empty()) { (chart(&terms_svg(t))) }
            }
            p.note {
                "The vocabulary entries with the largest logistic-regression weights towards each class: the \
                 model's global evidence, before a text's TF-IDF scaling."
            }
        }
    }
}

fn comparison(d: &ReportData) -> Markup {
    let Some(x) = &d.decision else {
        return html! { h2 { "Decision" } p { "Not validated yet." } };
    };
    let c = &x.candidate_scores;
    html! {
        h2 { "Decision" }
        p { span class={ "badge " (x.verdict.as_str()) } { (x.verdict.as_str()) } " " (x.reason) }
        p.note {
            "Judged " (iso(x.at)) " UTC on " (x.eval_rows) " held-out rows of " (x.eval_datasets.join(", "))
            @if x.promoted { "; promoted to production" }
            "."
        }
        @match (&x.production, &x.production_scores) {
            (Some(p), Some(ps)) => {
                table {
                    tr {
                        th { "on the same " (x.eval_rows) " rows" }
                        th.n { "candidate " (x.version) }
                        th.n { "production " (p) }
                        th.n { "difference" }
                    }
                    (compare_row("macro-F1", c.macro_f1, ps.macro_f1))
                    (compare_row("accuracy", c.accuracy, ps.accuracy))
                    @for (class, r) in &c.recall {
                        @if let Some(pr) = ps.recall.get(class) {
                            (compare_row(&format!("recall of {class}"), *r, *pr))
                        }
                    }
                    @if let (Some(cm), Some(pm)) = (&x.candidate_metrics, &x.production_metrics) {
                        (compare_row("log loss (lower is better)", cm.log_loss, pm.log_loss))
                    }
                }
                @if let Some(pa) = &x.paired {
                    p {
                        "Paired on the same rows: " (pa.candidate_only) " rows only the candidate classifies \
                         correctly, " (pa.production_only) " only production does"
                        @if let Some(pv) = x.p_value { "; one-sided McNemar p = " (crate::policy::show_p(pv)) }
                        "."
                    }
                }
            }
            _ => p { "There was no production model to compare with." }
        }
        @if let Some(b) = &x.baselines {
            p.note {
                "Baselines on the same rows: always \u{201c}" (b.majority_class) "\u{201d} scores macro-F1 "
                (f4(b.majority_macro_f1)) " (accuracy " (f4(b.majority_accuracy)) "); guessing at the training \
                 prior scores " (f4(b.stratified_macro_f1)) " in expectation."
            }
        }
        table {
            tr { th { "rule" } th { "result" } th { "numbers" } th { "setting" } }
            @for check in &x.checks {
                tr {
                    td { (check.rule) }
                    @if check.passed { td.pass { "passed" } } @else { td.fail { "failed" } }
                    td { (check.detail) }
                    td { @if let Some(s) = &check.setting { code { (s) } } }
                }
            }
        }
        @if !x.converged { p.fail { "The fit did not converge within its iteration limit." } }
    }
}

fn compare_row(what: &str, a: f64, b: f64) -> Markup {
    let diff = a - b;
    html! {
        tr {
            td { (what) } td.n { (f4(a)) } td.n { (f4(b)) }
            td.n { @if diff.is_finite() { (format!("{diff:+.4}")) } @else { "–" } }
        }
    }
}

fn counts(c: &std::collections::BTreeMap<String, u64>) -> String {
    c.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn datasets(d: &ReportData) -> Markup {
    html! {
        h2 { "Trained on" }
        @if let Some(card) = &d.card {
            table {
                tr {
                    th { "name" } th { "file" } th { "uploaded (UTC)" } th { "dataset" } th.n { "train rows" }
                    th { "train classes" } th.n { "held-out rows" } th { "held-out classes" }
                }
                @for ds in &card.datasets {
                    tr {
                        td { (ds.name) } td { (ds.file_name) } td { (iso(ds.uploaded_at)) } td { code { (ds.dataset) } }
                        td.n { (ds.train.values().sum::<u64>()) } td { (counts(&ds.train)) }
                        td.n { (ds.test.values().sum::<u64>()) } td { (counts(&ds.test)) }
                    }
                }
            }
            p.note { "Training data digest " code { (card.data_digest) } "." }
        } @else {
            p { "Datasets " (d.record.datasets.join(", ")) " (no model card in the store)." }
        }
    }
}

fn history(d: &ReportData) -> Markup {
    if d.history.is_empty() {
        return html! { h2 { "Promotion history" } p { "No version has been in production yet." } };
    }
    let from = d.history.len().saturating_sub(TIMELINE_ENTRIES);
    let shown = &d.history[from..];
    html! {
        h2 { "Promotion history" }
        (chart(&timeline_svg(shown, &d.record.version, d.generated_at)))
        p.note {
            "Bars: the periods each version was in production (this one in blue). Moves: "
            @for (i, (kind, c)) in MOVE_COLORS.iter().enumerate() {
                @if i > 0 { ", " }
                span style={ "color:rgb(" (c.0) "," (c.1) "," (c.2) ")" } { "●" } " " (kind.as_str())
            }
            "."
        }
        table {
            tr { th.n { "#" } th { "when (UTC)" } th { "move" } th { "from" } th { "to" } th { "reason" } }
            @for e in d.history.iter().rev() {
                tr class=[(e.to == d.record.version).then_some("this")] {
                    td.n { (e.seq) } td { (iso(e.at)) } td { (e.kind.as_str()) }
                    td { (e.from.as_deref().unwrap_or("-")) } td { (e.to) } td { (e.reason) }
                }
            }
        }
    }
}

fn config(d: &ReportData) -> Markup {
    let Some(card) = &d.card else {
        return html! {};
    };
    let c = &card.config;
    html! {
        h2 { "Training" }
        table {
            tr { td { "n-grams" } td { (c.tfidf.ngram_min) "–" (c.tfidf.ngram_max) } }
            tr { td { "max features" } td { (c.tfidf.max_features.map_or_else(|| "unlimited".to_string(), |n| n.to_string())) } }
            tr { td { "min df / max df" } td { (c.tfidf.min_df) " / " (c.tfidf.max_df) } }
            tr { td { "sublinear tf" } td { (c.tfidf.sublinear_tf) } }
            tr { td { "C" } td { (c.logistic.c) } }
            tr { td { "class weight" } td { (c.logistic.class_weight.as_str()) } }
            tr {
                td { "fit" }
                td {
                    (card.fit.iterations) " iterations, " (card.fit.evaluations) " evaluations, "
                    @if card.fit.converged { "converged" } @else { "did not converge" }
                }
            }
            tr {
                td { "Polarity" }
                td { (card.polarity_version) @if let Some(s) = &card.git_sha { " (" code { (s) } ")" } }
            }
        }
        @if let Some(t) = &card.tuning {
            @let columns: Vec<(bool, ClassWeight)> = t.grid.sublinear_tf.iter().flat_map(|&s| t.grid.class_weight.iter().map(move |&w| (s, w))).collect();
            p {
                "C, sublinear tf and class weights were tuned by " (t.grid.folds) "-fold cross-validation"
                @if t.repeats > 1 { " (" (t.repeats) " times, with differently drawn folds)" }
                " on the " (t.rows) " training rows (" code { "--tune" } "), keeping the starting settings unless another was better by more than one standard error of its paired gains"
                @if let Some(b) = &t.baseline {
                    ": " @if t.kept_baseline() { "kept" } @else { "replaced" } " C " (b.c) ", sublinear tf " (b.sublinear_tf)
                    ", class weight " (b.class_weight.as_str())
                }
                ". Mean macro-F1 per setting (bold: chosen):"
            }
            table {
                tr { th { "C" } @for (s, w) in &columns { th.n { "sublinear tf " (s) ", " (w.as_str()) } } }
                @for cv in &t.grid.c {
                    tr {
                        td { (cv) }
                        @for (s, w) in &columns {
                            @let score = t.scores.iter().find(|x| x.c == *cv && x.sublinear_tf == *s && x.class_weight == *w).map_or(f64::NAN, |x| x.macro_f1);
                            td.n.chosen[*cv == t.c && *s == t.sublinear_tf && *w == t.class_weight] { (f4(score)) }
                        }
                    }
                }
            }
        }
    }
}
