//! A version's report page: one self-contained HTML file (inline CSS, charts as inline SVG drawn by
//! plotters; no scripts, and nothing fetched from anywhere) with the held-out metrics, per-class
//! precision/recall/F1, the confusion matrix as a heat map, the reliability diagram, the top n-grams per
//! class, the comparison with the production model it was judged against **on the same rows** (decision,
//! paired counts, every rule), the datasets it was trained on, and the promotion history as a timeline.
//!
//! [`load`] gathers a [`ReportData`] from the store and the registry; [`render`] is a pure function of it.
//! The validate stage writes the page beside the model (`crate::layout::REPORT`); `polarity report`
//! writes it anywhere.

use std::fmt::Write as _;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use polarity_core::Classifier;
use polarity_core::metrics::{Calibration, ClassMetrics, Metrics};

use crate::artifacts::load_verified;
use crate::error::PipelineError;
use crate::layout;
use crate::records::clock::now_secs;
use crate::records::{Decision, ModelCard};
use crate::registry::{
    HistoryEntry, Registry, RegistryError, TransitionKind, VersionRecord, VersionStatus, status_of,
};
use crate::store::ObjectStore;
use crate::stored::read_json;

/// N-grams listed per class.
pub(crate) const TOP_TERMS: usize = 15;

/// History entries drawn on the timeline (the most recent).
pub(crate) const TIMELINE_ENTRIES: usize = 40;

/// One class's strongest n-grams with their weights.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassTerms {
    /// Class name.
    pub class: String,
    /// N-grams and weights, strongest first.
    pub terms: Vec<(String, f64)>,
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// The version's registry record.
    pub record: VersionRecord,
    /// Where it stands.
    pub status: VersionStatus,
    /// The production version now.
    pub production: Option<String>,
    /// Its model card, when the store has it.
    pub card: Option<ModelCard>,
    /// Its decision record, when it was validated.
    pub decision: Option<Decision>,
    /// The production pointer's history, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Top n-grams per class.
    pub top_terms: Vec<ClassTerms>,
    /// When the page was made, seconds since the Unix epoch.
    pub generated_at: u64,
}

/// Gathers a version's report data; `model` is its verified artifact.
///
/// # Errors
/// Store and registry errors; a card or decision record that does not parse is [`PipelineError::Corrupt`].
pub async fn gather(
    store: &dyn ObjectStore,
    registry: &dyn Registry,
    record: VersionRecord,
    model: &Classifier,
) -> Result<ReportData, PipelineError> {
    let card = read_json::<ModelCard>(store, &record.card_key).await?;
    let decision = read_json::<Decision>(store, &layout::decision(&record.version)).await?;
    let state = registry.pointer().await?;
    let history = registry.history().await?;
    let status = status_of(
        &state,
        &history,
        &record.version,
        decision.as_ref().map(|d| d.verdict),
    );
    let top_terms = model
        .labels()
        .iter()
        .enumerate()
        .map(|(i, class)| ClassTerms {
            class: class.clone(),
            terms: model.top_terms(i, TOP_TERMS),
        })
        .collect();
    Ok(ReportData {
        record,
        status,
        production: state.version,
        card,
        decision,
        history,
        top_terms,
        generated_at: now_secs(),
    })
}

/// Loads `version`'s record and verified artifact, then [`gather`]s.
///
/// # Errors
/// [`RegistryError::UnknownVersion`] when there is no such version; an artifact that does not verify is
/// [`PipelineError::Corrupt`]; store and registry errors.
pub async fn load(
    store: &dyn ObjectStore,
    registry: &dyn Registry,
    version: &str,
) -> Result<ReportData, PipelineError> {
    let Some(record) = registry.version(version).await? else {
        return Err(RegistryError::UnknownVersion(version.to_string()).into());
    };
    let model = load_verified(store, &record).await?;
    gather(store, registry, record, &model).await
}

/// `secs` since the Unix epoch as `YYYY-MM-DD HH:MM:SS` (UTC); `-` for 0 (unknown).
pub fn iso(secs: u64) -> String {
    if secs == 0 {
        return "-".into();
    }
    let (days, rem) = ((secs / 86_400).cast_signed(), secs % 86_400);
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `secs` as `MM-DD HH:MM` (UTC), `-` for 0 (unknown).
fn short_time(secs: u64) -> String {
    iso(secs).get(5..16).unwrap_or("-").to_string()
}

/// `s` with `& < > " '` escaped for HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

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
.note{color:#52606d;font-size:.88em;max-width:900px}code{background:#e4e7eb;padding:1px 4px;border-radius:3px}";

/// Renders the page.
pub fn render(d: &ReportData) -> String {
    let v = &d.record.version;
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<link rel=\"icon\" href=\"data:,\"><title>Polarity report {v}</title><style>{STYLE}</style></head><body><main>",
        v = escape(v)
    );
    header(&mut h, d);
    let metrics = d
        .decision
        .as_ref()
        .and_then(|x| x.candidate_metrics.clone())
        .or_else(|| d.card.as_ref().and_then(|c| c.metrics.clone()));
    headline(&mut h, d, metrics.as_ref());
    if let Some(m) = &metrics {
        quality(&mut h, d, m);
    }
    terms(&mut h, &d.top_terms);
    comparison(&mut h, d);
    datasets(&mut h, d);
    history(&mut h, d);
    config(&mut h, d);
    let _ = write!(
        h,
        "<p class=\"note\">Generated {} UTC by Polarity {}. Scores are on held-out rows the model never \
trained on; see docs/pipeline.md (Promotion rules) for what each rule means.</p></main></body></html>",
        iso(d.generated_at),
        escape(env!("CARGO_PKG_VERSION"))
    );
    h
}

fn header(h: &mut String, d: &ReportData) {
    let r = &d.record;
    let _ = write!(
        h,
        "<h1>Model {v}<span class=\"badge {s}\">{s}</span></h1><div class=\"sub\">created {c} UTC · \
classes {l} · production now: {p}{parent}</div>",
        v = escape(&r.version),
        s = d.status.as_str(),
        c = iso(r.created_at),
        l = escape(&r.labels.join(", ")),
        p = escape(d.production.as_deref().unwrap_or("none")),
        parent = r
            .parent
            .as_ref()
            .map(|p| format!(" · trained while {} was in production", escape(p)))
            .unwrap_or_default(),
    );
}

fn headline(h: &mut String, d: &ReportData, m: Option<&Metrics>) {
    h.push_str("<div class=\"cards\">");
    let mut card = |value: String, what: &str| {
        let _ = write!(
            h,
            "<div class=\"card\"><b>{value}</b><span>{what}</span></div>"
        );
    };
    if let Some(m) = m {
        card(format!("{:.4}", m.macro_f1), "macro-F1");
        card(format!("{:.4}", m.accuracy), "accuracy");
        card(format!("{:.4}", m.log_loss), "log loss");
        card(m.n.to_string(), "held-out rows");
    }
    if let Some(c) = d.decision.as_ref().and_then(|x| x.calibration.as_ref()) {
        card(format!("{:.4}", c.ece), "expected calibration error");
    }
    if let Some(x) = &d.decision {
        card(
            format!("<span class=\"badge {0}\">{0}</span>", x.verdict.as_str()),
            "validation verdict",
        );
    }
    h.push_str("</div>");
    let source = if d.decision.is_some() {
        "the held-out rows of every active dataset when it was validated (the rows production was scored on too)"
    } else {
        "its own held-out rows when it was trained (it has no decision record yet)"
    };
    let _ = write!(h, "<p class=\"note\">Scores on {source}.</p>");
}

/// The per-class rows of `m` in the model's class order (the order of its confusion matrix; `labels`: the
/// model's classes, for records that did not keep the order).
fn per_class_in_order<'a>(m: &'a Metrics, labels: &[String]) -> Vec<(String, &'a ClassMetrics)> {
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

fn quality(h: &mut String, d: &ReportData, m: &Metrics) {
    h.push_str("<h2>Per-class precision, recall and F1</h2><table><tr><th>class</th><th class=\"n\">precision</th><th class=\"n\">recall</th><th class=\"n\">F1</th><th class=\"n\">support</th></tr>");
    for (name, c) in per_class_in_order(m, &d.record.labels) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{:.4}</td><td class=\"n\">{:.4}</td><td class=\"n\">{:.4}</td><td class=\"n\">{}</td></tr>",
            escape(&name),
            c.precision,
            c.recall,
            c.f1,
            c.support
        );
    }
    let _ = write!(
        h,
        "<tr><th>macro average</th><td></td><td></td><td class=\"n\">{:.4}</td><td class=\"n\">{}</td></tr>\
<tr><th>weighted average</th><td></td><td></td><td class=\"n\">{:.4}</td><td></td></tr></table>",
        m.macro_f1, m.n, m.weighted_f1
    );
    h.push_str("<h2>Confusion matrix and reliability</h2><div class=\"charts\">");
    chart(
        h,
        &confusion_svg(&m.class_order(&d.record.labels), &m.confusion),
    );
    if let Some(c) = d.decision.as_ref().and_then(|x| x.calibration.as_ref()) {
        let prod = d.decision.as_ref().and_then(|x| {
            x.production_calibration
                .as_ref()
                .zip(x.production.as_deref())
        });
        chart(h, &reliability_svg(c, prod));
    }
    h.push_str("</div><p class=\"note\">Confusion matrix: rows are the true class, columns the predicted \
class, shaded by the share of the row. Reliability: each point is a bin of rows by the model's top-class \
probability; a calibrated model lies on the diagonal (its confidence equals its accuracy), points below it \
are over-confident. Marker size follows the bin's share of rows.</p>");
}

fn chart(h: &mut String, svg: &str) {
    let _ = write!(h, "<div class=\"chart\">{svg}</div>");
}

fn terms(h: &mut String, top: &[ClassTerms]) {
    if top.is_empty() {
        return;
    }
    h.push_str("<h2>Top n-grams per class</h2><div class=\"charts\">");
    for t in top {
        if !t.terms.is_empty() {
            chart(h, &terms_svg(t));
        }
    }
    h.push_str("</div><p class=\"note\">The vocabulary entries with the largest logistic-regression weights \
towards each class: the model's global evidence, before a text's TF-IDF scaling.</p>");
}

fn comparison(h: &mut String, d: &ReportData) {
    let Some(x) = &d.decision else {
        h.push_str("<h2>Decision</h2><p>Not validated yet.</p>");
        return;
    };
    let _ = write!(
        h,
        "<h2>Decision</h2><p><span class=\"badge {v}\">{v}</span> {reason}</p><p class=\"note\">Judged {at} UTC \
on {n} held-out rows of {ds}{promoted}.</p>",
        v = x.verdict.as_str(),
        reason = escape(&x.reason),
        at = iso(x.at),
        n = x.eval_rows,
        ds = escape(&x.eval_datasets.join(", ")),
        promoted = if x.promoted {
            "; promoted to production"
        } else {
            ""
        },
    );
    match (&x.production, &x.production_scores) {
        (Some(p), Some(ps)) => {
            let _ = write!(
                h,
                "<table><tr><th>on the same {n} rows</th><th class=\"n\">candidate {v}</th><th class=\"n\">production {p}</th><th class=\"n\">difference</th></tr>",
                n = x.eval_rows,
                v = escape(&x.version),
                p = escape(p)
            );
            let c = &x.candidate_scores;
            let mut row = |what: &str, a: f64, b: f64| {
                let _ = write!(
                    h,
                    "<tr><td>{what}</td><td class=\"n\">{a:.4}</td><td class=\"n\">{b:.4}</td><td class=\"n\">{:+.4}</td></tr>",
                    a - b
                );
            };
            row("macro-F1", c.macro_f1, ps.macro_f1);
            row("accuracy", c.accuracy, ps.accuracy);
            for (class, r) in &c.recall {
                if let Some(pr) = ps.recall.get(class) {
                    row(&format!("recall of {}", escape(class)), *r, *pr);
                }
            }
            if let (Some(cm), Some(pm)) = (&x.candidate_metrics, &x.production_metrics) {
                row("log loss (lower is better)", cm.log_loss, pm.log_loss);
            }
            h.push_str("</table>");
            if let Some(pa) = &x.paired {
                let _ = write!(
                    h,
                    "<p>Paired on the same rows: {} rows only the candidate classifies correctly, {} only \
production does{}.</p>",
                    pa.candidate_only,
                    pa.production_only,
                    x.p_value
                        .map(|p| format!("; one-sided McNemar p = {}", crate::policy::show_p(p)))
                        .unwrap_or_default()
                );
            }
        }
        _ => h.push_str("<p>There was no production model to compare with.</p>"),
    }
    if let Some(b) = &x.baselines {
        let _ = write!(
            h,
            "<p class=\"note\">Baselines on the same rows: always \u{201c}{}\u{201d} scores macro-F1 {:.4} \
(accuracy {:.4}); guessing at the training prior scores {:.4} in expectation.</p>",
            escape(&b.majority_class),
            b.majority_macro_f1,
            b.majority_accuracy,
            b.stratified_macro_f1
        );
    }
    h.push_str("<table><tr><th>rule</th><th>result</th><th>numbers</th><th>setting</th></tr>");
    for c in &x.checks {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.rule),
            if c.passed { "pass" } else { "fail" },
            if c.passed { "passed" } else { "failed" },
            escape(&c.detail),
            c.setting
                .as_deref()
                .map(|s| format!("<code>{}</code>", escape(s)))
                .unwrap_or_default()
        );
    }
    h.push_str("</table>");
    if !x.converged {
        h.push_str("<p class=\"fail\">The fit did not converge within its iteration limit.</p>");
    }
}

fn counts(c: &std::collections::BTreeMap<String, u64>) -> String {
    c.iter()
        .map(|(k, n)| format!("{} {n}", escape(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn datasets(h: &mut String, d: &ReportData) {
    h.push_str("<h2>Trained on</h2>");
    let Some(card) = &d.card else {
        let _ = write!(
            h,
            "<p>Datasets {} (no model card in the store).</p>",
            escape(&d.record.datasets.join(", "))
        );
        return;
    };
    h.push_str("<table><tr><th>name</th><th>file</th><th>uploaded (UTC)</th><th>dataset</th><th class=\"n\">train rows</th><th>train classes</th><th class=\"n\">held-out rows</th><th>held-out classes</th></tr>");
    for ds in &card.datasets {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&ds.name),
            escape(&ds.file_name),
            iso(ds.uploaded_at),
            escape(&ds.dataset),
            ds.train.values().sum::<u64>(),
            counts(&ds.train),
            ds.test.values().sum::<u64>(),
            counts(&ds.test)
        );
    }
    let _ = write!(
        h,
        "</table><p class=\"note\">Training data digest <code>{}</code>.</p>",
        escape(&card.data_digest)
    );
}

fn history(h: &mut String, d: &ReportData) {
    h.push_str("<h2>Promotion history</h2>");
    if d.history.is_empty() {
        h.push_str("<p>No version has been in production yet.</p>");
        return;
    }
    let from = d.history.len().saturating_sub(TIMELINE_ENTRIES);
    let shown = &d.history[from..];
    chart(h, &timeline_svg(shown, &d.record.version, d.generated_at));
    h.push_str("<p class=\"note\">Bars: the periods each version was in production (this one in blue). Moves: ");
    let moves: Vec<String> = MOVE_COLORS
        .iter()
        .map(|(kind, c)| {
            format!(
                "<span style=\"color:rgb({},{},{})\">●</span> {}",
                c.0,
                c.1,
                c.2,
                kind.as_str()
            )
        })
        .collect();
    h.push_str(&moves.join(", "));
    h.push_str(".</p>");
    h.push_str("<table><tr><th class=\"n\">#</th><th>when (UTC)</th><th>move</th><th>from</th><th>to</th><th>reason</th></tr>");
    for e in d.history.iter().rev() {
        let mark = if e.to == d.record.version {
            " style=\"font-weight:600\""
        } else {
            ""
        };
        let _ = write!(
            h,
            "<tr{mark}><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.seq,
            iso(e.at),
            e.kind.as_str(),
            escape(e.from.as_deref().unwrap_or("-")),
            escape(&e.to),
            escape(&e.reason)
        );
    }
    h.push_str("</table>");
}

fn config(h: &mut String, d: &ReportData) {
    let Some(card) = &d.card else { return };
    let c = &card.config;
    let _ = write!(
        h,
        "<h2>Training</h2><table><tr><td>n-grams</td><td>{}–{}</td></tr><tr><td>max features</td><td>{}</td></tr>\
<tr><td>min df / max df</td><td>{} / {}</td></tr><tr><td>sublinear tf</td><td>{}</td></tr>\
<tr><td>C</td><td>{}</td></tr><tr><td>class weight</td><td>{}</td></tr>\
<tr><td>fit</td><td>{} iterations, {} evaluations, {}</td></tr><tr><td>Polarity</td><td>{}{}</td></tr></table>",
        c.tfidf.ngram_min,
        c.tfidf.ngram_max,
        c.tfidf
            .max_features
            .map_or_else(|| "unlimited".to_string(), |n| n.to_string()),
        c.tfidf.min_df,
        c.tfidf.max_df,
        c.tfidf.sublinear_tf,
        c.logistic.c,
        c.logistic.class_weight.as_str(),
        card.fit.iterations,
        card.fit.evaluations,
        if card.fit.converged {
            "converged"
        } else {
            "did not converge"
        },
        escape(&card.polarity_version),
        card.git_sha
            .as_deref()
            .map(|s| format!(" (<code>{}</code>)", escape(s)))
            .unwrap_or_default()
    );
    if let Some(t) = &card.tuning {
        let _ = write!(
            h,
            "<p>C and sublinear tf were chosen by {}-fold cross-validation on the {} training rows (<code>--tune</code>); mean macro-F1 per setting:</p><table><tr><th>C</th>",
            t.grid.folds, t.rows
        );
        for s in &t.grid.sublinear_tf {
            let _ = write!(h, "<th class=\"n\">sublinear tf {s}</th>");
        }
        h.push_str("</tr>");
        for c in &t.grid.c {
            let _ = write!(h, "<tr><td>{c}</td>");
            for s in &t.grid.sublinear_tf {
                let score = t
                    .scores
                    .iter()
                    .find(|x| x.c == *c && x.sublinear_tf == *s)
                    .map_or(f64::NAN, |x| x.macro_f1);
                let chosen = *c == t.c && *s == t.sublinear_tf;
                let _ = write!(
                    h,
                    "<td class=\"n\"{}>{score:.4}</td>",
                    if chosen {
                        " style=\"font-weight:700\""
                    } else {
                        ""
                    }
                );
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
    }
}

// ---- charts -------------------------------------------------------------------------------------------

const INK: RGBColor = RGBColor(31, 41, 51);
const BLUE: RGBColor = RGBColor(43, 108, 176);
const GREY: RGBColor = RGBColor(113, 128, 150);
const ORANGE: RGBColor = RGBColor(221, 107, 32);
const GREEN: RGBColor = RGBColor(47, 133, 90);
const RED: RGBColor = RGBColor(197, 48, 48);
const PURPLE: RGBColor = RGBColor(128, 90, 213);

/// The timeline's marker colour per kind of move.
const MOVE_COLORS: [(TransitionKind, RGBColor); 4] = [
    (TransitionKind::Promote, GREEN),
    (TransitionKind::ManualPromote, ORANGE),
    (TransitionKind::ForcedPromote, PURPLE),
    (TransitionKind::Rollback, RED),
];

/// White → blue by `t` in `[0, 1]`.
fn shade(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| {
        let v = f64::from(a) + (f64::from(b) - f64::from(a)) * t;
        // in 0..=255 by construction
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let v = v.round() as u8;
        v
    };
    RGBColor(mix(255, 23), mix(255, 78), mix(255, 140))
}

/// `s` cut to `n` characters with an ellipsis.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(n.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

/// Runs `draw` on a fresh SVG canvas and returns the markup; a drawing error (which only a bug in the
/// chart code can cause) becomes a one-line note in its place.
fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Drawn,
) -> String {
    let mut buf = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(&root).map_err(|e| e.to_string()))
            .and_then(|()| root.present().map_err(|e| e.to_string()))
    };
    match result {
        Ok(()) => buf,
        Err(e) => format!("<p class=\"fail\">chart not drawn: {}</p>", escape(&e)),
    }
}

/// What drawing on an SVG canvas returns.
type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// An axis of `n` categories: plotters' integer ranges include their end, and segmenting adds one.
fn segments(n: i32) -> std::ops::Range<i32> {
    0..(n - 1).max(1)
}

fn segment_label(names: &[String], v: &SegmentValue<i32>) -> String {
    match v {
        SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| names.get(i))
            .map(|s| clip(s, 28))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The confusion matrix as a heat map; true classes top to bottom in label order.
fn confusion_svg(names: &[String], confusion: &[Vec<u64>]) -> String {
    let k = i32::try_from(names.len()).unwrap_or(i32::MAX).max(1);
    let side = 120 + 90 * u32::try_from(k).unwrap_or(1).min(8);
    // rows drawn top-down: true class i sits at y = k - 1 - i
    let flipped: Vec<String> = names.iter().rev().cloned().collect();
    svg((side + 110, side + 60), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Confusion matrix",
                ("sans-serif", 18).into_font().color(&INK),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(110)
            .build_cartesian_2d(segments(k).into_segmented(), segments(k).into_segmented())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true")
            .x_label_formatter(&|v| segment_label(names, v))
            .y_label_formatter(&|v| segment_label(&flipped, v))
            .label_style(("sans-serif", 13).into_font().color(&INK))
            .draw()?;
        let mut cells = Vec::new();
        for (t, row) in confusion.iter().enumerate() {
            let total: f64 = row.iter().map(|&n| n as f64).sum();
            for (p, &n) in row.iter().enumerate() {
                let share = if total > 0.0 { n as f64 / total } else { 0.0 };
                let (x, y) = (
                    i32::try_from(p).unwrap_or(0),
                    k - 1 - i32::try_from(t).unwrap_or(0),
                );
                cells.push((x, y, n, share));
            }
        }
        chart.draw_series(cells.iter().map(|&(x, y, _, share)| {
            Rectangle::new(
                [
                    (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                ],
                shade(share).filled(),
            )
        }))?;
        chart.draw_series(cells.iter().map(|&(x, y, n, share)| {
            let color = if share > 0.55 { WHITE } else { INK };
            Text::new(
                format!("{n} ({:.0}%)", share * 100.0),
                (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                ("sans-serif", 14).into_font().color(&color).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Center,
                    ),
                ),
            )
        }))?;
        Ok(())
    })
}

/// A stored share drawn on a `0..1` axis: out-of-range values at the edge (a record from elsewhere may hold
/// anything; drawing must not fail on it).
fn unit(v: f64) -> f64 {
    if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// The reliability diagram of the candidate (and production on the same rows).
fn reliability_svg(c: &Calibration, production: Option<(&Calibration, &str)>) -> String {
    svg((460, 420), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Reliability", ("sans-serif", 18).into_font().color(&INK))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("confidence (top-class probability)")
            .y_desc("accuracy")
            .light_line_style(RGBColor(238, 241, 245))
            .label_style(("sans-serif", 12).into_font().color(&INK))
            .draw()?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                GREY.stroke_width(1),
            ))?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], GREY));
        let mut series = |cal: &Calibration, color: RGBColor, name: String| -> Drawn {
            let total = cal
                .bins
                .iter()
                .map(|b| b.count as f64)
                .sum::<f64>()
                .max(1.0);
            let pts: Vec<(f64, f64, f64)> = cal
                .bins
                .iter()
                .filter(|b| b.count > 0)
                .map(|b| (unit(b.confidence), unit(b.accuracy), b.count as f64 / total))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart.draw_series(pts.iter().map(|p| {
                // 3..=12 px by the bin's share of rows
                #[allow(clippy::cast_possible_truncation)]
                let r = (3.0 + 9.0 * p.2.sqrt()).round() as i32;
                Circle::new((p.0, p.1), r, color.filled())
            }))?;
            Ok(())
        };
        series(c, BLUE, format!("candidate (ECE {:.3})", c.ece))?;
        if let Some((p, name)) = production {
            series(
                p,
                ORANGE,
                format!("production {} (ECE {:.3})", clip(name, 16), p.ece),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(217, 226, 236))
            .label_font(("sans-serif", 12).into_font().color(&INK))
            .draw()?;
        Ok(())
    })
}

/// One class's top n-grams as horizontal bars, strongest on top.
fn terms_svg(t: &ClassTerms) -> String {
    let n = i32::try_from(t.terms.len()).unwrap_or(0).max(1);
    let max = t
        .terms
        .iter()
        .map(|x| x.1)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    // bar i (strongest first) sits at y = n - 1 - i
    let names: Vec<String> = t.terms.iter().rev().map(|x| x.0.clone()).collect();
    let height = 80 + 22 * u32::try_from(n).unwrap_or(1);
    svg((400, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Towards \u{201c}{}\u{201d}", clip(&t.class, 24)),
                ("sans-serif", 16).into_font().color(&INK),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(170)
            .build_cartesian_2d(0.0..max * 1.05, segments(n).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(RGBColor(238, 241, 245))
            .x_desc("weight")
            .x_labels(5)
            .y_labels(usize::try_from(n).unwrap_or(1))
            .y_label_formatter(&|v| segment_label(&names, v))
            .label_style(("sans-serif", 12).into_font().color(&INK))
            .draw()?;
        chart.draw_series(t.terms.iter().enumerate().map(|(i, (_, w))| {
            let y = n - 1 - i32::try_from(i).unwrap_or(0);
            Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(y)),
                    (*w, SegmentValue::Exact(y + 1)),
                ],
                BLUE.mix(0.8).filled(),
            )
        }))?;
        Ok(())
    })
}

/// The production pointer over time: one row per version, a bar for each period it was in production,
/// a marker at each move coloured by its kind.
fn timeline_svg(entries: &[HistoryEntry], highlight: &str, now: u64) -> String {
    let mut versions: Vec<String> = Vec::new();
    for e in entries {
        if !versions.contains(&e.to) {
            versions.push(e.to.clone());
        }
    }
    let rows = i32::try_from(versions.len()).unwrap_or(1).max(1);
    // times come from different machines' clocks and may go backwards: the axis spans all of them
    let start = entries.iter().map(|e| e.at).min().unwrap_or(now);
    let end = entries
        .iter()
        .map(|e| e.at)
        .fold(now, u64::max)
        .max(start.saturating_add(60));
    let span = end.saturating_sub(start) as f64;
    let x = |at: u64| at.saturating_sub(start) as f64;
    let row_of = |v: &str| {
        let i = versions.iter().position(|x| x == v).unwrap_or(0);
        rows - 1 - i32::try_from(i).unwrap_or(0)
    };
    let names: Vec<String> = versions.iter().rev().cloned().collect();
    let height = 110 + 26 * u32::try_from(rows).unwrap_or(1).min(40);
    svg((1000, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Production over time",
                ("sans-serif", 16).into_font().color(&INK),
            )
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(130)
            .build_cartesian_2d(0.0..span * 1.02, segments(rows).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(RGBColor(238, 241, 245))
            .x_labels(6)
            .x_label_formatter(&|x| {
                // whole seconds after the first move
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let at = start.saturating_add(x.max(0.0).round() as u64);
                short_time(at)
            })
            .y_label_formatter(&|v| segment_label(&names, v))
            .label_style(("sans-serif", 12).into_font().color(&INK))
            .draw()?;
        let mut bars = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let until = entries.get(i + 1).map_or(end, |n| n.at).max(e.at);
            let y = row_of(&e.to);
            let color = if e.to == highlight { BLUE } else { GREY };
            bars.push(Rectangle::new(
                [
                    (x(e.at), SegmentValue::Exact(y)),
                    (x(until), SegmentValue::Exact(y + 1)),
                ],
                color.mix(0.55).filled(),
            ));
        }
        chart.draw_series(bars)?;
        for (kind, color) in MOVE_COLORS {
            chart.draw_series(entries.iter().filter(|e| e.kind == kind).map(|e| {
                Circle::new(
                    (x(e.at), SegmentValue::CenterOf(row_of(&e.to))),
                    5,
                    color.filled(),
                )
            }))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_match_known_instants() {
        assert_eq!(iso(0), "-");
        assert_eq!(iso(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(iso(1_798_761_599), "2026-12-31 23:59:59");
        assert_eq!(iso(4_107_542_400), "2100-03-01 00:00:00");
    }

    #[test]
    fn a_stored_time_of_zero_formats_without_panicking() {
        assert_eq!(short_time(0), "-");
        assert_eq!(short_time(1_798_761_599), "12-31 23:59");
    }

    #[test]
    fn classes_appear_in_the_model_order_beside_their_numbers() {
        // the model's classes: "mixed" was added later and sorts first alphabetically
        let labels: Vec<String> = ["negative", "positive", "mixed"].map(String::from).to_vec();
        let m = Metrics::compute(&labels, &[0, 0, 0, 1, 2], &[0, 0, 0, 1, 0], &[0.9; 5]);
        let rows: Vec<String> = per_class_in_order(&m, &[])
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(rows, labels);
        assert_eq!(m.class_order(&[]), labels);
        // the diagonal cell of the first row is negative's (3 of 3), not mixed's (0 of 1)
        let svg = confusion_svg(&m.class_order(&[]), &m.confusion);
        assert!(svg.contains("3 (100%)") && svg.contains("0 (0%)"), "{svg}");
        // an older record without the order: the model's labels order it
        let old = Metrics {
            labels: Vec::new(),
            ..m.clone()
        };
        let rows: Vec<String> = per_class_in_order(&old, &labels)
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(rows, labels);
    }

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(
            escape(r#"<b a="1">'x' & y</b>"#),
            "&lt;b a=&quot;1&quot;&gt;&#39;x&#39; &amp; y&lt;/b&gt;"
        );
    }

    #[test]
    fn charts_are_svg_with_escaped_text() {
        let s = confusion_svg(
            &["<neg>".to_string(), "pos".to_string()],
            &[vec![8, 2], vec![1, 9]],
        );
        assert!(s.starts_with("<svg"), "{}", &s[..s.len().min(80)]);
        assert!(s.contains("&lt;neg&gt;") && !s.contains("<neg>"));
        assert!(s.contains("8 (80%)") && s.contains("9 (90%)"));
        let t = terms_svg(&ClassTerms {
            class: "positive".into(),
            terms: vec![("great".into(), 2.0), ("fun".into(), 1.0)],
        });
        assert!(t.contains("\ngreat\n") && t.contains("\nfun\n"), "{t}");
    }
}
