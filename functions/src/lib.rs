//! Polarity's AWS Lambda functions, one binary each:
//!
//! | binary                 | trigger                                  | runs |
//! |------------------------|------------------------------------------|------|
//! | `polarity-fn-ingest`   | S3 `ObjectCreated` under `incoming/`     | [`polarity_pipeline::stages::ingest`] |
//! | `polarity-fn-process`  | `raw/*/manifest.json`                    | [`polarity_pipeline::stages::process`] |
//! | `polarity-fn-train`    | `processed/*/manifest.json`, `datasets/*.json` | [`polarity_pipeline::stages::train`] |
//! | `polarity-fn-validate` | `models/*/manifest.json`                 | [`polarity_pipeline::stages::validate`] |
//! | `polarity-fn-predict`  | function URL / API Gateway (`lambda_http`) | the server's router ([`predict`]) |
//!
//! The stage functions are two-line mains over [`stage::run_lambda`]: configuration
//! read once per cold start (`POLARITY_STORE`, `POLARITY_REGISTRY` and the `POLARITY_*` settings of
//! [`polarity_pipeline::config`]; `RUST_LOG` honoured), clients built once, errors returned to the runtime
//! with their kind and whether a retry may help. The triggers come from [`polarity_pipeline::layout::ROUTES`]
//! (Terraform builds the bucket notification from the same table). Fixture events for `cargo lambda invoke`
//! are in `events/<function>/`.
//!
//! `polarity-fn-train` is also the image of the ECS Fargate task that trains datasets above the function's
//! row limit ([`polarity_pipeline::dispatch`]): with `POLARITY_TASK_KEY` set it runs the train stage once on
//! that key ([`stage::run_function`]) and exits 0, or 1 with one line on stderr.

pub mod predict;
pub mod stage;
