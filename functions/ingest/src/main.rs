//! `polarity-fn-ingest`: the Lambda binary. Builds the clients once, then serves invocations
//! ([`polarity_pipeline::handler::run_lambda`]).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    polarity_pipeline::handler::run_lambda(polarity_fn_ingest::STAGE).await
}
