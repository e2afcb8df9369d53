//! `polarity`: sentiment models from labelled text, the automated pipeline, its registry, and serving.

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
            eprintln!("polarity: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each cause once (a cause already quoted by its parent is not
/// repeated), newlines folded.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if !out.contains(&c) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&c);
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}
