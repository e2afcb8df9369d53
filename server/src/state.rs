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
    metrics: Metrics,
    limits: Limits,
    permits: Semaphore,
    access_log: bool,
}

impl AppState {
    /// State with no model yet (`/ready` answers 503 until [`AppState::install`]).
    ///
    /// # Errors
    /// A [`prometheus::Error`] if the metrics cannot be registered (a bug).
    pub fn new(limits: Limits) -> Result<Self, prometheus::Error> {
        let permits = Semaphore::new(limits.max_concurrent_requests.min(Semaphore::MAX_PERMITS));
        Ok(Self {
            inner: Arc::new(Shared {
                model: ArcSwapOption::empty(),
                metrics: Metrics::new()?,
                limits,
                permits,
                access_log: false,
            }),
        })
    }

    /// The same state with the per-request access log on or off (before the state is shared).
    pub fn with_access_log(self, on: bool) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut shared) => {
                shared.access_log = on;
                Self {
                    inner: Arc::new(shared),
                }
            }
            Err(inner) => Self { inner },
        }
    }

    /// Whether requests are logged one line each.
    pub fn access_log(&self) -> bool {
        self.inner.access_log
    }

    /// The model serving now, if any.
    pub fn model(&self) -> Option<Arc<LoadedModel>> {
        self.inner.model.load_full()
    }

    /// Atomically makes `m` the serving model and returns the previous one.
    pub fn install(&self, m: LoadedModel) -> Option<Arc<LoadedModel>> {
        self.inner.metrics.model_installed(
            &m.version,
            &m.sha256,
            m.classifier.labels(),
            &m.classifier.meta.data.class_prior,
        );
        self.inner.model.swap(Some(Arc::new(m)))
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The request limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The `/predict` concurrency permits.
    pub(crate) fn permits(&self) -> &Semaphore {
        &self.inner.permits
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
