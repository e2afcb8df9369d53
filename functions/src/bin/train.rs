//! `polarity-fn-train`: the train stage as a Lambda function, and as the ECS task that trains datasets
//! above the Lambda's row limit when `POLARITY_TASK_KEY` is set (see [`polarity_functions`]).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    polarity_functions::stage::run_function(polarity_pipeline::Stage::Train).await
}
