//! The registry adapter of [`ModelSource`]: serves whatever the model registry's production pointer names,
//! fetching the artifact from the object store (local twins for `--home`, DynamoDB + S3 in AWS).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use polarity_pipeline::aws::AwsSettings;
use polarity_pipeline::backend::Backend;
use polarity_pipeline::registry::Registry;
use polarity_pipeline::store::ObjectStore;

use crate::source::{ModelRef, ModelSource, SourceError};

/// Production model of a registry, artifact from a store.
pub struct RegistrySource {
    store: Arc<dyn ObjectStore>,
    registry: Arc<dyn Registry>,
}

impl RegistrySource {
    /// A source over connected backends.
    pub fn new(store: Arc<dyn ObjectStore>, registry: Arc<dyn Registry>) -> Self {
        Self { store, registry }
    }

    /// Connects to the backend (AWS endpoints from the standard `AWS_ENDPOINT_URL*` variables).
    pub async fn connect(backend: &Backend) -> Self {
        let b = backend.connect(&AwsSettings::default()).await;
        Self::new(b.store, b.registry)
    }
}

fn classify(retryable: bool, msg: String) -> SourceError {
    if retryable {
        SourceError::Retryable(msg)
    } else {
        SourceError::Permanent(msg)
    }
}

#[async_trait]
impl ModelSource for RegistrySource {
    fn describe(&self) -> String {
        format!(
            "registry {} (artifacts in {})",
            self.registry.url(),
            self.store.url()
        )
    }

    async fn current(&self) -> Result<ModelRef, SourceError> {
        match self.registry.production().await {
            Ok(Some(rec)) => Ok(ModelRef {
                version: rec.version,
                sha256: Some(rec.sha256),
            }),
            // No model promoted yet: it may be soon, so keep polling.
            Ok(None) => Err(SourceError::NoModel(format!(
                "{} has no production model yet",
                self.registry.url()
            ))),
            Err(e) => Err(classify(e.is_retryable(), e.to_string())),
        }
    }

    async fn fetch(&self, r: &ModelRef) -> Result<Bytes, SourceError> {
        let rec = match self.registry.version(&r.version).await {
            Ok(Some(rec)) => rec,
            Ok(None) => {
                return Err(SourceError::Permanent(format!(
                    "version {} is not in the registry",
                    r.version
                )));
            }
            Err(e) => return Err(classify(e.is_retryable(), e.to_string())),
        };
        self.store
            .get(&rec.artifact_key)
            .await
            .map_err(|e| classify(e.is_retryable(), e.to_string()))
    }
}
