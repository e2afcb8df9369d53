//! Shared server state: the model currently serving (swapped atomically on reload), metrics and limits.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use axum::http::HeaderValue;
use polarity_core::Classifier;
use tokio::sync::Semaphore;

use crate::config::Limits;
use crate::metrics::Metrics;

/// A verified, warmed model ready to serve. Requests hold an `Arc` to the one they started with, so a swap
/// never disturbs them.
#[derive(Debug)]
pub struct LoadedModel {
    /// The classifier.
    pub classifier: Classifier,
    /// Version name (from the source; by default the first 12 hex digits of the SHA-256).
    pub version: String,
    /// SHA-256 of the artifact bytes, lower-case hex.
    pub sha256: String,
    /// When it was installed.
    pub loaded_at: SystemTime,
    /// `version` as a header value, built once.
    pub(crate) version_header: HeaderValue,
}

impl LoadedModel {
    /// Wraps a verified classifier.
    ///
    /// # Errors
    /// A message when `version` cannot be sent as an HTTP header value.
    pub fn new(classifier: Classifier, version: String, sha256: String) -> Result<Self, String> {
        let version_header = HeaderValue::from_str(&version)
            .map_err(|_| format!("model version {version:?} is not a valid header value"))?;
        Ok(Self {
            classifier,
            version,
            sha256,
            loaded_at: SystemTime::now(),
            version_header,
        })
    }
}

/// Cheap-to-clone handle on everything the handlers need.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    model: ArcSwapOption<LoadedModel>,
    /// The model the current one replaced, kept warm for shadow scoring.
    previous: ArcSwapOption<LoadedModel>,
    metrics: Metrics,
    limits: Limits,
    permits: Semaphore,
    /// One permit per byte of request body held (`--max-buffered-bytes`).
    buffered: Semaphore,
    options: ServingOptions,
}

/// How the API behaves beyond its limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ServingOptions {
    /// One line per request at info level.
    pub access_log: bool,
    /// The bearer token /predict and /v2/* require, if any.
    pub api_key: Option<String>,
    /// The model's name in the KServe V2 routes.
    pub model_name: String,
    /// Every how many texts the previous model also scores one (0: never).
    pub shadow_every: u64,
}

impl Default for ServingOptions {
    fn default() -> Self {
        Self {
            access_log: false,
            api_key: None,
            model_name: "polarity".into(),
            shadow_every: 10,
        }
    }
}

impl ServingOptions {
    /// Every how many texts to shadow-score one, for a sampling fraction in `[0, 1]` (0: never).
    pub fn shadow_every(fraction: f64) -> u64 {
        if fraction > 0.0 && fraction.is_finite() {
            (1.0 / fraction.min(1.0)).round().max(1.0) as u64
        } else {
            0
        }
    }
}

impl AppState {
    /// State with no model yet (`/ready` answers 503 until [`AppState::install`]).
    ///
    /// # Errors
    /// A [`prometheus::Error`] if the metrics cannot be registered (a bug).
    pub fn new(limits: Limits) -> Result<Self, prometheus::Error> {
        let permits = Semaphore::new(limits.max_concurrent_requests.min(Semaphore::MAX_PERMITS));
        let buffered = Semaphore::new(limits.max_buffered_bytes.min(Semaphore::MAX_PERMITS));
        Ok(Self {
            inner: Arc::new(Shared {
                model: ArcSwapOption::empty(),
                previous: ArcSwapOption::empty(),
                metrics: Metrics::new()?,
                limits,
                permits,
                buffered,
                options: ServingOptions::default(),
            }),
        })
    }

    /// The same state with other serving options (before the state is shared).
    pub fn with_options(self, options: ServingOptions) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut shared) => {
                shared.options = options;
                Self {
                    inner: Arc::new(shared),
                }
            }
            Err(inner) => Self { inner },
        }
    }

    /// The serving options.
    pub fn options(&self) -> &ServingOptions {
        &self.inner.options
    }

    /// The model the current one replaced, when shadow scoring should run for the next text: every
    /// `shadow_every`-th text a worker thread handles (a per-thread count: no shared counter on the hot
    /// path).
    pub(crate) fn shadow_for_next_text(&self) -> Option<arc_swap::Guard<Option<Arc<LoadedModel>>>> {
        thread_local! {
            static TEXTS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
        }
        let every = self.inner.options.shadow_every;
        if every == 0 {
            return None;
        }
        let n = TEXTS.get();
        TEXTS.set(n.wrapping_add(1));
        if !n.is_multiple_of(every) {
            return None;
        }
        let prev = self.inner.previous.load();
        prev.is_some().then_some(prev)
    }

    /// The model serving now, if any.
    pub fn model(&self) -> Option<Arc<LoadedModel>> {
        self.inner.model.load_full()
    }

    /// The model the serving one replaced, kept warm for shadow scoring, if any.
    pub fn previous_model(&self) -> Option<Arc<LoadedModel>> {
        self.inner.previous.load_full()
    }

    /// Atomically makes `m` the serving model and returns the previous one, which is kept warm for
    /// shadow scoring until the next swap.
    pub fn install(&self, m: LoadedModel) -> Option<Arc<LoadedModel>> {
        self.inner.metrics.model_installed(
            &m.version,
            &m.sha256,
            m.classifier.labels(),
            &m.classifier.meta.data.class_prior,
        );
        let old = self.inner.model.swap(Some(Arc::new(m)));
        self.inner.previous.store(old.clone());
        old
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The request limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The request-body byte budget: one permit per byte.
    pub(crate) fn buffered(&self) -> &Semaphore {
        &self.inner.buffered
    }

    /// The `/predict` concurrency permits.
    pub(crate) fn permits(&self) -> &Semaphore {
        &self.inner.permits
    }
}

impl AsRef<Metrics> for AppState {
    fn as_ref(&self) -> &Metrics {
        &self.inner.metrics
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shared_types_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::AppState>();
        assert_send_sync::<super::LoadedModel>();
    }
}
