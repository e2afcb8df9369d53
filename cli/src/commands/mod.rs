//! One module per sub-command; each reads files, calls the core, and prints.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result};
use polarity_core::Classifier;

use crate::args::{Cli, Command};

mod eval;
pub mod init;
pub mod pipeline;
mod predict;
pub mod registry;
mod serve;
mod train;

/// Runs the parsed command line.
///
/// # Errors
/// Any failure, with a message that names the file or setting involved.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train::run(&a),
        Command::Eval(a) => eval::run(&a),
        Command::Predict(a) => predict::run(&a),
        Command::Pipeline(a) => pipeline::run(&a),
        Command::Registry(a) => registry::run(&a),
        Command::Init(a) => init::run(&a),
        Command::Serve(a) => serve::run(a),
    }
}

/// Reads and verifies a model artifact.
pub fn load_model(path: &Path) -> Result<Classifier> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read model {}", path.display()))?;
    polarity_core::artifact::decode(&bytes)
        .with_context(|| format!("cannot load model {}", path.display()))
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("model")
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Prints a progress line on stderr when it is a terminal and JSON output was not asked for.
pub fn progress(json: bool, msg: &str) {
    if !json && std::io::stderr().is_terminal() {
        eprintln!("… {msg}");
    }
}
