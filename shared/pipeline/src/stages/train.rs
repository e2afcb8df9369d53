//! Train: a processed manifest (a new dataset) or a dataset decision (`datasets/<dataset>.json`) → a
//! candidate version. Steps: [`choose_datasets`] (the active ones, see [`crate::datasets`]) → the version
//! name from the inputs → above the in-process row limit, an ECS task that runs these same steps
//! ([`crate::dispatch`]) → [`load_training_data`] (train and test splits merged, newest upload wins) →
//! `fit_and_register` (or, after a crash between registering and the manifest, `resume`) → report to
//! the tracker → the manifest last. The version name derives from the inputs, so a re-delivered or
//! out-of-order event that sees the same datasets trains nothing new.

use bytes::Bytes;
use polarity_core::labels::{LabelScheme, Labels};
use polarity_core::prepare::{self, PreparedRow};
use polarity_core::text::clean;
use polarity_core::train::{self as core_train, TrainConfig, TrainTimings};
use polarity_core::tune::TuneGrid;

use super::Ctx;
use crate::config::{PipelineConfig, TrainMode};
use crate::datasets;
use crate::dispatch::{self, Placement};
use crate::error::PipelineError;
use crate::layout::{self, ARTIFACT, CARD, MANIFEST, PROCESSED, Stage};
use crate::records::clock::{now_ms, now_secs};
use crate::records::json::to_json;
use crate::records::manifests::SPLIT_RULE;
use crate::records::{
    CardDataset, ModelCard, ProcessManifest, StageOutcome, TaskDispatch, TrainManifest,
};
use crate::registry::{Registry, Scores, VersionRecord};
use crate::store::ObjectStore;
use crate::stored::{from_jsonl, read_json};
use crate::tracker::TrainedRun;

/// The version name for training `datasets` with `cfg` (see `layout::version_name`). The same training
/// input (the same active datasets, whose ids are their content, and the same settings) names the same
/// version, however it came about (an exclude undone by an include, a re-delivered event): nothing is
/// trained or registered twice.
pub fn version_for(datasets: &[String], cfg: &PipelineConfig) -> String {
    let mut inputs = serde_json::json!({
        "datasets": datasets,
        "train": cfg.train.get(),
        "test_fraction": cfg.test_fraction,
        "split": SPLIT_RULE,
        "polarity": env!("CARGO_PKG_VERSION"),
    });
    if cfg.tune {
        inputs["tune"] = serde_json::json!(TuneGrid::default());
    }
    layout::version_name(&inputs)
}

/// What a training run uses: every active dataset, oldest upload first, or the newest active one under
/// [`TrainMode::Latest`].
///
/// # Errors
/// A store error.
pub async fn choose_datasets(ctx: Ctx<'_>) -> Result<Vec<ProcessManifest>, PipelineError> {
    let mut active = datasets::active(ctx.store).await?;
    if ctx.cfg.train_mode == TrainMode::Latest {
        active = active.pop().into_iter().collect();
    }
    Ok(active)
}

/// The training and held-out rows of several datasets.
#[derive(Debug, Clone, Default)]
pub struct TrainingData {
    /// Training rows, merged (newest upload wins a cleaned text).
    pub train: Vec<PreparedRow>,
    /// Held-out rows, merged the same way.
    pub test: Vec<PreparedRow>,
}

/// One split of several datasets (oldest first), merged with the newest upload winning; texts are
/// re-cleaned when a dataset was processed with other cleaning settings than `cfg`'s.
///
/// # Errors
/// A store error, or unreadable rows.
pub(crate) async fn load_split(
    store: &dyn ObjectStore,
    datasets: &[ProcessManifest],
    split: &str,
    cfg: &PipelineConfig,
) -> Result<Vec<PreparedRow>, PipelineError> {
    let mut sets = Vec::with_capacity(datasets.len());
    for d in datasets {
        let key = layout::processed(&d.dataset, &format!("{split}.jsonl"));
        let mut rows: Vec<PreparedRow> = match store.get_opt(&key).await? {
            Some(b) => from_jsonl(&key, &b)?,
            None => Vec::new(),
        };
        if d.clean != cfg.train.clean {
            let c = cfg.train.clean;
            rows.iter_mut().for_each(|r| r.clean = clean(&r.text, &c));
            rows.retain(|r| !r.clean.trim().is_empty());
        }
        sets.push(rows);
    }
    Ok(prepare::merge_latest_wins(sets))
}

/// Both splits of `datasets`.
///
/// # Errors
/// As `load_split`.
pub async fn load_training_data(
    store: &dyn ObjectStore,
    datasets: &[ProcessManifest],
    cfg: &PipelineConfig,
) -> Result<TrainingData, PipelineError> {
    Ok(TrainingData {
        train: load_split(store, datasets, "train", cfg).await?,
        test: load_split(store, datasets, "test", cfg).await?,
    })
}

/// A registered version and what this run knows about how it was made.
struct Registered {
    record: VersionRecord,
    /// The artifact's bytes.
    artifact: Bytes,
    card: Option<ModelCard>,
    /// Set when this run fitted the model.
    timings: Option<TrainTimings>,
    converged: bool,
}

/// Fits on `data`, writes the artifact and the card, and registers the version. `Err(reason)` inside
/// when the data cannot be trained on (the run is skipped with it).
async fn fit_and_register(
    ctx: Ctx<'_>,
    registry: &dyn Registry,
    version: &str,
    datasets: &[ProcessManifest],
    data: &TrainingData,
    labels: Labels,
) -> Result<Result<Registered, String>, PipelineError> {
    let parent = registry.pointer().await?.version;
    let (tr, _) = prepare::labelled(&data.train, &labels);
    let (te, _) = prepare::labelled(&data.test, &labels);
    let train_cfg = ctx.cfg.train.clone();
    let tune = ctx.cfg.tune;
    let fitted = tokio::task::spawn_blocking(move || {
        if tune {
            polarity_core::tune::train_tuned(
                &train_cfg,
                &tr,
                &te,
                labels,
                LabelScheme::Names,
                &TuneGrid::default(),
            )
            .map(|(m, t, tuning)| (m, t, Some(tuning)))
        } else {
            core_train::train(&train_cfg, &tr, &te, labels, LabelScheme::Names)
                .map(|(m, t)| (m, t, None))
        }
    })
    .await
    .map_err(|e| PipelineError::Task(e.to_string()))?;
    let ids: Vec<&str> = datasets.iter().map(|d| d.dataset.as_str()).collect();
    let (model, timings, tuning) = match fitted {
        Ok(x) => x,
        Err(e) => return Ok(Err(format!("cannot train on {}: {e}", ids.join(",")))),
    };
    let bytes = polarity_core::artifact::encode(&model);
    let sha256 = polarity_core::artifact::sha256_hex(&bytes);
    let created_at = now_secs();
    let card = ModelCard {
        version: version.to_string(),
        labels: model.meta.labels.clone(),
        datasets: datasets
            .iter()
            .map(|d| CardDataset {
                dataset: d.dataset.clone(),
                name: d.name.clone(),
                file_name: d.file_name.clone(),
                uploaded_at: d.uploaded_at,
                train: d.train.clone(),
                test: d.test.clone(),
            })
            .collect(),
        data_digest: model.meta.data.digest.clone(),
        config: TrainConfig {
            clean: model.meta.clean,
            tfidf: model.meta.tfidf.clone(),
            logistic: model.meta.logistic.clone(),
        },
        tuning,
        fit: model.meta.fit.clone(),
        metrics: model.meta.metrics.clone(),
        parent: parent.clone(),
        created_at,
        git_sha: ctx.cfg.git_sha.clone(),
        polarity_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let m = model.meta.metrics.as_ref();
    let record = VersionRecord {
        version: version.to_string(),
        artifact_key: layout::model(version, ARTIFACT),
        sha256,
        card_key: layout::model(version, CARD),
        labels: model.meta.labels.clone(),
        scores: Scores {
            n: model.meta.data.n_test,
            accuracy: m.map_or(0.0, |m| m.accuracy),
            macro_f1: m.map_or(0.0, |m| m.macro_f1),
        },
        datasets: ids.iter().map(|s| s.to_string()).collect(),
        data_digest: model.meta.data.digest.clone(),
        parent,
        created_at,
        git_sha: ctx.cfg.git_sha.clone(),
    };
    let artifact = Bytes::from(bytes);
    ctx.store
        .put(&record.artifact_key, artifact.clone())
        .await?;
    ctx.store.put(&record.card_key, to_json(&card)).await?;
    let won = registry.register(&record).await?;
    let converged = model.meta.fit.converged;
    if !converged {
        tracing::warn!(
            stage = "train",
            model_version = version,
            iterations = model.meta.fit.iterations,
            "the fit did not converge within max_iter (POLARITY_MAX_ITER); the candidate is validated as usual"
        );
    }
    Ok(Ok(Registered {
        record,
        artifact,
        card: Some(card),
        // a racing duplicate registered it first: that run reports the timings
        timings: won.then_some(timings),
        converged,
    }))
}

/// A version registered by an earlier run that crashed before its manifest: the artifact is in place;
/// finish the commit.
async fn resume(ctx: Ctx<'_>, record: VersionRecord) -> Result<Registered, PipelineError> {
    let card: Option<ModelCard> = read_json(ctx.store, &record.card_key).await.ok().flatten();
    let converged = card.as_ref().is_none_or(|c| c.fit.converged);
    let artifact = ctx.store.get(&record.artifact_key).await?;
    Ok(Registered {
        record,
        artifact,
        card,
        timings: None,
        converged,
    })
}

/// Runs train on `processed/<dataset>/manifest.json` or `datasets/<dataset>.json`.
///
/// # Errors
/// Store and registry errors.
pub async fn train(ctx: Ctx<'_>, key: &str) -> Result<StageOutcome, PipelineError> {
    let started_ms = now_ms();
    if layout::manifest_owner(key, PROCESSED).is_none() && layout::control_owner(key).is_none() {
        return Ok(StageOutcome::Skipped {
            of: Stage::Train,
            reason: format!("{key} is not a processed manifest or a dataset decision"),
        });
    }
    let chosen = choose_datasets(ctx).await?;
    if chosen.is_empty() {
        return Ok(StageOutcome::Skipped {
            of: Stage::Train,
            reason: "no active dataset to train on (see `polarity dataset list`)".into(),
        });
    }
    let ids: Vec<String> = chosen.iter().map(|d| d.dataset.clone()).collect();
    let version = version_for(&ids, ctx.cfg);
    let manifest_key = layout::model(&version, MANIFEST);
    if let Some(mut m) = read_json::<TrainManifest>(ctx.store, &manifest_key).await? {
        m.already = true;
        return Ok(StageOutcome::Train(m));
    }
    let rows = dispatch::training_rows(&chosen);
    match (
        dispatch::decide(rows, ctx.cfg.dispatch.max_rows, ctx.launcher.is_some()),
        ctx.launcher,
    ) {
        (Placement::Task { limit }, Some(launcher)) => {
            let claim = TaskDispatch {
                version: version.clone(),
                key: key.to_string(),
                rows,
                max_rows: limit,
                claimed_at: started_ms,
                task_arn: None,
                already: false,
            };
            let d = dispatch::start_once(ctx.store, launcher, claim).await?;
            tracing::info!(
                stage = "train",
                key,
                model_version = version,
                rows_in = rows,
                max_rows = limit,
                task_arn = d.task_arn.as_deref().unwrap_or_default(),
                already = d.already,
                "above the in-process limit: the train task trains this version"
            );
            return Ok(StageOutcome::Dispatched(d));
        }
        (Placement::InProcessOverLimit { limit }, _) => tracing::warn!(
            stage = "train",
            key,
            model_version = version,
            rows_in = rows,
            max_rows = limit,
            "above the in-process limit (POLARITY_TRAIN_MAX_ROWS) and no train task is configured (POLARITY_TASK_*): training here, which may run out of memory or time"
        ),
        _ => {}
    }
    let data = load_training_data(ctx.store, &chosen, ctx.cfg).await?;
    let labels = Labels::from_names(data.train.iter().map(|r| r.label.as_str()));
    if labels.len() < 2 {
        let reason = format!(
            "the training rows of {} have {} class(es) {:?}; need at least two",
            ids.join(","),
            labels.len(),
            labels.names()
        );
        tracing::warn!(stage = "train", key, reason, "skipped");
        return Ok(StageOutcome::Skipped {
            of: Stage::Train,
            reason,
        });
    }
    let registry = ctx.registry(Stage::Train)?;
    let (registered, fit_seconds) = match registry.version(&version).await? {
        Some(rec) => (resume(ctx, rec).await?, 0.0),
        None => match fit_and_register(ctx, registry, &version, &chosen, &data, labels).await? {
            Ok(r) => {
                let secs = r.timings.map_or(0.0, |t| t.fit_s);
                (r, secs)
            }
            Err(reason) => {
                tracing::warn!(stage = "train", key, reason, "skipped");
                return Ok(StageOutcome::Skipped {
                    of: Stage::Train,
                    reason,
                });
            }
        },
    };
    let store_url = ctx.store.url();
    ctx.tracker
        .trained(&TrainedRun {
            record: &registered.record,
            card: registered.card.as_ref(),
            timings: registered.timings.as_ref(),
            n_train: data.train.len() as u64,
            started_ms: registered
                .timings
                .map_or(registered.record.created_at * 1000, |_| started_ms),
            settings: ctx.cfg,
            store_url: &store_url,
            artifact: &registered.artifact,
        })
        .await;
    let rec = &registered.record;
    let m = TrainManifest {
        version: version.clone(),
        artifact_key: rec.artifact_key.clone(),
        sha256: rec.sha256.clone(),
        datasets: ids,
        n_train: data.train.len() as u64,
        n_test: rec.scores.n,
        macro_f1: rec.scores.macro_f1,
        accuracy: rec.scores.accuracy,
        fit_seconds,
        converged: registered.converged,
        already: false,
    };
    ctx.store.put_if_absent(&manifest_key, to_json(&m)).await?;
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
