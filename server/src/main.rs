//! `polarity-server`: the standalone inference server for EC2 (same library as `polarity serve`).

use clap::Parser;

/// Polarity inference server.
#[derive(Debug, Parser)]
#[command(name = "polarity-server", version, about)]
struct Cli {
    #[command(flatten)]
    args: polarity_server::ServeArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    polarity_server::init_tracing(cli.args.json_logs);
    match polarity_server::serve(cli.args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // one line; the causes and a backtrace only when asked for with RUST_BACKTRACE
            if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
                eprintln!("polarity-server: error: {e:?}");
            } else {
                let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
                let mut line = String::new();
                for c in chain {
                    if !line.contains(&c) {
                        if !line.is_empty() {
                            line.push_str(": ");
                        }
                        line.push_str(&c);
                    }
                }
                eprintln!(
                    "polarity-server: error: {}",
                    line.split_whitespace().collect::<Vec<_>>().join(" ")
                );
            }
            std::process::ExitCode::FAILURE
        }
    }
}
