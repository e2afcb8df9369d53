//! [`MlflowTracker`]: what train and validate log to MLflow (when `MLFLOW_TRACKING_URI` is set), best
//! effort.
//!
//! * Train logs one run per version, named after it and tagged `polarity.version`: params (the flattened
//!   training settings, `train_mode`, `test_fraction`, `datasets`), metrics (held-out `accuracy`,
//!   `macro_f1`, `weighted_f1`, `log_loss`, per-class `f1.<class>`/`recall.<class>`, `n_train`, `n_test`,
//!   `vectorize_seconds`, `fit_seconds`, `eval_seconds`) and tags (`polarity.sha256`, `polarity.artifact`
//!   (store URL + key), `polarity.data_digest`, `polarity.datasets`, `mlflow.source.git.commit`, …),
//!   then marks it `FINISHED`. The run is looked up by tag first, so a retried train never makes a second
//!   run, and an already finished run is left alone.
//! * Validate finds that run by tag and adds the verdict: tags `polarity.verdict`, `polarity.promoted`,
//!   `polarity.verdict_reason`, `polarity.judged_against`, metrics `validation.*` for both models.
//! * Model Registry: before the run is marked finished, the version becomes a model version of the
//!   registered model (`POLARITY_MLFLOW_MODEL`, default `polarity`), tagged `polarity.version`. When the
//!   server proxies artifacts (`mlflow-artifacts:`, `mlflow server`'s default) the artifact and its card
//!   are uploaded to the run's `model/` folder and the source is `runs:/<run>/model`; otherwise the source
//!   links the version's folder in the store (`s3://bucket/models/<version>`; the server refuses a
//!   `file://` link). Whenever the production pointer moves (promotion, manual promotion, rollback) the
//!   alias [`CHAMPION_ALIAS`] is moved to the production version's model version.
//!
//! A failure or a slow server (each request is limited to the configured timeout, the whole logging to
//! three times that) is a `tracing` warning; the stage goes on.

use std::future::Future;

use async_trait::async_trait;
use serde_json::Value;

use super::{Tracker, TrainedRun};
use crate::mlflow::{Batch, Client, MlflowConfig, MlflowError};
use crate::records::Decision;
use crate::records::clock::now_ms;

/// Logs to an MLflow tracking server.
#[derive(Debug, Clone)]
pub struct MlflowTracker {
    cfg: MlflowConfig,
}

impl MlflowTracker {
    /// A tracker for the server `cfg` names.
    pub fn new(cfg: MlflowConfig) -> Self {
        Self { cfg }
    }
}

#[async_trait]
impl Tracker for MlflowTracker {
    async fn trained(&self, run: &TrainedRun<'_>) {
        let batch = training_batch(run);
        training(&self.cfg, run.started_ms, batch, ModelFiles::of(run)).await;
    }

    async fn decided(&self, d: &Decision) {
        verdict(&self.cfg, d).await;
    }

    async fn production_moved(&self, version: &str) {
        champion(&self.cfg, version).await;
    }
}

/// The alias that follows the production pointer.
pub(crate) const CHAMPION_ALIAS: &str = "champion";

/// The tag that names a run's model version.
pub const VERSION_TAG: &str = "polarity.version";

/// Runs `f` with a client under the overall deadline; logs a warning on any failure.
async fn best_effort<F, Fut>(m: &MlflowConfig, what: &str, version: &str, f: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<(), MlflowError>>,
{
    let deadline = m.timeout * 3;
    let result = match Client::new(m) {
        Ok(c) => tokio::time::timeout(deadline, f(c)).await,
        Err(e) => Ok(Err(e)),
    };
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(model_version = version, tracking_uri = crate::mlflow::redacted(&m.tracking_uri), error = %e, "MLflow: could not log the {what}; continuing");
        }
        Err(_) => {
            tracing::warn!(
                model_version = version,
                tracking_uri = crate::mlflow::redacted(&m.tracking_uri),
                "MLflow: logging the {what} took longer than {deadline:?}; continuing"
            );
        }
    }
}

/// `{"a": {"b": 1}}` → `[("a.b", "1")]`; `null` → `"none"`.
pub(crate) fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(map) => map.iter().for_each(|(k, v)| flatten(&key(k), v, out)),
        Value::Null => out.push((prefix.to_string(), "none".into())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// A class name as a metric-key segment (MLflow allows letters, digits, `_-. /`).
pub(crate) fn key_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-. /".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The training run's params, metrics and tags.
pub(crate) fn training_batch(run: &TrainedRun<'_>) -> Batch {
    let (cfg, rec, card, timings) = (run.settings, run.record, run.card, run.timings);
    let mut b = Batch::default();
    flatten(
        "",
        &serde_json::to_value(cfg.train.get()).expect("training settings are plain data"),
        &mut b.params,
    );
    b.params.extend([
        ("train_mode".into(), cfg.train_mode.as_str().to_string()),
        ("test_fraction".into(), cfg.test_fraction.to_string()),
        ("datasets".into(), rec.datasets.join(",")),
    ]);
    let full = card.and_then(|c| c.metrics.as_ref());
    b.metrics.extend([
        ("accuracy".into(), rec.scores.accuracy),
        ("macro_f1".into(), rec.scores.macro_f1),
        ("n_train".into(), run.n_train as f64),
        ("n_test".into(), rec.scores.n as f64),
    ]);
    if let Some(m) = full {
        b.metrics.push(("weighted_f1".into(), m.weighted_f1));
        b.metrics.push(("log_loss".into(), m.log_loss));
        for (class, cm) in &m.per_class {
            b.metrics.push((format!("f1.{}", key_part(class)), cm.f1));
            b.metrics
                .push((format!("recall.{}", key_part(class)), cm.recall));
        }
    }
    if let Some(t) = timings {
        b.metrics.extend([
            ("vectorize_seconds".into(), t.vectorize_s),
            ("fit_seconds".into(), t.fit_s),
            ("eval_seconds".into(), t.eval_s),
        ]);
    }
    let url = run.store_url.trim_end_matches('/');
    b.tags.extend([
        (VERSION_TAG.into(), rec.version.clone()),
        ("polarity.sha256".into(), rec.sha256.clone()),
        (
            "polarity.artifact".into(),
            format!("{url}/{}", rec.artifact_key),
        ),
        ("polarity.artifact_key".into(), rec.artifact_key.clone()),
        ("polarity.card_key".into(), rec.card_key.clone()),
        ("polarity.data_digest".into(), rec.data_digest.clone()),
        ("polarity.datasets".into(), rec.datasets.join(",")),
        ("polarity.labels".into(), rec.labels.join(",")),
        (
            "polarity.parent".into(),
            rec.parent.clone().unwrap_or_else(|| "none".into()),
        ),
        (
            "polarity.polarity_version".into(),
            env!("CARGO_PKG_VERSION").into(),
        ),
        (
            "mlflow.source.name".into(),
            "polarity-pipeline/train".into(),
        ),
    ]);
    if let Some(c) = card {
        b.tags.push((
            "polarity.dataset_rows".into(),
            serde_json::to_string(
                &c.datasets
                    .iter()
                    .map(|d| (d.dataset.as_str(), &d.train))
                    .collect::<std::collections::BTreeMap<_, _>>(),
            )
            .expect("row counts always serialise"),
        ));
    }
    if let Some(sha) = &rec.git_sha {
        b.tags
            .push(("mlflow.source.git.commit".into(), sha.clone()));
    }
    b
}

/// Logs a trained version: finds its run by tag or creates it, logs the batch, marks it finished. A run
/// already `FINISHED` is left as it is.
async fn training(m: &MlflowConfig, start_ms: u64, batch: Batch, model: ModelFiles) {
    let version = model.version.clone();
    let version = version.as_str();
    best_effort(m, "training run", version, |c| async move {
        let exp = c.experiment_id().await?;
        let run_id = match c.find_run(&exp, VERSION_TAG, version).await? {
            Some(r) if r.status == "FINISHED" => {
                tracing::info!(
                    model_version = version,
                    run_id = r.run_id,
                    "MLflow: run already logged"
                );
                return Ok(());
            }
            Some(r) => r.run_id,
            None => {
                let tag = [(VERSION_TAG.to_string(), version.to_string())];
                c.create_run(&exp, version, start_ms, &tag).await?
            }
        };
        c.log_batch(&run_id, &batch).await?;
        register(&c, &run_id, &model).await?;
        c.set_status(&run_id, "FINISHED", now_ms()).await?;
        tracing::info!(
            model_version = version,
            run_id,
            experiment_id = exp,
            "MLflow: run logged"
        );
        Ok(())
    })
    .await;
}

/// What a model version is registered from.
struct ModelFiles {
    version: String,
    sha256: String,
    artifact: bytes::Bytes,
    card: Option<bytes::Bytes>,
    /// The version's folder in the store (`s3://bucket/models/<version>`).
    folder: String,
    description: String,
}

impl ModelFiles {
    fn of(run: &TrainedRun<'_>) -> Self {
        let r = run.record;
        let folder = r
            .artifact_key
            .rsplit_once('/')
            .map_or(r.artifact_key.as_str(), |(d, _)| d);
        Self {
            version: r.version.clone(),
            sha256: r.sha256.clone(),
            artifact: run.artifact.clone(),
            card: run
                .card
                .and_then(|c| serde_json::to_vec_pretty(c).ok())
                .map(bytes::Bytes::from),
            folder: format!("{}/{folder}", run.store_url.trim_end_matches('/')),
            description: format!(
                "Polarity {} trained on {}; held-out macro-F1 {:.4} on {} rows",
                r.version,
                r.datasets.join(", "),
                r.scores.macro_f1,
                r.scores.n
            ),
        }
    }
}

/// Registers the version as a model version made by `run_id` (once; a resumed run finds it).
async fn register(c: &Client, run_id: &str, m: &ModelFiles) -> Result<(), MlflowError> {
    let name = c.config().registered_model.clone();
    c.ensure_registered_model(&name).await?;
    if c.find_model_version(&name, run_id).await?.is_some() {
        return Ok(());
    }
    let root = c.artifact_uri(run_id).await?;
    let source = if c
        .upload_artifact(&root, "model/model.plm", m.artifact.clone())
        .await?
    {
        if let Some(card) = &m.card {
            c.upload_artifact(&root, "model/card.json", card.clone())
                .await?;
        }
        format!("runs:/{run_id}/model")
    } else {
        m.folder.clone()
    };
    let tags = [
        (VERSION_TAG.to_string(), m.version.clone()),
        ("polarity.sha256".to_string(), m.sha256.clone()),
    ];
    let n = c
        .create_model_version(&name, &source, run_id, &tags, &m.description)
        .await?;
    tracing::info!(
        model_version = m.version,
        registered_model = name,
        registry_version = n,
        "MLflow: model version registered"
    );
    Ok(())
}

/// Moves the champion alias to `version`'s model version.
async fn champion(m: &MlflowConfig, version: &str) {
    best_effort(m, "champion alias", version, |c| async move {
        let name = c.config().registered_model.clone();
        let exp = c.experiment_id().await?;
        let found = match c.find_run(&exp, VERSION_TAG, version).await? {
            Some(r) => c.find_model_version(&name, &r.run_id).await?,
            None => None,
        };
        match found {
            Some(n) => {
                c.set_alias(&name, CHAMPION_ALIAS, &n).await?;
                tracing::info!(model_version = version, registered_model = name, registry_version = n, "MLflow: {CHAMPION_ALIAS} alias moved");
            }
            None => tracing::warn!(
                model_version = version,
                "MLflow: {version} is not a model version of {name} (tracking was down when it trained?); the {CHAMPION_ALIAS} alias was not moved"
            ),
        }
        Ok(())
    })
    .await;
}

/// The verdict's tags and metrics.
pub(crate) fn verdict_batch(d: &Decision) -> Batch {
    let mut b = Batch::default();
    b.tags.extend([
        ("polarity.verdict".into(), d.verdict.as_str().to_string()),
        ("polarity.promoted".into(), d.promoted.to_string()),
        ("polarity.verdict_reason".into(), d.reason.clone()),
        (
            "polarity.judged_against".into(),
            d.production.clone().unwrap_or_else(|| "none".into()),
        ),
    ]);
    b.metrics.extend([
        (
            "validation.candidate_macro_f1".into(),
            d.candidate_scores.macro_f1,
        ),
        (
            "validation.candidate_accuracy".into(),
            d.candidate_scores.accuracy,
        ),
        ("validation.eval_rows".into(), d.eval_rows as f64),
        (
            "validation.promoted".into(),
            f64::from(u8::from(d.promoted)),
        ),
    ]);
    if let Some(p) = &d.production_scores {
        b.metrics
            .push(("validation.production_macro_f1".into(), p.macro_f1));
        b.metrics
            .push(("validation.production_accuracy".into(), p.accuracy));
    }
    if let Some(p) = d.p_value {
        b.metrics.push(("validation.p_value".into(), p));
    }
    b
}

/// Adds the verdict to the version's run (found by tag); warns when there is no such run.
async fn verdict(m: &MlflowConfig, d: &Decision) {
    let version = d.version.as_str();
    let batch = verdict_batch(d);
    best_effort(m, "verdict", version, |c| async move {
        let exp = c.experiment_id().await?;
        match c.find_run(&exp, VERSION_TAG, version).await? {
            Some(r) => {
                c.log_batch(&r.run_id, &batch).await?;
                tracing::info!(model_version = version, run_id = r.run_id, "MLflow: verdict logged");
            }
            None => tracing::warn!(
                model_version = version,
                "MLflow: no run tagged {VERSION_TAG}={version} (tracking was down when it trained?); verdict not logged"
            ),
        }
        Ok(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_flatten_to_dotted_params() {
        let mut out = Vec::new();
        flatten(
            "",
            &serde_json::to_value(polarity_core::train::TrainConfig::default()).unwrap(),
            &mut out,
        );
        let get = |k: &str| out.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("tfidf.ngram_max"), Some("2"));
        assert_eq!(get("tfidf.max_features"), Some("20000"));
        assert_eq!(get("logistic.max_iter"), Some("2000"));
        assert!(get("clean.lowercase").is_some());
        assert_eq!(key_part("très bien!"), "tr_s bien_");
    }
}
