//! Polarity's training pipeline: an upload becomes a promoted (or rejected) model with nobody touching
//! anything.
//!
//! * [`layout`]: the bucket layout, the prefix → stage routing and who may touch what, once.
//! * Ports and adapters: [`store::ObjectStore`] ([`store::LocalStore`], [`store::S3Store`]) and
//!   [`registry::Registry`] ([`registry::FileRegistry`], [`registry::DynamoRegistry`]), chosen by
//!   [`backend::BackendArgs`]; [`tracker::Tracker`] (MLflow or nothing).
//! * The four stages in [`stages`]: plain async functions over the ports, returning small outcomes;
//!   [`datasets`]: which uploads are used; [`policy`]: the promotion rules, once.
//! * [`events`]: S3 events in and out; [`embedded`]: the whole chain in one process, driven by the same
//!   events and routing table as the Lambda functions; [`handler`]: the Lambda side.
//! * [`dispatch`]: training past one Lambda (an ECS task for datasets above the in-process limit).
//! * [`telemetry`]: Pushgateway counters and CloudWatch EMF lines; [`report`]: a version's HTML report page.
//!
//! The inference server finds the production model with [`registry::Registry::production`] and loads it
//! with [`artifacts::load_verified`].

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod artifacts;
pub mod aws;
pub mod backend;
pub mod config;
pub mod datasets;
pub mod dispatch;
pub mod embedded;
pub mod error;
pub mod events;
pub mod handler;
pub mod layout;
pub mod mlflow;
pub mod policy;
pub mod records;
pub mod registry;
pub mod report;
pub mod stages;
pub mod store;
pub mod stored;
pub mod tables;
pub mod telemetry;
pub mod tracker;

pub use config::{PipelineConfig, TrainMode};
pub use error::PipelineError;
pub use layout::Stage;
