//! Command-line arguments: every flag has a long name and a doc comment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Polarity: sentiment models from labelled text (CSV, TSV, JSONL; gzip optional).
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
    /// Inspect and operate the model registry.
    Registry(crate::commands::registry::RegistryArgs),
    /// Create the bucket and the registry table when missing (for local S3/DynamoDB servers).
    Init(crate::commands::init::InitArgs),
    /// Serve the production model over HTTP (`/predict`, `/metrics`, …) with hot reload. Without a source
    /// flag it serves the embedded registry under `.polarity` (what `pipeline run` wrote).
    Serve(polarity_server::ServeArgs),
}

/// Which columns hold the text and the label.
#[derive(Debug, Args, Clone)]
pub struct ColumnArgs {
    /// Text column (default: the first of text, sentence, content, review, …).
    #[arg(long, env = "POLARITY_TEXT_COL")]
    pub text_col: Option<String>,
    /// Label column (default: the first of label, sentiment, polarity, class, …).
    #[arg(long, env = "POLARITY_LABEL_COL")]
    pub label_col: Option<String>,
}

/// `polarity train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training file; repeat for several.
    #[arg(long = "data", required = true)]
    pub data: Vec<PathBuf>,
    /// Held-out file to score the model on.
    #[arg(long, conflicts_with = "test_fraction")]
    pub test: Option<PathBuf>,
    /// Fraction of the training rows held out (by a hash of the cleaned text) when no --test is given.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Column names.
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// Keep at most this many n-grams, by corpus frequency.
    #[arg(long, default_value_t = 20_000)]
    pub max_features: usize,
    /// N-gram range as MIN,MAX.
    #[arg(long, default_value = "1,2", value_parser = parse_ngram)]
    pub ngram: (usize, usize),
    /// Ignore n-grams found in fewer documents than this.
    #[arg(long, default_value_t = 1)]
    pub min_df: usize,
    /// Shortest token in characters (2 reproduces scikit-learn's default token pattern).
    #[arg(long, default_value_t = 1)]
    pub min_token_chars: usize,
    /// Use 1 + ln(tf) instead of raw term counts.
    #[arg(long)]
    pub sublinear_tf: bool,
    /// Inverse regularisation strength of the logistic regression.
    #[arg(long = "c", default_value_t = 1.0)]
    pub c: f64,
    /// L-BFGS iteration limit.
    #[arg(long, default_value_t = 2000)]
    pub max_iter: usize,
    /// L-BFGS gradient tolerance (scikit-learn's `tol`).
    #[arg(long, default_value_t = 1e-4)]
    pub tol: f64,
    /// Where to write the model artifact.
    #[arg(long)]
    pub out: PathBuf,
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
    /// Column names.
    #[command(flatten)]
    pub columns: ColumnArgs,
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
    /// Texts to classify; when none, reads one text per line from stdin.
    pub texts: Vec<String>,
}

fn parse_ngram(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| format!("expected MIN,MAX, got '{s}'"))?;
    let p = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("'{v}' is not a whole number"))
    };
    Ok((p(a)?, p(b)?))
}
