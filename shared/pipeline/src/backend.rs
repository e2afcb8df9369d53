//! Choosing backends, one rule for every binary ([`BackendArgs`]: the CLI, the server and the Lambda
//! functions): `--store URL` with `--registry URL` (both or neither: a half-given backend is an error
//! that names the missing flag), else `--home DIR`, else the default home `.polarity`. A home is the
//! embedded layout: store `DIR/bucket`, registry `DIR/registry.json`. URLs: `file:///DIR` or
//! `s3://BUCKET`; `file:///FILE.json` or `dynamodb://TABLE`. Each flag is also a variable
//! (`POLARITY_STORE`, `POLARITY_REGISTRY`, `POLARITY_HOME`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

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

/// The home used when no backend is named.
pub(crate) const DEFAULT_HOME: &str = ".polarity";

/// Where the bucket and the registry are (see the module docs).
#[derive(Debug, Clone, Default, Args)]
pub struct BackendArgs {
    /// Embedded home: store DIR/bucket, registry DIR/registry.json [default: .polarity].
    #[arg(long, env = "POLARITY_HOME", value_name = "DIR", global = true)]
    pub home: Option<PathBuf>,
    /// Object store: file:///DIR or s3://BUCKET (endpoint from AWS_ENDPOINT_URL*); needs --registry.
    #[arg(long, env = "POLARITY_STORE", value_name = "URL", global = true)]
    pub store: Option<String>,
    /// Model registry: file:///FILE.json or dynamodb://TABLE; needs --store.
    #[arg(long, env = "POLARITY_REGISTRY", value_name = "URL", global = true)]
    pub registry: Option<String>,
}

/// A resolved backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The store.
    pub store: StoreUrl,
    /// The registry.
    pub registry: RegistryUrl,
    /// The home folder, when the backend is one.
    pub home: Option<PathBuf>,
}

impl BackendArgs {
    /// The backend these flags name (the rule in the module docs).
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the missing flag of a half-given pair, or a URL that does not parse.
    pub fn resolve(&self) -> Result<Backend, PipelineError> {
        match (&self.store, &self.registry) {
            (Some(s), Some(r)) => Ok(Backend {
                store: StoreUrl::parse(s)?,
                registry: RegistryUrl::parse(r)?,
                home: None,
            }),
            (Some(_), None) => Err(PipelineError::Config(
                "--store needs --registry (POLARITY_REGISTRY): give both, or --home for the embedded layout".into(),
            )),
            (None, Some(_)) => Err(PipelineError::Config(
                "--registry needs --store (POLARITY_STORE): give both, or --home for the embedded layout".into(),
            )),
            (None, None) => {
                let dir = self.home.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_HOME));
                let (store, registry) = home(&dir);
                Ok(Backend {
                    store,
                    registry,
                    home: Some(dir),
                })
            }
        }
    }
}

impl Backend {
    /// For commands that only read: a home that does not exist is an error, never created.
    ///
    /// # Errors
    /// [`PipelineError::Config`] saying there is no registry at that home.
    pub fn existing(self) -> Result<Self, PipelineError> {
        match &self.home {
            Some(h) if !h.join("registry.json").exists() && !h.join("bucket").is_dir() => {
                Err(PipelineError::Config(format!(
                    "no registry here: {} holds no Polarity home (run `polarity pipeline run FILE` first, or pass --home DIR or --store URL --registry URL)",
                    h.display()
                )))
            }
            _ => Ok(self),
        }
    }

    /// True when either backend is on AWS (or an AWS-compatible server).
    pub fn needs_aws(&self) -> bool {
        matches!(self.store, StoreUrl::S3(_)) || matches!(self.registry, RegistryUrl::Dynamo(_))
    }

    /// Connects both (one AWS configuration for both when either needs it).
    pub async fn connect(&self, aws: &AwsSettings) -> Backends {
        let sdk = if self.needs_aws() {
            Some(aws.load().await)
        } else {
            None
        };
        Backends {
            store: connect_store(&self.store, aws, sdk.as_ref()).await,
            registry: connect_registry(&self.registry, aws, sdk.as_ref()).await,
            bucket: self.store.bucket(),
        }
    }
}

/// The embedded layout under a home folder.
pub fn home(dir: &Path) -> (StoreUrl, RegistryUrl) {
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
pub(crate) async fn connect_store(
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
pub(crate) async fn connect_registry(
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
        let (s, r) = home(Path::new("/h"));
        assert_eq!(
            (s.clone(), r),
            (
                StoreUrl::File("/h/bucket".into()),
                RegistryUrl::File("/h/registry.json".into())
            )
        );
        assert_eq!(s.bucket(), "bucket");
    }

    #[test]
    fn one_precedence_rule_and_half_given_backends_are_errors() {
        let args = |home: Option<&str>, store: Option<&str>, registry: Option<&str>| BackendArgs {
            home: home.map(PathBuf::from),
            store: store.map(String::from),
            registry: registry.map(String::from),
        };
        let b = args(None, None, None).resolve().unwrap();
        assert_eq!(b.home.as_deref(), Some(Path::new(DEFAULT_HOME)));
        let b = args(Some("/h"), Some("s3://b"), Some("dynamodb://t"))
            .resolve()
            .unwrap();
        assert_eq!((b.store, b.home), (StoreUrl::S3("b".into()), None));
        let e = args(None, Some("s3://b"), None)
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(e.contains("--registry"), "{e}");
        let e = args(None, None, Some("dynamodb://t"))
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(e.contains("--store"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let missing = args(Some(dir.path().join("nope").to_str().unwrap()), None, None)
            .resolve()
            .unwrap();
        let e = missing.clone().existing().unwrap_err().to_string();
        assert!(e.contains("no registry here"), "{e}");
        assert!(!dir.path().join("nope").exists());
    }
}
