//! Ingest: an upload under `incoming/` → canonical JSONL under `raw/<dataset>/` and rejected rows (each
//! with its reason) under `quarantine/<dataset>/`. `rows_in == accepted + quarantined`, always.
//!
//! Steps: `fetch` the upload → `resolve_contract` (object metadata over the named contract
//! `contracts/<folder>.json` of an upload under `incoming/<folder>/`) → the dataset id (bytes and
//! contract) → `read_rows` under the contract → write quarantine, then raw, manifests last.
//!
//! A file that cannot be used at all (corrupt gzip, no header, a column the contract names is missing, a
//! contract that does not parse) is copied whole to quarantine with the reason and the handler succeeds.
//! Because the contract is part of the dataset id, uploading the same bytes again with a corrected
//! contract (new metadata, or an edited named contract) is a new dataset, not "already ingested".

use std::collections::BTreeMap;

use polarity_core::contract::{Contract, ContractError};
use polarity_core::labels::LabelScheme;
use polarity_core::prepare::label_rows;
use polarity_core::reader::{
    ReadError, ReadOptions, RejectReason, is_unprintable, quoted, read_bytes, visible,
};

use super::Ctx;
use crate::error::{PipelineError, parse_json};
use crate::layout::{self, MANIFEST, Stage};
use crate::records::clock::{now_ms, now_secs};
use crate::records::json::{to_json, to_jsonl};
use crate::records::{IngestManifest, QuarantinedRow, RawRow, StageOutcome};
use crate::store::{Metadata, Object, ObjectStore};
use crate::stored::read_json;

/// The data contract of an upload: its object metadata (`text-col`, `label-col`, `header`, `delimiter`,
/// `label-map`) over the named contract of its folder, if any.
///
/// # Errors
/// A store error reading the named contract; the inner `Err` is a contract that cannot be used (the
/// upload is quarantined with it).
pub(crate) async fn resolve_contract(
    store: &dyn ObjectStore,
    key: &str,
    meta: &Metadata,
) -> Result<Result<Contract, ContractError>, PipelineError> {
    let named = match layout::upload_folder(key) {
        Some(folder) => {
            let ckey = layout::contract(folder);
            match store.get_opt(&ckey).await? {
                Some(b) => match parse_json::<Contract>(&ckey, &b) {
                    Ok(c) => match c.check() {
                        Ok(()) => c,
                        Err(e) => return Ok(Err(ContractError(format!("{ckey}: {}", e.0)))),
                    },
                    Err(e) => return Ok(Err(ContractError(e.to_string()))),
                },
                None => Contract::default(),
            }
        }
        None => Contract::default(),
    };
    let from_meta =
        match Contract::from_settings(meta.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok(c) => c,
            Err(e) => return Ok(Err(ContractError(format!("object metadata: {}", e.0)))),
        };
    let merged = named.overridden_by(from_meta);
    Ok(merged.check().map(|()| merged))
}

/// The dataset name of an upload key: its folder under `incoming/`, else its file name without
/// extensions (`incoming/reviews.csv.gz` → `reviews`).
pub(crate) fn dataset_name(key: &str) -> String {
    match layout::upload_folder(key) {
        Some(f) => f.to_string(),
        None => {
            let file = layout::file_name(key);
            file.split('.')
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or(file)
                .to_string()
        }
    }
}

/// A short, content-free name for a whole-file problem (for logs).
fn error_kind(e: &ReadError) -> &'static str {
    match e {
        ReadError::Io { .. } => "io",
        ReadError::Gzip { .. } => "gzip",
        ReadError::Header { .. } => "header",
        ReadError::ColumnNotFound { .. } => "column_not_found",
        ReadError::TooLarge { .. } => "too_large",
    }
}

/// Accepted and quarantined rows of an upload read under `contract`.
struct Rows {
    accepted: Vec<RawRow>,
    quarantined: Vec<QuarantinedRow>,
    rows_in: u64,
    scheme: Option<LabelScheme>,
}

/// Reads the upload under its contract: rows whose label has no class go to quarantine.
fn read_rows(
    name: &str,
    bytes: &[u8],
    contract: &Contract,
    opts: &ReadOptions,
) -> Result<Rows, ReadError> {
    let mut table = read_bytes(name, bytes, opts)?;
    let (names, scheme) = contract.class_names(&table.label_values);
    let reason = if contract.label_map.is_some() {
        RejectReason::UnmappedLabel
    } else {
        RejectReason::UnknownLabel
    };
    let (rows, _) = label_rows(&mut table, &names, reason);
    let mut quarantined: Vec<QuarantinedRow> = table
        .rejected
        .into_iter()
        .map(|r| QuarantinedRow {
            line: r.line,
            reason: r.reason,
            raw: r.raw,
        })
        .collect();
    quarantined.sort_by_key(|r| r.line);
    Ok(Rows {
        accepted: rows
            .into_iter()
            .map(|r| RawRow {
                text: r.text.trim().to_string(),
                label: r.label,
            })
            .collect(),
        quarantined,
        rows_in: table.report.rows_in,
        scheme,
    })
}

/// The upload, or `None` when it no longer exists.
async fn fetch(store: &dyn ObjectStore, key: &str) -> Result<Option<Object>, PipelineError> {
    Ok(store.get_object(key).await?)
}

/// The recorded outcome when this dataset was ingested before (every manifest it needs exists; a crash
/// between the two manifests is finished on retry).
async fn already(
    store: &dyn ObjectStore,
    dataset: &str,
) -> Result<Option<IngestManifest>, PipelineError> {
    let raw_m: Option<IngestManifest> = read_json(store, &layout::raw(dataset, MANIFEST)).await?;
    let q_m: Option<IngestManifest> =
        read_json(store, &layout::quarantine(dataset, MANIFEST)).await?;
    let Some(mut m) = raw_m.clone().or_else(|| q_m.clone()) else {
        return Ok(None);
    };
    let needs_q = m.quarantined > 0 || m.file_error.is_some();
    if (m.accepted == 0 || raw_m.is_some()) && (!needs_q || q_m.is_some()) {
        m.already = true;
        return Ok(Some(m));
    }
    Ok(None)
}

/// Runs ingest on the upload `key`.
///
/// # Errors
/// Store errors only; unusable input is quarantined and returned as an outcome.
pub async fn ingest(ctx: Ctx<'_>, key: &str) -> Result<StageOutcome, PipelineError> {
    let store = ctx.store;
    let Some(upload) = fetch(store, key).await? else {
        return Ok(StageOutcome::Skipped {
            of: Stage::Ingest,
            reason: format!("{key} no longer exists"),
        });
    };
    let contract = resolve_contract(store, key, &upload.meta).await?;
    let dataset = match &contract {
        Ok(c) if c.is_default() => layout::dataset_id(&upload.body, None),
        Ok(c) => layout::dataset_id(&upload.body, Some(&c.canonical())),
        Err(e) => layout::dataset_id(&upload.body, Some(&format!("invalid contract: {e}"))),
    };
    if let Some(m) = already(store, &dataset).await? {
        return Ok(StageOutcome::Ingest(m));
    }
    let file_name = layout::file_name(key).to_string();
    let uploaded_ms = upload.modified_ms.unwrap_or_else(|| now_secs() * 1000);
    let mut m = IngestManifest {
        dataset: dataset.clone(),
        name: visible(&dataset_name(key)),
        file_name: visible(&file_name),
        source_key: key.to_string(),
        source_sha256: layout::digest_hex(&upload.body),
        source_bytes: upload.body.len() as u64,
        uploaded_at: uploaded_ms / 1000,
        uploaded_ms,
        ingested_ms: now_ms(),
        contract: contract.as_ref().ok().filter(|c| !c.is_default()).cloned(),
        rows_in: 0,
        accepted: 0,
        quarantined: 0,
        reasons: BTreeMap::new(),
        file_error: None,
        label_scheme: None,
        classes: BTreeMap::new(),
        already: false,
    };
    let rows = match contract {
        // a name a terminal would interpret (ESC sequences, a newline that forges a table row)
        _ if key.chars().any(is_unprintable) => Err((
            format!(
                "the upload's name {} contains control characters; rename the file and upload it again",
                quoted(layout::file_name(key))
            ),
            "name",
        )),
        Err(e) => Err((e.to_string(), "contract")),
        Ok(c) => {
            let opts = ReadOptions {
                max_bytes: Some(ctx.cfg.upload.max_bytes),
                max_text_chars: Some(ctx.cfg.upload.max_row_chars),
                ..c.read_options()
            };
            read_rows(&file_name, &upload.body, &c, &opts)
                .map_err(|e| (e.to_string(), error_kind(&e)))
        }
    };
    let rows = match rows {
        Ok(r) => r,
        Err((problem, kind)) => {
            m.file_error = Some(problem);
            store
                .put(&layout::quarantine(&dataset, "upload"), upload.body.clone())
                .await?;
            store
                .put_if_absent(&layout::quarantine(&dataset, MANIFEST), to_json(&m))
                .await?;
            // the message can quote the file (a header cell); logs get only its kind
            tracing::warn!(
                stage = "ingest",
                key,
                dataset,
                problem = kind,
                "upload quarantined whole"
            );
            return Ok(StageOutcome::Ingest(m));
        }
    };
    m.rows_in = rows.rows_in;
    m.accepted = rows.accepted.len() as u64;
    m.quarantined = rows.quarantined.len() as u64;
    m.label_scheme = rows.scheme;
    for r in &rows.accepted {
        *m.classes.entry(r.label.clone()).or_insert(0) += 1;
    }
    for r in &rows.quarantined {
        *m.reasons.entry(r.reason.as_str().to_string()).or_insert(0) += 1;
    }
    debug_assert_eq!(m.rows_in, m.accepted + m.quarantined);
    if !rows.quarantined.is_empty() {
        store
            .put(
                &layout::quarantine(&dataset, "rows.jsonl"),
                to_jsonl(&rows.quarantined),
            )
            .await?;
        store
            .put_if_absent(&layout::quarantine(&dataset, MANIFEST), to_json(&m))
            .await?;
    }
    if !rows.accepted.is_empty() {
        store
            .put(
                &layout::raw(&dataset, "rows.jsonl"),
                to_jsonl(&rows.accepted),
            )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_datasets_after_their_folder_or_file() {
        assert_eq!(dataset_name("incoming/tweets/jan.csv"), "tweets");
        assert_eq!(dataset_name("incoming/reviews.csv.gz"), "reviews");
        assert_eq!(dataset_name("incoming/.hidden"), ".hidden");
    }
}
