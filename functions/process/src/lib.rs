//! Lambda function for the **process** stage: an S3 `ObjectCreated` event whose key the routing table sends to
//! process runs [`polarity_pipeline::stages::process`] through the shared [`StageHandler`]. Configuration (read once
//! per cold start): `POLARITY_STORE`, `POLARITY_REGISTRY` and the `POLARITY_*` stage settings.

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{Diagnostic, LambdaEvent};
use polarity_pipeline::Stage;
pub use polarity_pipeline::handler::{FunctionConfig, StageHandler, Summary};

/// The stage this function runs.
pub const STAGE: Stage = Stage::Process;

/// Handles one invocation. Errors reach the runtime (and so Lambda's retries) with their kind as the
/// error type (`store`, `registry`, `corrupt`, `config`) and whether they are transient.
///
/// # Errors
/// The stage's error.
pub async fn handle(
    handler: &StageHandler,
    event: LambdaEvent<S3Event>,
) -> Result<Summary, Diagnostic> {
    handler
        .handle(&event.payload)
        .await
        .map_err(|e| Diagnostic {
            error_type: e.lambda_error_type(),
            error_message: e.to_string(),
        })
}
