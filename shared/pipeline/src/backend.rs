//! Choosing backends by URL: `--store file:///DIR | s3://BUCKET`, `--registry file:///FILE.json |
//! dynamodb://TABLE`, or `--home DIR` (store `DIR/bucket`, registry `DIR/registry.json`). The same strings
//! are read from `POLARITY_STORE` / `POLARITY_REGISTRY` by the Lambda functions.

use std::path::PathBuf;
use std::sync::Arc;

use crate::aws::AwsSettings;
use crate::error::PipelineError;
use crate::registry::{DynamoRegistry, FileRegistry, Registry};
use crate::store::{LocalStore, ObjectStore, S3Store};

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A local folder.
    File(PathBuf),
    /// An S3 bucket.
    S3(String),
}

/// A parsed registry URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryUrl {
    /// A local JSON file.
    File(PathBuf),
    /// A DynamoDB table.
    Dynamo(String),
}

fn bad(what: &str, url: &str, expected: &str) -> PipelineError {
    PipelineError::Config(format!("{what} {url:?}: expected {expected}"))
}

fn file_path(rest: &str) -> PathBuf {
    PathBuf::from(if rest.is_empty() { "." } else { rest })
}

impl StoreUrl {
    /// Parses `file:///dir`, `file://relative/dir` or `s3://bucket`.
    ///
    /// # Errors
    /// [`PipelineError::Config`] for anything else.
    pub fn parse(url: &str) -> Result<Self, PipelineError> {
        if let Some(rest) = url.strip_prefix("file://") {
            return Ok(Self::File(file_path(rest)));
        }
        match url.strip_prefix("s3://").map(|b| b.trim_end_matches('/')) {
            Some(b) if !b.is_empty() && !b.contains('/') => Ok(Self::S3(b.to_string())),
            _ => Err(bad("store", url, "file:///DIR or s3://BUCKET")),
        }
    }

    /// The bucket name events carry (the folder's name for a local store).
    pub fn bucket(&self) -> String {
        match self {
            Self::S3(b) => b.clone(),
            Self::File(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "local".into()),
        }
    }
}

impl RegistryUrl {
    /// Parses `file:///path.json` or `dynamodb://table`.
    ///
    /// # Errors
    /// [`PipelineError::Config`] for anything else.
    pub fn parse(url: &str) -> Result<Self, PipelineError> {
        if let Some(rest) = url.strip_prefix("file://") {
            return Ok(Self::File(file_path(rest)));
        }
        match url
            .strip_prefix("dynamodb://")
            .map(|t| t.trim_end_matches('/'))
        {
            Some(t) if !t.is_empty() && !t.contains('/') => Ok(Self::Dynamo(t.to_string())),
            _ => Err(bad(
                "registry",
                url,
                "file:///FILE.json or dynamodb://TABLE",
            )),
        }
    }
}

/// The embedded layout under a home folder.
pub fn home(dir: impl Into<PathBuf>) -> (StoreUrl, RegistryUrl) {
    let dir = dir.into();
    (
        StoreUrl::File(dir.join("bucket")),
        RegistryUrl::File(dir.join("registry.json")),
    )
}

/// Connected backends.
#[derive(Clone)]
pub struct Backends {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The registry.
    pub registry: Arc<dyn Registry>,
    /// The bucket name events carry.
    pub bucket: String,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("store", &self.store.url())
            .field("registry", &self.registry.url())
            .finish()
    }
}

/// Builds the store for a URL (loads the AWS configuration only when needed; pass one to reuse it).
pub async fn connect_store(
    url: &StoreUrl,
    aws: &AwsSettings,
    sdk: Option<&aws_config::SdkConfig>,
) -> Arc<dyn ObjectStore> {
    match url {
        StoreUrl::File(p) => Arc::new(LocalStore::new(p.clone())),
        StoreUrl::S3(b) => match sdk {
            Some(c) => Arc::new(S3Store::from_config(c, aws, b.clone())),
            None => Arc::new(S3Store::from_config(&aws.load().await, aws, b.clone())),
        },
    }
}

/// Builds the registry for a URL.
pub async fn connect_registry(
    url: &RegistryUrl,
    aws: &AwsSettings,
    sdk: Option<&aws_config::SdkConfig>,
) -> Arc<dyn Registry> {
    match url {
        RegistryUrl::File(p) => Arc::new(FileRegistry::new(p.clone())),
        RegistryUrl::Dynamo(t) => match sdk {
            Some(c) => Arc::new(DynamoRegistry::from_config(c, t.clone())),
            None => Arc::new(DynamoRegistry::from_config(&aws.load().await, t.clone())),
        },
    }
}

/// Builds both (one AWS configuration for both when either needs it).
pub async fn connect(store: &StoreUrl, registry: &RegistryUrl, aws: &AwsSettings) -> Backends {
    let needs_aws = matches!(store, StoreUrl::S3(_)) || matches!(registry, RegistryUrl::Dynamo(_));
    let sdk = if needs_aws {
        Some(aws.load().await)
    } else {
        None
    };
    Backends {
        store: connect_store(store, aws, sdk.as_ref()).await,
        registry: connect_registry(registry, aws, sdk.as_ref()).await,
        bucket: store.bucket(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            StoreUrl::parse("file:///tmp/x").unwrap(),
            StoreUrl::File("/tmp/x".into())
        );
        assert_eq!(
            StoreUrl::parse("file://rel/x").unwrap(),
            StoreUrl::File("rel/x".into())
        );
        assert_eq!(
            StoreUrl::parse("s3://polarity-data").unwrap(),
            StoreUrl::S3("polarity-data".into())
        );
        assert!(
            StoreUrl::parse("s3://").is_err()
                && StoreUrl::parse("http://x").is_err()
                && StoreUrl::parse("s3://a/b").is_err()
        );
        assert_eq!(
            RegistryUrl::parse("dynamodb://reg").unwrap(),
            RegistryUrl::Dynamo("reg".into())
        );
        assert_eq!(
            RegistryUrl::parse("file:///r.json").unwrap(),
            RegistryUrl::File("/r.json".into())
        );
        assert!(RegistryUrl::parse("dynamo://reg").is_err());
        let (s, r) = home("/h");
        assert_eq!(
            (s.clone(), r),
            (
                StoreUrl::File("/h/bucket".into()),
                RegistryUrl::File("/h/registry.json".into())
            )
        );
        assert_eq!(s.bucket(), "bucket");
    }
}
