//! The client libraries people install for the protocols the server speaks — `huggingface_hub`'s
//! `InferenceClient` (TEI) and `tritonclient.http` (KServe V2) — run against the real server, with and
//! without `--api-key`, through `scripts/clients_check.py` (the calls it makes and what each must answer are
//! listed there). Python comes from `POLARITY_CLIENTS_PYTHON` or `.venv-clients` (made by `scripts/setup.sh`);
//! the test is `#[ignore]`d with that need, so a bare `cargo test` lists it as skipped; the test command
//! (`scripts/test.sh`) runs it.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use polarity_server::state::LoadedModel;
use polarity_server::{AppState, Limits, ServingOptions};

const KEY: &str = "client-test-key-0123456789";

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("POLARITY_CLIENTS_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../.venv-clients/bin/python"
    ));
    assert!(
        venv.exists(),
        "the client libraries are not installed: run bash scripts/setup.sh (it makes .venv-clients), or set POLARITY_CLIENTS_PYTHON"
    );
    venv
}

fn loaded(artifact: &[u8], version: &str) -> LoadedModel {
    let c = polarity_core::artifact::decode(artifact).unwrap();
    LoadedModel::new(c, version.into(), format!("{:064}", version.len())).unwrap()
}

/// Runs the client script against a server with `api_key`; production is `v-prod`, and the version it
/// replaced (`v-shadow`, trained on flipped labels) is kept warm for shadow scoring.
async fn run(py: &PathBuf, api_key: Option<&str>) {
    let st = AppState::new(Limits::default())
        .unwrap()
        .with_options(ServingOptions {
            api_key: api_key.map(String::from),
            model_name: "sentiment".into(),
            ..ServingOptions::default()
        });
    st.install(loaded(&common::flipped_artifact(), "v-shadow"));
    st.install(loaded(&common::artifact(0), "v-prod"));
    let server = common::start(st, None).await;
    let mut cmd = Command::new(py);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/clients_check.py"
    ))
    .args(["--url", &server.url(""), "--model", "sentiment"])
    .args(["--previous", "v-shadow"]);
    if let Some(k) = api_key {
        cmd.args(["--api-key", k]);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "client calls failed ({:?}):\n{stdout}\n{}",
        api_key.map(|_| "with --api-key"),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs huggingface_hub and tritonclient (bash scripts/setup.sh makes .venv-clients); the test command runs it"]
async fn teis_and_kserves_own_clients_get_predicts_answers() {
    let py = python();
    run(&py, None).await;
    run(&py, Some(KEY)).await;
}
