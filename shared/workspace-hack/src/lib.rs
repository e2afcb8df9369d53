//! Intentionally empty: this crate exists for its `Cargo.toml`, which lists the union of the features any
//! workspace build enables on a few shared dependencies, so that tests, the CLI and each Lambda function
//! reuse one compiled dependency tree instead of rebuilding the AWS SDK per feature set.
