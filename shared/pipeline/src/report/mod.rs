//! A version's report page: one self-contained HTML file (inline CSS, charts as inline SVG drawn by
//! plotters; no scripts, and nothing fetched from anywhere) with the held-out metrics, per-class
//! precision/recall/F1, the confusion matrix as a heat map, the reliability diagram, the top n-grams per
//! class, the comparison with the production model it was judged against **on the same rows** (decision,
//! paired counts, every rule), the datasets it was trained on, and the promotion history as a timeline.
//!
//! [`load`] gathers a [`ReportData`] from the store and the registry (this module: the data); [`render`] is a
//! pure function of it: the markup in `page` (maud's `html!`, which escapes every value it is given) and the
//! charts in `charts` (inline SVG from plotters). maud rather than askama: the charts and the tables are
//! computed in Rust, and maud keeps the markup in Rust too, type-checked with the data it shows, with no
//! template files or template language between them; both escape by default.
//! The validate stage writes the page beside the model (`crate::layout::REPORT`); `polarity report`
//! writes it anywhere.

mod charts;
mod page;

use polarity_core::Classifier;

use crate::artifacts::load_verified;
use crate::error::PipelineError;
use crate::layout;
use crate::records::clock::now_secs;
use crate::records::{Decision, ModelCard};
use crate::registry::{
    HistoryEntry, Registry, RegistryError, VersionRecord, VersionStatus, status_of,
};

use crate::store::ObjectStore;
use crate::stored::read_json;
pub use page::render;

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

/// `s` cut to `n` characters with an ellipsis.
pub(crate) fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(n.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

/// `secs` as `MM-DD HH:MM` (UTC), `-` for 0 (unknown).
fn short_time(secs: u64) -> String {
    iso(secs).get(5..16).unwrap_or("-").to_string()
}

#[cfg(test)]
mod tests {
    use polarity_core::metrics::Metrics;

    use super::charts::{confusion_svg, terms_svg};
    use super::page::per_class_in_order;
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
