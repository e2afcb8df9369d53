//! Ingest: an upload under `incoming/` → canonical JSONL under `raw/<dataset>/` and rejected rows (each
//! with its reason) under `quarantine/<dataset>/`. `rows_in == accepted + quarantined`, always. A file that
//! cannot be read at all (corrupt gzip, no header, no text or label column) is copied whole to
//! quarantine with the reason; the handler still succeeds.

use std::collections::BTreeMap;

use polarity_core::labels::LabelScheme;
use polarity_core::reader::{ReadOptions, read_bytes};
use polarity_core::routing::{MANIFEST, Stage};
use serde::{Deserialize, Serialize};

use super::{StageOutcome, read_manifest, to_jsonl};
use crate::config::PipelineConfig;
use crate::error::{PipelineError, to_json};
use crate::layout;
use crate::store::ObjectStore;

/// The ingest manifest (written to `raw/<dataset>/` and, when anything was rejected, to quarantine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestManifest {
    /// Dataset id.
    pub dataset: String,
    /// The upload's key.
    pub source_key: String,
    /// SHA-256 of the upload.
    pub source_sha256: String,
    /// Upload size.
    pub source_bytes: u64,
    /// Data rows read.
    pub rows_in: u64,
    /// Rows written to `raw/`.
    pub accepted: u64,
    /// Rows written to `quarantine/`.
    pub quarantined: u64,
    /// Quarantined rows by reason.
    pub reasons: BTreeMap<String, u64>,
    /// When the whole file was unreadable: why (and it is in `quarantine/<dataset>/upload`).
    pub file_error: Option<String>,
    /// How raw labels were mapped to class names.
    pub label_scheme: Option<LabelScheme>,
    /// Accepted rows per class name.
    pub classes: BTreeMap<String, u64>,
    /// True when this run found the dataset already ingested.
    #[serde(default)]
    pub already: bool,
}

#[derive(Serialize)]
struct RawRow<'a> {
    text: &'a str,
    label: &'a str,
}

#[derive(Serialize)]
struct QuarantinedRow<'a> {
    line: u64,
    reason: &'a str,
    raw: &'a str,
}

/// Runs ingest on the upload `key`.
///
/// # Errors
/// Store errors only; unreadable input is quarantined and returned as an outcome.
pub async fn ingest<S: ObjectStore + ?Sized>(
    store: &S,
    _cfg: &PipelineConfig,
    key: &str,
) -> Result<StageOutcome, PipelineError> {
    let Some(bytes) = store.get_opt(key).await? else {
        return Ok(StageOutcome::Skipped {
            of: Stage::Ingest,
            reason: format!("{key} no longer exists"),
        });
    };
    let dataset = layout::dataset_id(&bytes);
    // Done when every manifest this dataset needs exists (a crash between the two is finished on retry).
    let raw_m: Option<IngestManifest> =
        read_manifest(store, &layout::raw(&dataset, MANIFEST)).await?;
    let q_m: Option<IngestManifest> =
        read_manifest(store, &layout::quarantine(&dataset, MANIFEST)).await?;
    if let Some(mut m) = raw_m.clone().or_else(|| q_m.clone()) {
        let needs_q = m.quarantined > 0 || m.file_error.is_some();
        if (m.accepted == 0 || raw_m.is_some()) && (!needs_q || q_m.is_some()) {
            m.already = true;
            return Ok(StageOutcome::Ingest(m));
        }
    }
    let mut m = IngestManifest {
        dataset: dataset.clone(),
        source_key: key.to_string(),
        source_sha256: polarity_core::artifact::sha256_hex(&bytes),
        source_bytes: bytes.len() as u64,
        rows_in: 0,
        accepted: 0,
        quarantined: 0,
        reasons: BTreeMap::new(),
        file_error: None,
        label_scheme: None,
        classes: BTreeMap::new(),
        already: false,
    };
    let name = layout::file_name(key);
    let table = match read_bytes(name, &bytes, &ReadOptions::default()) {
        Ok(t) => t,
        Err(e) => {
            // Content problems (and local read errors, which cannot happen for in-memory bytes) are permanent.
            m.file_error = Some(e.to_string());
            store
                .put(&layout::quarantine(&dataset, "upload"), bytes.clone())
                .await?;
            store
                .put_if_absent(&layout::quarantine(&dataset, MANIFEST), to_json(&m))
                .await?;
            tracing::warn!(stage = "ingest", key, dataset, error = %e, "upload quarantined whole");
            return Ok(StageOutcome::Ingest(m));
        }
    };
    let scheme = LabelScheme::detect(table.label_values.iter().map(String::as_str));
    let names: Vec<Option<String>> = table
        .label_values
        .iter()
        .map(|v| scheme.normalize(v))
        .collect();
    let mut accepted = Vec::with_capacity(table.texts.len());
    let mut quarantined: Vec<(u64, String, String)> = table
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str().to_string(), r.raw.clone()))
        .collect();
    for ((text, &li), &line) in table.texts.iter().zip(&table.labels).zip(&table.lines) {
        match &names[li as usize] {
            Some(label) => {
                *m.classes.entry(label.clone()).or_insert(0) += 1;
                accepted.push(RawRow {
                    text: text.trim(),
                    label,
                });
            }
            None => quarantined.push((
                line,
                "unknown_label".into(),
                format!("{text} (label {:?})", table.label_values[li as usize]),
            )),
        }
    }
    m.rows_in = table.report.rows_in;
    m.accepted = accepted.len() as u64;
    m.quarantined = quarantined.len() as u64;
    for (_, reason, _) in &quarantined {
        *m.reasons.entry(reason.clone()).or_insert(0) += 1;
    }
    m.label_scheme = Some(scheme);
    debug_assert_eq!(m.rows_in, m.accepted + m.quarantined);
    if !quarantined.is_empty() {
        let rows: Vec<QuarantinedRow> = quarantined
            .iter()
            .map(|(line, reason, raw)| QuarantinedRow {
                line: *line,
                reason,
                raw,
            })
            .collect();
        store
            .put(&layout::quarantine(&dataset, "rows.jsonl"), to_jsonl(&rows))
            .await?;
        store
            .put_if_absent(&layout::quarantine(&dataset, MANIFEST), to_json(&m))
            .await?;
    }
    if !accepted.is_empty() {
        store
            .put(&layout::raw(&dataset, "rows.jsonl"), to_jsonl(&accepted))
            .await?;
        store
            .put_if_absent(&layout::raw(&dataset, MANIFEST), to_json(&m))
            .await?;
    }
    tracing::info!(
        stage = "ingest",
        key,
        dataset,
        rows_in = m.rows_in,
        rows_out = m.accepted,
        quarantined = m.quarantined,
        "ingested"
    );
    Ok(StageOutcome::Ingest(m))
}
