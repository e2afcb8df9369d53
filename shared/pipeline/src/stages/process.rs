//! Process: `raw/<dataset>/` → `processed/<dataset>/`: clean each text with the training cleaning
//! settings, drop rows that clean to nothing and exact duplicates (same cleaned text; the first row wins),
//! and split by [`polarity_core::split::is_test`] on the cleaned text, so a text lands on the same side in
//! every dataset and test rows never leak into a later training set.
//! `rows_in == train + test + duplicates + empty`.

use std::collections::{BTreeMap, HashMap};

use polarity_core::routing::{MANIFEST, RAW, Stage};
use polarity_core::split::is_test;
use polarity_core::text::clean;
use serde::{Deserialize, Serialize};

use super::{ProcessedRow, StageOutcome, from_jsonl, read_manifest, to_jsonl};
use crate::config::PipelineConfig;
use crate::error::{PipelineError, to_json};
use crate::layout;
use crate::store::ObjectStore;

/// Rows per class in one split.
pub type ClassCounts = BTreeMap<String, u64>;

/// The process manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessManifest {
    /// Dataset id.
    pub dataset: String,
    /// Rows read from `raw/`.
    pub rows_in: u64,
    /// Training rows per class.
    pub train: ClassCounts,
    /// Held-out rows per class.
    pub test: ClassCounts,
    /// Rows dropped as exact duplicates of an earlier row.
    pub duplicates: u64,
    /// Duplicates whose label disagreed with the kept row.
    pub conflicting_labels: u64,
    /// Rows whose text is empty after cleaning.
    pub empty: u64,
    /// Share of rows held out.
    pub test_fraction: f64,
    /// True when this run found the dataset already processed.
    #[serde(default)]
    pub already: bool,
}

#[derive(Deserialize)]
struct RawRow {
    text: String,
    label: String,
}

/// Runs process on `raw/<dataset>/manifest.json`.
///
/// # Errors
/// Store errors; [`PipelineError::Corrupt`] when `raw/` rows are unreadable.
pub async fn process<S: ObjectStore + ?Sized>(
    store: &S,
    cfg: &PipelineConfig,
    key: &str,
) -> Result<StageOutcome, PipelineError> {
    let Some(dataset) = layout::manifest_owner(key, RAW) else {
        return Ok(StageOutcome::Skipped {
            of: Stage::Process,
            reason: format!("{key} is not a raw manifest"),
        });
    };
    if let Some(mut m) =
        read_manifest::<_, ProcessManifest>(store, &layout::processed(dataset, MANIFEST)).await?
    {
        m.already = true;
        return Ok(StageOutcome::Process(m));
    }
    let rows_key = layout::raw(dataset, "rows.jsonl");
    let Some(bytes) = store.get_opt(&rows_key).await? else {
        return Ok(StageOutcome::Skipped {
            of: Stage::Process,
            reason: format!("{rows_key} is missing"),
        });
    };
    let rows: Vec<RawRow> = from_jsonl(&rows_key, &bytes)?;
    let mut m = ProcessManifest {
        dataset: dataset.to_string(),
        rows_in: rows.len() as u64,
        train: ClassCounts::new(),
        test: ClassCounts::new(),
        duplicates: 0,
        conflicting_labels: 0,
        empty: 0,
        test_fraction: cfg.test_fraction,
        already: false,
    };
    let (mut train, mut test) = (Vec::new(), Vec::new());
    let mut seen: HashMap<String, String> = HashMap::new();
    for r in rows {
        let cleaned = clean(&r.text, &cfg.train.clean);
        if cleaned.trim().is_empty() {
            m.empty += 1;
            continue;
        }
        if let Some(label) = seen.get(&cleaned) {
            m.duplicates += 1;
            m.conflicting_labels += u64::from(*label != r.label);
            continue;
        }
        seen.insert(cleaned.clone(), r.label.clone());
        let (rows, counts) = if is_test(&cleaned, cfg.test_fraction) {
            (&mut test, &mut m.test)
        } else {
            (&mut train, &mut m.train)
        };
        *counts.entry(r.label.clone()).or_insert(0) += 1;
        rows.push(ProcessedRow {
            text: r.text,
            clean: cleaned,
            label: r.label,
        });
    }
    store
        .put(&layout::processed(dataset, "train.jsonl"), to_jsonl(&train))
        .await?;
    store
        .put(&layout::processed(dataset, "test.jsonl"), to_jsonl(&test))
        .await?;
    store
        .put_if_absent(&layout::processed(dataset, MANIFEST), to_json(&m))
        .await?;
    tracing::info!(
        stage = "process",
        key,
        dataset,
        rows_in = m.rows_in,
        rows_out = train.len() + test.len(),
        duplicates = m.duplicates,
        "processed"
    );
    Ok(StageOutcome::Process(m))
}
