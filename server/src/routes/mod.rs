//! One module per endpoint. Handlers are thin: parse, call the classifier, render.

pub mod docs;
pub mod fallback;
pub mod health;
pub mod info;
pub mod metrics;
pub mod openapi;
pub mod predict;
pub mod v2;
