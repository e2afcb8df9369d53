//! Loading and hot reload: fetch from a [`ModelSource`], verify the SHA-256, decode (the artifact checks its
//! own checksum), smoke-test, then swap atomically. A refused artifact never replaces the serving model.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use polarity_core::artifact::sha256_hex;
use polarity_pipeline::artifacts::{VerifyError, verify};

use crate::source::{ModelRef, ModelSource, SourceError};
use crate::state::{AppState, LoadedModel};

/// Why a model was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The source failed (or has nothing to serve yet).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The bytes are not the model the source names, or not a valid model (the checks every loader
    /// makes: [`polarity_pipeline::artifacts::verify`]).
    #[error("artifact refused: {0}")]
    Refused(#[from] VerifyError),
    /// The model is valid but cannot be served (e.g. its version is not a header value), or the loader
    /// task failed.
    #[error("model cannot be served: {0}")]
    Unservable(String),
}

impl LoadError {
    /// Whether trying again later may succeed (only some source failures).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Source(e) if e.is_retryable())
    }

    /// True when the source simply has no model yet.
    pub fn is_no_model(&self) -> bool {
        matches!(self, Self::Source(SourceError::NoModel(_)))
    }
}

/// Verifies, decodes, validates and warms artifact bytes (CPU-bound; run off the async workers).
///
/// # Errors
/// [`LoadError::Refused`] or [`LoadError::Unservable`].
pub fn prepare(r: &ModelRef, bytes: &[u8]) -> Result<LoadedModel, LoadError> {
    let sha = sha256_hex(bytes);
    let classifier = verify(bytes, r.sha256.as_deref())?;
    LoadedModel::new(classifier, r.version.clone(), sha).map_err(LoadError::Unservable)
}

async fn fetch_and_prepare(r: &ModelRef, bytes: Bytes) -> Result<LoadedModel, LoadError> {
    let r = r.clone();
    tokio::task::spawn_blocking(move || prepare(&r, &bytes))
        .await
        .map_err(|e| LoadError::Unservable(format!("loader task failed: {e}")))?
}

/// Loads the first model and installs it, retrying retryable source errors up to `attempts` times.
///
/// # Errors
/// The last [`LoadError`].
pub(crate) async fn load_initial(
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
            fetch_and_prepare(&r, bytes).await
        }
        .await;
        match res {
            Ok(m) => {
                tracing::info!(model_version = %m.version, sha256 = %m.sha256, labels = ?m.classifier.labels(), source = %source.describe(), "model loaded");
                state.install(m);
                return state
                    .model()
                    .ok_or(LoadError::Unservable("model vanished after install".into()));
            }
            Err(e) if e.is_retryable() && !e.is_no_model() && tries < attempts => {
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
            Err(SourceError::NoModel(why)) => {
                tracing::debug!(source = %source.describe(), why, "no model to serve yet");
                return ReloadOutcome::Unchanged;
            }
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
        match fetch_and_prepare(&r, bytes).await {
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
