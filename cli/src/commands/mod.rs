//! One module per sub-command; each reads files, calls the core, and prints.

use anyhow::Result;

use crate::args::{Cli, Command};

pub mod dataset;
pub mod eval;
pub mod init;
pub mod pipeline;
pub mod predict;
pub mod registry;
pub mod report;
mod serve;
pub mod train;

/// Runs the parsed command line.
///
/// # Errors
/// Any failure, with a message that names the file or setting involved.
pub fn run(cli: Cli) -> Result<()> {
    if !matches!(cli.command, Command::Serve(_)) {
        crate::context::log_warnings();
    }
    match cli.command {
        Command::Train(a) => train::run(&a),
        Command::Eval(a) => eval::run(&a),
        Command::Predict(a) => predict::run(&a),
        Command::Pipeline(a) => pipeline::run(&a),
        Command::Dataset(a) => dataset::run(&a),
        Command::Registry(a) => registry::run(&a),
        Command::Report(a) => report::run(&a),
        Command::Init(a) => init::run(&a),
        Command::Serve(a) => serve::run(a),
    }
}
