//! `polarity-fn-validate`: the Lambda binary. Builds the clients once, then serves invocations.

use lambda_runtime::{Error, service_fn};
use polarity_fn_validate::{FunctionConfig, STAGE, StageHandler, handle};
use polarity_pipeline::aws::AwsSettings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
    let config = FunctionConfig::from_env(STAGE)?;
    let handler = StageHandler::connect(STAGE, config, &AwsSettings::default()).await;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event| handle(handler, event))).await
}
