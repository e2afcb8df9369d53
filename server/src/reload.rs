//! Loading and hot reload: fetch from a [`ModelSource`], verify the SHA-256, decode (the artifact checks its
//! own checksum), smoke-test, then swap atomically. A refused artifact never replaces the serving model.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use polarity_core::artifact::{ArtifactError, decode, sha256_hex};
use polarity_core::model::PredictScratch;

use crate::metrics::Metrics;
use crate::source::{ModelRef, ModelSource, SourceError};
use crate::state::{AppState, LoadedModel};

/// Text used to warm and smoke-test every model before it serves.
pub const SMOKE_TEXT: &str = "a smoke test : this film was good , not bad .";

/// Why a model was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The bytes differ from the SHA-256 the source announced.
    #[error("artifact SHA-256 {found} does not match the expected {expected}")]
    Checksum {
        /// What the source announced.
        expected: String,
        /// What the bytes hash to.
        found: String,
    },
    /// The bytes are not a valid artifact.
    #[error("artifact refused: {0}")]
    Artifact(#[from] ArtifactError),
    /// The model decoded but cannot serve.
    #[error("model failed its smoke test: {0}")]
    Smoke(String),
}

impl LoadError {
    /// Whether trying again later may succeed (only some source failures).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Source(e) if e.is_retryable())
    }
}

/// Verifies, decodes and smoke-tests artifact bytes (CPU-bound; run off the async workers for big models).
///
/// # Errors
/// [`LoadError::Checksum`], [`LoadError::Artifact`] or [`LoadError::Smoke`].
pub fn prepare(r: &ModelRef, bytes: &[u8], metrics: &Metrics) -> Result<LoadedModel, LoadError> {
    let sha = sha256_hex(bytes);
    if let Some(expected) = r.sha256.as_ref().filter(|e| **e != sha) {
        return Err(LoadError::Checksum {
            expected: expected.clone(),
            found: sha,
        });
    }
    let classifier = decode(bytes)?;
    let labels = classifier.labels().len();
    if labels < 2 {
        return Err(LoadError::Smoke(format!("{labels} labels")));
    }
    if classifier.meta.data.class_prior.len() != labels {
        return Err(LoadError::Smoke(
            "class prior and labels differ in length".into(),
        ));
    }
    let mut s = PredictScratch::default();
    let (best, _) = classifier.predict_into(SMOKE_TEXT, &mut s);
    let sum: f64 = s.probs.iter().sum();
    if s.probs.len() != labels
        || best >= labels
        || !s.probs.iter().all(|p| p.is_finite())
        || (sum - 1.0).abs() > 1e-6
    {
        return Err(LoadError::Smoke(format!(
            "probabilities {:?} are not a distribution over {labels} labels",
            s.probs
        )));
    }
    LoadedModel::new(classifier, r.version.clone(), sha, metrics).map_err(LoadError::Smoke)
}

async fn fetch_and_prepare(
    state: &AppState,
    r: &ModelRef,
    bytes: Bytes,
) -> Result<LoadedModel, LoadError> {
    let st = state.clone();
    let r = r.clone();
    tokio::task::spawn_blocking(move || prepare(&r, &bytes, st.metrics()))
        .await
        .map_err(|e| LoadError::Smoke(format!("loader task failed: {e}")))?
}

/// Loads the first model and installs it, retrying retryable source errors up to `attempts` times.
///
/// # Errors
/// The last [`LoadError`].
pub async fn load_initial(
    state: &AppState,
    source: &dyn ModelSource,
    attempts: u32,
) -> Result<Arc<LoadedModel>, LoadError> {
    let mut delay = Duration::from_millis(200);
    let mut tries = 0;
    loop {
        tries += 1;
        let res = async {
            let r = source.current().await?;
            let bytes = source.fetch(&r).await?;
            fetch_and_prepare(state, &r, bytes).await
        }
        .await;
        match res {
            Ok(m) => {
                tracing::info!(model_version = %m.version, sha256 = %m.sha256, labels = ?m.classifier.labels(), source = %source.describe(), "model loaded");
                state.install(m);
                return state
                    .model()
                    .ok_or(LoadError::Smoke("model vanished after install".into()));
            }
            Err(e) if e.is_retryable() && tries < attempts => {
                tracing::warn!(error = %e, attempt = tries, "model source unavailable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// What one reload check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The source still points at the serving model (or at an artifact already refused).
    Unchanged,
    /// A new model now serves.
    Swapped(String),
    /// The check failed; the old model keeps serving.
    Failed(String),
}

/// Polls `source` and hot-swaps new models; see [`reload_once`].
#[derive(Debug, Default)]
pub struct Reloader {
    /// The last refused artifact: (pointer, SHA-256 of the bytes it gave).
    refused: Option<(ModelRef, String)>,
}

impl Reloader {
    /// Checks the source once. A new version is fetched, verified, smoke-tested and swapped in; a refused
    /// artifact is logged, counted in `polarity_model_reloads_total{result="failure"}` and remembered (by
    /// pointer and content hash) so that it is not retried every poll. Source errors are logged and counted.
    pub async fn reload_once(
        &mut self,
        state: &AppState,
        source: &dyn ModelSource,
    ) -> ReloadOutcome {
        let m = state.metrics();
        let r = match source.current().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, retryable = e.is_retryable(), source = %source.describe(), "model reload failed: source error; old model keeps serving");
                m.reload(false);
                return ReloadOutcome::Failed(e.to_string());
            }
        };
        let serving = state.model();
        if serving.as_ref().is_some_and(|s| {
            s.version == r.version && r.sha256.as_ref().is_none_or(|h| *h == s.sha256)
        }) {
            return ReloadOutcome::Unchanged;
        }
        let bytes = match source.fetch(&r).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, retryable = e.is_retryable(), model_version = %r.version, "model reload failed: fetch error; old model keeps serving");
                m.reload(false);
                return ReloadOutcome::Failed(e.to_string());
            }
        };
        let key = (r.clone(), sha256_hex(&bytes));
        if self.refused.as_ref() == Some(&key) {
            return ReloadOutcome::Unchanged;
        }
        match fetch_and_prepare(state, &r, bytes).await {
            Ok(new) => {
                let version = new.version.clone();
                let old = state.install(new);
                m.reload(true);
                self.refused = None;
                tracing::info!(model_version = %version, previous = old.as_ref().map_or("", |o| o.version.as_str()), "model reloaded");
                ReloadOutcome::Swapped(version)
            }
            Err(e) => {
                tracing::error!(error = %e, model_version = %r.version, sha256 = %key.1, serving = serving.as_ref().map_or("", |s| s.version.as_str()), "model reload refused; old model keeps serving");
                m.reload(false);
                self.refused = Some(key);
                ReloadOutcome::Failed(e.to_string())
            }
        }
    }
}

/// Checks the source every `interval` forever (spawn it; abort the task to stop). A zero interval returns
/// at once (hot reload disabled).
pub async fn poll(state: AppState, source: Arc<dyn ModelSource>, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    let mut reloader = Reloader::default();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        reloader.reload_once(&state, source.as_ref()).await;
    }
}
