//! Polarity's training pipeline: an upload becomes a promoted (or rejected) model with nobody touching
//! anything.
//!
//! * Ports and adapters: [`store::ObjectStore`] ([`store::LocalStore`], [`store::S3Store`]) and
//!   [`registry::Registry`] ([`registry::FileRegistry`], [`registry::DynamoRegistry`]), chosen by URL in
//!   [`backend`].
//! * The four stages in [`stages`]: plain async functions over the ports, returning small outcomes.
//! * The promotion rules in [`policy`], once.
//! * [`events`]: S3 events in and out; [`embedded`]: the whole chain in one process, driven by the same
//!   events and routing table as the Lambda functions.
//! * [`telemetry`]: Pushgateway counters and CloudWatch EMF lines; [`mlflow`]: one MLflow run per trained
//!   version (with its validation verdict) when `MLFLOW_TRACKING_URI` is set.
//!
//! The inference server finds the production model with [`registry::Registry::production`] (its
//! `artifact_key` and `sha256`) and reads the bytes with [`store::ObjectStore::get`].

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod aws;
pub mod backend;
pub mod config;
pub mod embedded;
pub mod error;
pub mod events;
pub mod handler;
pub mod layout;
pub mod mlflow;
pub mod policy;
pub mod registry;
pub mod stages;
pub mod store;
pub mod telemetry;

pub use config::{PipelineConfig, TrainMode};
pub use error::PipelineError;
pub use polarity_core::routing::Stage;
