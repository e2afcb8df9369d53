//! Command-line arguments: every flag has a long name and a doc comment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    Train(TrainArgs),
    /// Score a model on a labelled file.
    Eval(EvalArgs),
    /// Predict the sentiment of texts given as arguments, or one per line on stdin.
    Predict(PredictArgs),
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

/// The data contract of the input files (columns, header, delimiter, label mapping).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Data contract")]
pub struct ContractArgs {
    /// Text column: a header name (case-insensitive), or with --no-header a 1-based position; `#N` is
    /// always position N. Default: the first of text, sentence, content, review, ….
    #[arg(long, env = "POLARITY_TEXT_COL")]
    pub text_col: Option<String>,
    /// Label column, as --text-col. Default: the first of label, sentiment, polarity, class, ….
    #[arg(long, env = "POLARITY_LABEL_COL")]
    pub label_col: Option<String>,
    /// The files have no header row: columns are given by position.
    #[arg(long)]
    pub no_header: bool,
    /// Field delimiter when the extension and content do not tell: one character, or tab, comma,
    /// semicolon, pipe.
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Map raw labels to classes, e.g. '1,2=negative;4,5=positive'; other labels are rejected
    /// (unmapped_label). Without it, the label scheme is detected (0/1, -1/0/1, names).
    #[arg(long)]
    pub label_map: Option<String>,
}

impl ContractArgs {
    /// The settings as `key=value` pairs (what S3 object metadata carries).
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if self.no_header {
            v.push(("header", "false".to_string()));
        }
        for (k, val) in [
            ("text-col", &self.text_col),
            ("label-col", &self.label_col),
            ("delimiter", &self.delimiter),
            ("label-map", &self.label_map),
        ] {
            if let Some(x) = val {
                v.push((k, x.clone()));
            }
        }
        v
    }

    /// The contract these flags give.
    ///
    /// # Errors
    /// A message naming the flag whose value cannot be used.
    pub fn contract(&self) -> anyhow::Result<polarity_core::contract::Contract> {
        let pairs = self.settings();
        Ok(polarity_core::contract::Contract::from_settings(
            pairs.iter().map(|(k, v)| (*k, v.as_str())),
        )?)
    }
}

/// `polarity train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training file; repeat for several ('-' reads standard input).
    #[arg(long = "data", required = true)]
    pub data: Vec<PathBuf>,
    /// Held-out file to score the model on.
    #[arg(long, conflicts_with = "test_fraction")]
    pub test: Option<PathBuf>,
    /// Fraction of the training rows held out (by a hash of their words) when no --test is given.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Data contract.
    #[command(flatten)]
    pub contract: ContractArgs,
    /// Training settings.
    #[command(flatten)]
    pub training: polarity_pipeline::config::TrainingArgs,
    /// Where to write the model artifact.
    #[arg(long)]
    pub out: PathBuf,
    /// Write every rejected row (line, reason, raw line) to this JSONL file.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// `polarity eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model artifact.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled file to score.
    #[arg(long)]
    pub data: PathBuf,
    /// Data contract.
    #[command(flatten)]
    pub contract: ContractArgs,
    /// Write one JSON line per scored row (line, label, prediction, score) to this file.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// `polarity predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Model artifact.
    #[arg(long)]
    pub model: PathBuf,
    /// Texts to classify; when none (and no --data), reads one text per line from stdin.
    pub texts: Vec<String>,
    /// A CSV/TSV/JSONL file to classify (its text column; '-' reads standard input).
    #[arg(long, conflicts_with = "texts")]
    pub data: Option<PathBuf>,
    /// Text column of --data (as for train).
    #[arg(long, requires = "data")]
    pub text_col: Option<String>,
    /// --data has no header row (--text-col is then a position).
    #[arg(long, requires = "data")]
    pub no_header: bool,
}
