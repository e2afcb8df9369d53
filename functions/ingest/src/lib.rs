//! Lambda function for the **ingest** stage: an S3 `ObjectCreated` event whose key the routing table sends to
//! ingest runs [`polarity_pipeline::stages::ingest`] through the shared [`StageHandler`]. Configuration (read once
//! per cold start): `POLARITY_STORE`, `POLARITY_REGISTRY` and the `POLARITY_*` stage settings.

use polarity_pipeline::Stage;
pub use polarity_pipeline::handler::{FunctionConfig, StageHandler, Summary, handle};

/// The stage this function runs.
pub const STAGE: Stage = Stage::Ingest;
