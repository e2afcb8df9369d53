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
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    polarity_server::init_tracing(cli.args.json_logs);
    polarity_server::serve(cli.args).await
}
