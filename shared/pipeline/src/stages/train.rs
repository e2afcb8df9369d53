//! Train: a processed manifest → a candidate version. Trains on every processed dataset so far (or only
//! the latest, see [`crate::config::TrainMode`]), scores on the union of their test splits, writes the
//! artifact and a model card under `models/<version>/`, registers the version, and writes the manifest
//! last. The version name derives from the inputs, so a re-delivered or out-of-order event that sees the
//! same datasets trains nothing new.

use std::collections::BTreeMap;

use bytes::Bytes;
use polarity_core::labels::{LabelScheme, sort_classes};
use polarity_core::metrics::Metrics;
use polarity_core::routing::{MANIFEST, PROCESSED, Stage};
use polarity_core::train::{self as core_train, Labelled, TrainConfig};
use serde::{Deserialize, Serialize};

use super::{ProcessedRow, StageOutcome, load_split, processed_datasets, read_manifest, track};
use crate::config::{PipelineConfig, TrainMode};
use crate::error::{PipelineError, to_json};
use crate::layout;
use crate::registry::{Registry, Scores, VersionRecord, now_secs};
use crate::store::ObjectStore;

/// The train manifest (also the start of the model card).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainManifest {
    /// Version name.
    pub version: String,
    /// Artifact key.
    pub artifact_key: String,
    /// Artifact SHA-256.
    pub sha256: String,
    /// Datasets trained on.
    pub datasets: Vec<String>,
    /// Training rows.
    pub n_train: u64,
    /// Held-out rows scored.
    pub n_test: u64,
    /// Held-out macro-F1.
    pub macro_f1: f64,
    /// Held-out accuracy.
    pub accuracy: f64,
    /// Seconds spent fitting.
    pub fit_seconds: f64,
    /// True when this run found the version already trained.
    #[serde(default)]
    pub already: bool,
}

/// The model card: what a person needs to know about a version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    /// Version name.
    pub version: String,
    /// Class names.
    pub labels: Vec<String>,
    /// Datasets trained on, with their training rows per class.
    pub datasets: BTreeMap<String, BTreeMap<String, u64>>,
    /// SHA-256 over the cleaned training rows.
    pub data_digest: String,
    /// Training settings.
    pub config: TrainConfig,
    /// Held-out metrics (union of the datasets' test splits).
    pub metrics: Option<Metrics>,
    /// Production version at training time.
    pub parent: Option<String>,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// Git commit, when known.
    pub git_sha: Option<String>,
    /// Polarity version.
    pub polarity_version: String,
}

/// The version name for training `datasets` with `cfg`: `v` + 12 hex digits of a SHA-256 over both.
pub fn version_name(datasets: &[String], cfg: &PipelineConfig) -> String {
    let inputs = serde_json::json!({
        "datasets": datasets,
        "train": cfg.train,
        "test_fraction": cfg.test_fraction,
        "polarity": env!("CARGO_PKG_VERSION"),
    });
    format!(
        "v{}",
        &polarity_core::artifact::sha256_hex(inputs.to_string().as_bytes())[..12]
    )
}

fn labelled(rows: &[ProcessedRow], labels: &[String]) -> Labelled {
    let mut out = Labelled::default();
    for r in rows {
        if let Some(c) = labels.iter().position(|l| *l == r.label) {
            out.texts.push(r.clean.clone());
            out.classes.push(c as u32);
        }
    }
    out
}

/// Runs train on `processed/<dataset>/manifest.json`.
///
/// # Errors
/// Store and registry errors.
pub async fn train<S: ObjectStore + ?Sized>(
    store: &S,
    registry: &dyn Registry,
    cfg: &PipelineConfig,
    key: &str,
) -> Result<StageOutcome, PipelineError> {
    let started_ms = crate::mlflow::now_ms();
    let Some(trigger) = layout::manifest_owner(key, PROCESSED) else {
        return Ok(StageOutcome::Skipped {
            of: Stage::Train,
            reason: format!("{key} is not a processed manifest"),
        });
    };
    let datasets = match cfg.train_mode {
        TrainMode::Latest => vec![trigger.to_string()],
        TrainMode::All => processed_datasets(store).await?,
    };
    let version = version_name(&datasets, cfg);
    let manifest_key = layout::model(&version, MANIFEST);
    if let Some(mut m) = read_manifest::<_, TrainManifest>(store, &manifest_key).await? {
        m.already = true;
        return Ok(StageOutcome::Train(m));
    }
    let train_rows = load_split(store, &datasets, "train").await?;
    let test_rows = load_split(store, &datasets, "test").await?;
    let mut labels: Vec<String> = train_rows.iter().map(|r| r.label.clone()).collect();
    sort_classes(&mut labels);
    labels.dedup();
    if labels.len() < 2 {
        let reason = format!(
            "training rows of {} have {} class(es) {labels:?}; need at least two",
            datasets.join(","),
            labels.len()
        );
        tracing::warn!(stage = "train", key, reason, "skipped");
        return Ok(StageOutcome::Skipped {
            of: Stage::Train,
            reason,
        });
    }
    let artifact_key = layout::model(
        &version,
        &format!("model.{}", polarity_core::artifact::EXTENSION),
    );
    // A crash after registering but before the manifest: the artifact is in place, finish the commit.
    // Tracking: the run that registered the version logs it; a resumed run logs it again (found by tag).
    let (record, fit_seconds, tracked) = match registry.version(&version).await? {
        Some(rec) => {
            let card = match cfg.mlflow {
                Some(_) => read_manifest::<_, ModelCard>(store, &rec.card_key)
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            let start = rec.created_at * 1000;
            (rec, 0.0, Some((start, card, None)))
        }
        None => {
            let parent = registry.pointer().await?.version;
            let (tr, te) = (
                labelled(&train_rows, &labels),
                labelled(&test_rows, &labels),
            );
            let train_cfg = cfg.train.clone();
            let fitted = tokio::task::spawn_blocking(move || {
                core_train::train(&train_cfg, &tr, &te, labels, LabelScheme::Names)
            })
            .await
            .map_err(|e| PipelineError::Config(format!("training task failed: {e}")))?;
            let (model, timings) = match fitted {
                Ok(x) => x,
                Err(e) => {
                    let reason = format!("cannot train on {}: {e}", datasets.join(","));
                    tracing::warn!(stage = "train", key, reason, "skipped");
                    return Ok(StageOutcome::Skipped {
                        of: Stage::Train,
                        reason,
                    });
                }
            };
            let bytes = polarity_core::artifact::encode(&model);
            let sha256 = polarity_core::artifact::sha256_hex(&bytes);
            let created_at = now_secs();
            let mut per_dataset = BTreeMap::new();
            for d in &datasets {
                if let Some(pm) = read_manifest::<_, super::ProcessManifest>(
                    store,
                    &layout::processed(d, MANIFEST),
                )
                .await?
                {
                    per_dataset.insert(d.clone(), pm.train);
                }
            }
            let card = ModelCard {
                version: version.clone(),
                labels: model.meta.labels.clone(),
                datasets: per_dataset,
                data_digest: model.meta.data.digest.clone(),
                config: cfg.train.clone(),
                metrics: model.meta.metrics.clone(),
                parent: parent.clone(),
                created_at,
                git_sha: cfg.git_sha.clone(),
                polarity_version: env!("CARGO_PKG_VERSION").to_string(),
            };
            let m = model.meta.metrics.as_ref();
            let rec = VersionRecord {
                version: version.clone(),
                artifact_key: artifact_key.clone(),
                sha256,
                card_key: layout::model(&version, "card.json"),
                labels: model.meta.labels.clone(),
                scores: Scores {
                    n: model.meta.data.n_test,
                    accuracy: m.map_or(0.0, |m| m.accuracy),
                    macro_f1: m.map_or(0.0, |m| m.macro_f1),
                },
                datasets: datasets.clone(),
                data_digest: model.meta.data.digest.clone(),
                parent,
                created_at,
                git_sha: cfg.git_sha.clone(),
            };
            store.put(&artifact_key, Bytes::from(bytes)).await?;
            store.put(&rec.card_key, to_json(&card)).await?;
            let won = registry.register(&rec).await?;
            let fit_s = timings.fit_s;
            (
                rec,
                fit_s,
                won.then_some((started_ms, Some(card), Some(timings))),
            )
        }
    };
    if let Some((start, card, timings)) = tracked.filter(|_| cfg.mlflow.is_some()) {
        let n_train = train_rows.len() as u64;
        let batch = track::training_batch(
            &store.url(),
            cfg,
            &record,
            card.as_ref(),
            timings.as_ref(),
            n_train,
        );
        track::training(cfg, start, batch, &version).await;
    }
    let m = TrainManifest {
        version: version.clone(),
        artifact_key,
        sha256: record.sha256.clone(),
        datasets,
        n_train: train_rows.len() as u64,
        n_test: record.scores.n,
        macro_f1: record.scores.macro_f1,
        accuracy: record.scores.accuracy,
        fit_seconds,
        already: false,
    };
    store.put_if_absent(&manifest_key, to_json(&m)).await?;
    tracing::info!(
        stage = "train",
        key,
        model_version = version,
        rows_in = m.n_train,
        macro_f1 = m.macro_f1,
        "trained"
    );
    Ok(StageOutcome::Train(m))
}
