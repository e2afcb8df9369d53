//! `polarity-fn-train`: the train stage as a Lambda function (see [`polarity_functions`]).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    polarity_pipeline::handler::run_lambda(polarity_pipeline::Stage::Train).await
}
