//! The command line: the sub-commands, each with its arguments in its own module (every flag has a long
//! name and a doc comment).

use clap::{Parser, Subcommand};

/// Polarity: sentiment models from labelled text (CSV, TSV, JSONL; gzip optional): train, evaluate and
/// predict on local files, run the automated pipeline (embedded, against local S3/DynamoDB servers, or
/// AWS), manage its datasets and model registry, and serve the production model.
#[derive(Debug, Parser)]
#[command(name = "polarity", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model (TF-IDF + logistic regression) and write the artifact.
    Train(crate::commands::train::TrainArgs),
    /// Score a model on a labelled file.
    Eval(crate::commands::eval::EvalArgs),
    /// Predict the sentiment of texts given as arguments, or one per line on stdin.
    Predict(crate::commands::predict::PredictArgs),
    /// Run the training pipeline on files: upload, ingest, process, train, validate, promote.
    Pipeline(crate::commands::pipeline::PipelineArgs),
    /// List the pipeline's datasets (one per upload) and exclude or include them.
    Dataset(crate::commands::dataset::DatasetArgs),
    /// Inspect and operate the model registry.
    Registry(crate::commands::registry::RegistryArgs),
    /// Write a version's report page (metrics, confusion matrix, calibration, top n-grams, the decision
    /// against production, datasets, promotion history) as one self-contained HTML file.
    Report(crate::commands::report::ReportArgs),
    /// Create the bucket and the registry table when missing (for local S3/DynamoDB servers).
    Init(crate::commands::init::InitArgs),
    /// Serve the production model over HTTP (`/predict`, `/metrics`, …) with hot reload. Without a source
    /// flag it serves the embedded registry under `.polarity` (what `pipeline run` wrote).
    Serve(polarity_server::ServeArgs),
}
