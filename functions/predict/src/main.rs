//! `polarity-fn-predict`: the inference server's axum router as an AWS Lambda function (function URL or API
//! Gateway), through `lambda_http`. Configuration comes from the same `POLARITY_…` variables as the server
//! (`POLARITY_STORE` + `POLARITY_REGISTRY`: the registry's production model; or `POLARITY_MODEL` = artifact
//! path; limits); the model is loaded, verified and warmed at cold start. Hot reload as on the server: a
//! background task checks the source every `POLARITY_POLL_INTERVAL`. Lambda freezes the environment between
//! invocations, so the check runs while invocations are in flight: after a promotion, a warm environment
//! swaps models within one interval of its next invocation (requests meanwhile get the previous model).

use clap::Parser;

/// Settings of the Lambda function, read from the environment only.
#[derive(Debug, Parser)]
struct FnArgs {
    #[command(flatten)]
    args: polarity_server::ServeArgs,
}

/// Loads the configured model, starts the hot-reload task and builds the router. Needs a Tokio runtime.
async fn router(cfg: polarity_server::ServeArgs) -> Result<axum::Router, lambda_http::Error> {
    let source = polarity_server::source_from_args(&cfg).await?;
    let state = polarity_server::load_state(source.as_ref(), cfg.limits).await?;
    tokio::spawn(polarity_server::reload::poll(
        state.clone(),
        source,
        cfg.poll_interval,
    ));
    Ok(polarity_server::app(state))
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    polarity_server::init_tracing(true);
    let cfg = FnArgs::try_parse_from(["polarity-fn-predict"])?.args;
    lambda_http::run(router(cfg).await?).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use polarity_core::{labels::LabelScheme, train};
    use tower::ServiceExt;

    /// A model artifact trained on `texts` with classes `classes` (0 = negative, 1 = positive).
    fn artifact(texts: &[&str], classes: &[u32]) -> Vec<u8> {
        let rows = train::Labelled {
            texts: texts.iter().map(|t| t.to_string()).collect(),
            classes: classes.to_vec(),
        };
        let labels = vec!["negative".to_string(), "positive".to_string()];
        let (model, _) = train::train(
            &train::TrainConfig::default(),
            &rows,
            &train::Labelled::default(),
            labels,
            LabelScheme::Names,
        )
        .unwrap();
        polarity_core::artifact::encode(&model)
    }

    #[tokio::test]
    async fn function_url_event_goes_through_the_same_router() {
        let model = artifact(
            &[
                "a great film",
                "dull and bad",
                "great fun",
                "bad plot",
                "witty and great",
                "awful dull",
            ],
            &[1, 0, 1, 0, 1, 0],
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.plm");
        std::fs::write(&path, model).unwrap();
        let cfg = FnArgs::try_parse_from(["x", "--model", path.to_str().unwrap()])
            .unwrap()
            .args;
        let app = router(cfg).await.unwrap();

        let event = include_str!("../events/function_url_predict.json");
        let req = lambda_http::request::from_str(event).unwrap();
        let resp = app.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().contains_key("x-model-version"));
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["label"], "positive");
    }

    #[tokio::test]
    async fn a_warm_function_picks_up_a_new_model() {
        let texts = ["great", "bad", "great fun", "bad plot"];
        let first = artifact(&texts, &[1, 0, 1, 0]);
        let second = artifact(&texts, &[0, 1, 0, 1]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.plm");
        std::fs::write(&path, &first).unwrap();
        let cfg = FnArgs::try_parse_from([
            "x",
            "--model",
            path.to_str().unwrap(),
            "--poll-interval",
            "0.05",
        ])
        .unwrap()
        .args;
        let app = router(cfg).await.unwrap();
        let label = |app: axum::Router| async move {
            let event = include_str!("../events/function_url_predict.json");
            let resp = app
                .oneshot(lambda_http::request::from_str(event).unwrap())
                .await
                .unwrap();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            v["label"].as_str().unwrap().to_owned()
        };
        assert_eq!(label(app.clone()).await, "positive");
        // Replace the artifact atomically, as a deploy would.
        let tmp = dir.path().join("m.plm.new");
        std::fs::write(&tmp, &second).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let mut seen = String::new();
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            seen = label(app.clone()).await;
            if seen == "negative" {
                break;
            }
        }
        assert_eq!(seen, "negative", "the new model was never served");
    }

    #[tokio::test]
    async fn missing_model_is_a_clear_cold_start_error() {
        let cfg = FnArgs::try_parse_from(["x"]).unwrap().args;
        if cfg.model.is_none() && cfg.home.is_none() && cfg.store.is_none() {
            let err = router(cfg).await.err().unwrap();
            assert!(err.to_string().contains("POLARITY_MODEL"));
        }
    }
}
