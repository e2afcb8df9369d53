//! Process: `raw/<dataset>/` → `processed/<dataset>/`. Steps: `read_raw` → the core's one preparation
//! ([`polarity_core::prepare`]: clean with the training settings, drop rows that clean to nothing, drop
//! duplicates keeping the latest) → split by the near-duplicate key → the label-noise [`gate`](super::gate)
//! against the active datasets' labels and the production model → write the splits, the manifest last.
//! `rows_in == train + test + duplicates + empty`.

use polarity_core::prepare::{self, PreparedRow, Row};
use polarity_core::reader::RejectReason;

use super::Ctx;
use super::gate;
use super::train::load_training_data;
use crate::artifacts::load_verified;
use crate::datasets;
use crate::error::PipelineError;
use crate::layout::{self, MANIFEST, RAW, Stage};
use crate::records::json::{to_json, to_jsonl};
use crate::records::manifests::SPLIT_RULE;
use crate::records::{
    ClassCounts, GateResult, IngestManifest, ProcessManifest, RawRow, StageOutcome,
};
use crate::stored::{from_jsonl, read_json};

/// The ingest manifest and rows of a dataset (`None`: not there).
async fn read_raw(
    ctx: Ctx<'_>,
    dataset: &str,
) -> Result<Option<(IngestManifest, Vec<RawRow>)>, PipelineError> {
    let Some(ingest) =
        read_json::<IngestManifest>(ctx.store, &layout::raw(dataset, MANIFEST)).await?
    else {
        return Ok(None);
    };
    let rows_key = layout::raw(dataset, "rows.jsonl");
    let Some(bytes) = ctx.store.get_opt(&rows_key).await? else {
        return Ok(None);
    };
    Ok(Some((ingest, from_jsonl(&rows_key, &bytes)?)))
}

/// Judges the dataset against the active data and the production model (see [`gate`]), when the gate is
/// on.
async fn run_gate(
    ctx: Ctx<'_>,
    dataset: &str,
    rows: Vec<PreparedRow>,
) -> Result<Option<GateResult>, PipelineError> {
    let settings = ctx.cfg.gate;
    if !settings.enabled {
        return Ok(None);
    }
    let active = datasets::active(ctx.store).await?;
    let data = load_training_data(ctx.store, &active, ctx.cfg).await?;
    let registry = ctx.registry(Stage::Process)?;
    let production = match registry.production().await? {
        Some(prod) => Some((load_verified(ctx.store, &prod).await?, prod)),
        None => None,
    };
    let dataset = dataset.to_string();
    tokio::task::spawn_blocking(move || {
        let known = gate::Known::new(data.train, data.test);
        let production = production.as_ref().map(|(model, prod)| gate::Production {
            version: &prod.version,
            model,
            accuracy: prod.scores.accuracy,
            held_out: prod.scores.n,
        });
        gate::judge(&dataset, production, &known, &rows, settings)
    })
    .await
    .map_err(|e| PipelineError::Task(e.to_string()))
}

fn counts(rows: &[PreparedRow]) -> ClassCounts {
    let mut c = ClassCounts::new();
    for r in rows {
        *c.entry(r.label.clone()).or_insert(0) += 1;
    }
    c
}

/// Runs process on `raw/<dataset>/manifest.json`.
///
/// # Errors
/// Store and registry errors; [`PipelineError::Corrupt`] when `raw/` rows or the production artifact are
/// unreadable.
pub async fn process(ctx: Ctx<'_>, key: &str) -> Result<StageOutcome, PipelineError> {
    let Some(dataset) = layout::manifest_owner(key, RAW) else {
        return Ok(StageOutcome::Skipped {
            of: Stage::Process,
            reason: format!("{key} is not a raw manifest"),
        });
    };
    let manifest_key = layout::processed(dataset, MANIFEST);
    if let Some(mut m) = read_json::<ProcessManifest>(ctx.store, &manifest_key).await? {
        m.already = true;
        return Ok(StageOutcome::Process(m));
    }
    let Some((ingest, raw)) = read_raw(ctx, dataset).await? else {
        return Ok(StageOutcome::Skipped {
            of: Stage::Process,
            reason: format!("{} is missing", layout::raw(dataset, "rows.jsonl")),
        });
    };
    let rows_in = raw.len() as u64;
    let clean_cfg = ctx.cfg.train.clean;
    let rows: Vec<Row> = raw
        .into_iter()
        .map(|r| Row {
            text: r.text,
            label: r.label,
        })
        .collect();
    let fraction = ctx.cfg.test_fraction;
    let (prepared, train, test) = tokio::task::spawn_blocking(move || {
        let mut p = prepare::prepare(rows, &clean_cfg);
        let (train, test) = prepare::split(std::mem::take(&mut p.rows), fraction);
        (p, train, test)
    })
    .await
    .map_err(|e| PipelineError::Task(e.to_string()))?;
    let all: Vec<PreparedRow> = train.iter().chain(&test).cloned().collect();
    let gate = run_gate(ctx, dataset, all).await?;
    let m = ProcessManifest {
        dataset: dataset.to_string(),
        name: ingest.name,
        file_name: ingest.file_name,
        uploaded_at: ingest.uploaded_at,
        uploaded_ms: ingest.uploaded_ms,
        ingested_ms: ingest.ingested_ms,
        rows_in,
        train: counts(&train),
        test: counts(&test),
        duplicates: prepared.count(RejectReason::Duplicate),
        conflicting_labels: prepared.conflicting_labels,
        empty: prepared.count(RejectReason::EmptyAfterCleaning),
        test_fraction: fraction,
        clean: clean_cfg,
        split: SPLIT_RULE.to_string(),
        gate,
        already: false,
    };
    debug_assert_eq!(
        m.rows_in,
        (train.len() + test.len()) as u64 + m.duplicates + m.empty
    );
    let store = ctx.store;
    store
        .put(&layout::processed(dataset, "train.jsonl"), to_jsonl(&train))
        .await?;
    store
        .put(&layout::processed(dataset, "test.jsonl"), to_jsonl(&test))
        .await?;
    store.put_if_absent(&manifest_key, to_json(&m)).await?;
    tracing::info!(
        stage = "process",
        key,
        dataset,
        rows_in = m.rows_in,
        rows_out = train.len() + test.len(),
        duplicates = m.duplicates,
        held = m.gate.as_ref().is_some_and(|g| g.held),
        "processed"
    );
    Ok(StageOutcome::Process(m))
}
