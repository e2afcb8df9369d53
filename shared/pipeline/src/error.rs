//! The pipeline's error type and its one rule for retrying: transient problems (throttling, 5xx, timeouts,
//! lost races that can be re-run) are retryable and make a Lambda handler return `Err`; permanent input
//! problems never reach here, the stages quarantine or skip them and succeed.

use crate::dispatch::DispatchError;
use crate::registry::RegistryError;
use crate::store::StoreError;

/// Why a stage could not finish.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The train task could not be started.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// An object the pipeline wrote itself is unreadable (a bug or manual tampering, not user input).
    #[error("{key}: {problem}")]
    Corrupt {
        /// Object key.
        key: String,
        /// What is wrong.
        problem: String,
    },
    /// A setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A blocking task (training, scoring) panicked or was cancelled: a bug, reported rather than
    /// retried.
    #[error("a background task failed: {0}")]
    Task(String),
}

impl PipelineError {
    /// True when running the same event again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Registry(e) => e.is_retryable(),
            Self::Dispatch(e) => e.is_retryable(),
            Self::Corrupt { .. } | Self::Config(_) | Self::Task(_) => false,
        }
    }

    /// A stable, short name for the kind of error (for logs and the Lambda error type).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Store(_) => "store",
            Self::Registry(_) => "registry",
            Self::Dispatch(_) => "dispatch",
            Self::Corrupt { .. } => "corrupt",
            Self::Config(_) => "config",
            Self::Task(_) => "task",
        }
    }

    /// The error type a Lambda function reports: the kind, with `.transient` appended when a retry may
    /// help (so logs and the failure destination tell retryable failures apart).
    pub fn lambda_error_type(&self) -> String {
        let suffix = if self.is_retryable() {
            ".transient"
        } else {
            ""
        };
        format!("{}{suffix}", self.kind())
    }
}

/// Parses JSON the pipeline wrote earlier, naming the key when it is unreadable.
///
/// # Errors
/// [`PipelineError::Corrupt`] when the bytes are not the expected JSON.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    key: &str,
    bytes: &[u8],
) -> Result<T, PipelineError> {
    serde_json::from_slice(bytes).map_err(|e| PipelineError::Corrupt {
        key: key.to_string(),
        problem: e.to_string(),
    })
}
