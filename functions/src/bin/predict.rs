//! `polarity-fn-predict`: the inference server's router as a Lambda function (see
//! [`polarity_functions::predict`]).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    polarity_server::init_tracing(true);
    let cfg = polarity_functions::predict::config_from_env()?;
    lambda_http::run(polarity_functions::predict::router(cfg).await?).await
}
