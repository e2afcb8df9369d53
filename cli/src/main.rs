//! `polarity`: train, evaluate and run sentiment models on local files.

use std::process::ExitCode;

use clap::Parser;

mod args;
mod commands;
mod report;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("polarity: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
