//! `polarity-fn-ingest`: the ingest stage as a Lambda function (see [`polarity_functions`]).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    polarity_functions::stage::run_lambda(polarity_pipeline::Stage::Ingest).await
}
