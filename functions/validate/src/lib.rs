//! Lambda function for the **validate** stage: an S3 `ObjectCreated` event whose key the routing table sends to
//! validate runs [`polarity_pipeline::stages::validate`] through the shared [`StageHandler`]. Configuration (read once
//! per cold start): `POLARITY_STORE`, `POLARITY_REGISTRY` and the `POLARITY_*` stage settings.

use polarity_pipeline::Stage;
pub use polarity_pipeline::handler::{FunctionConfig, StageHandler, Summary, handle};

/// The stage this function runs.
pub const STAGE: Stage = Stage::Validate;
