//! MLflow tracking against a real `mlflow server` started per test on a free 127.0.0.1 port (found via
//! `MLFLOW_SERVER`, `.venv-mlflow/bin/mlflow`, or `PATH`), with a SQLite backend in a temporary folder.
//! The server test is `#[ignore]`d with that need, so a bare `cargo test` lists it as skipped; the test
//! command (`scripts/test.sh`) runs it, and there a missing mlflow fails it. The server
//! spawns workers that outlive their parent, so it runs in its own process group, stopped as a group.
//! The last test needs no server: tracking that is down or hangs never fails or blocks the pipeline.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Reg, Store};
use polarity_pipeline::PipelineConfig;
use polarity_pipeline::events::object_created;
use polarity_pipeline::layout;
use polarity_pipeline::layout::Stage;
use polarity_pipeline::mlflow::{Client, MlflowConfig};
use polarity_pipeline::records::Decision;
use polarity_pipeline::records::Outcome;
use polarity_pipeline::registry::{self, FileRegistry};
use polarity_pipeline::store::LocalStore;
use polarity_pipeline::tracker::{MlflowTracker, Tracker as _};
use serde_json::{Value, json};

/// An `mlflow server` in its own process group, stopped (with its workers) on drop.
struct Mlflow {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

fn signal_group(pgid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

impl Drop for Mlflow {
    fn drop(&mut self) {
        let pgid = self.child.id();
        signal_group(pgid, "-TERM");
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(pgid, "-KILL"); // workers that ignored TERM
        let _ = self.child.wait();
    }
}

fn find_mlflow() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MLFLOW_SERVER").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.venv-mlflow/bin/mlflow"
    ));
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("mlflow"))
            .find(|p| p.exists())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts mlflow and waits for `GET /health`; panics, naming the fix, when it is not installed.
async fn start() -> Mlflow {
    let Some(bin) = find_mlflow() else {
        panic!(
            "mlflow not found: run bash scripts/setup.sh (it makes .venv-mlflow), or set MLFLOW_SERVER"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let child = Command::new(&bin)
        .arg("server")
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--workers", "1"])
        .arg("--backend-store-uri")
        .arg(format!(
            "sqlite:///{}",
            dir.path().join("mlflow.db").display()
        ))
        // artifacts through the server's proxy (`mlflow-artifacts:`), as `mlflow server` does by default
        .arg("--artifacts-destination")
        .arg(dir.path().join("art"))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let server = Mlflow {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let http = reqwest::Client::new();
    let t0 = Instant::now();
    loop {
        let ok = http
            .get(format!("{}/health", server.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            break;
        }
        if t0.elapsed() > Duration::from_secs(90) {
            let log = std::fs::read_to_string(server._dir.path().join("server.log"));
            panic!("mlflow server not healthy on port {port} after 90 s:\n{log:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("mlflow server healthy after {:?}", t0.elapsed());
    server
}

/// Every active run of the experiment, by its `polarity.version` tag; `data` as maps.
struct Run {
    info: Value,
    params: BTreeMap<String, String>,
    metrics: BTreeMap<String, f64>,
    tags: BTreeMap<String, String>,
}

async fn runs(c: &Client) -> BTreeMap<String, Vec<Run>> {
    let exp = c.experiment_id().await.unwrap();
    let v = c
        .call(
            "runs/search",
            &[],
            Some(&json!({"experiment_ids": [exp], "max_results": 1000})),
        )
        .await
        .unwrap();
    let kv = |data: &Value, k: &str| -> Vec<(String, Value)> {
        data[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| (e["key"].as_str().unwrap().to_string(), e["value"].clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out: BTreeMap<String, Vec<Run>> = BTreeMap::new();
    for r in v["runs"].as_array().cloned().unwrap_or_default() {
        let s = |(k, v): (String, Value)| (k, v.as_str().unwrap().to_string());
        let run = Run {
            info: r["info"].clone(),
            params: kv(&r["data"], "params").into_iter().map(s).collect(),
            metrics: kv(&r["data"], "metrics")
                .into_iter()
                .map(|(k, v)| (k, v.as_f64().unwrap()))
                .collect(),
            tags: kv(&r["data"], "tags").into_iter().map(s).collect(),
        };
        let version = run
            .tags
            .get("polarity.version")
            .cloned()
            .unwrap_or_default();
        out.entry(version).or_default().push(run);
    }
    out
}

/// Every model version of `name`: version number → the model version JSON.
async fn model_versions(c: &Client, name: &str) -> BTreeMap<String, Value> {
    let filter = format!("name = '{name}'");
    let v = c
        .call("model-versions/search", &[("filter", &filter)], None)
        .await
        .unwrap();
    v["model_versions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mv| (mv["version"].as_str().unwrap().to_string(), mv))
        .collect()
}

/// The model version the alias names.
async fn alias(c: &Client, name: &str, alias: &str) -> Value {
    c.call(
        "registered-models/alias",
        &[("name", name), ("alias", alias)],
        None,
    )
    .await
    .unwrap()["model_version"]
        .clone()
}

fn tag(mv: &Value, key: &str) -> Option<String> {
    mv["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .and_then(|t| t["value"].as_str())
        .map(String::from)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mlflow (bash scripts/setup.sh makes .venv-mlflow); the test command runs it"]
async fn one_run_per_version_with_params_metrics_tags_and_verdict() {
    let server = start().await;
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    let store: Store = Arc::new(LocalStore::new(&bucket));
    let reg: Reg = Arc::new(FileRegistry::new(dir.path().join("registry.json")));
    let mut m = MlflowConfig::new(&server.url);
    m.experiment = "polarity-test".into();
    let mut cfg = PipelineConfig {
        git_sha: Some("0123abc".into()),
        mlflow: Some(m.clone()),
        ..PipelineConfig::default()
    };
    cfg.gate.enabled = false; // the flipped upload must reach validate and be rejected there
    let d = common::data();
    let mut decisions: Vec<Decision> = Vec::new();
    let mut worse_steps = Vec::new();
    for (name, body) in [
        ("small.csv", d.small),
        ("big.csv", d.big),
        ("worse.csv", d.worse),
    ] {
        let t = Instant::now();
        let steps = common::run(&store, &reg, &cfg, &layout::incoming(name), body).await;
        eprintln!("{name}: chain with tracking took {:?}", t.elapsed());
        decisions.push(common::decision(&steps).clone());
        worse_steps = steps;
    }
    let verdicts: Vec<&str> = decisions.iter().map(|d| d.verdict.as_str()).collect();
    assert_eq!(verdicts, ["promote", "promote", "reject"]);
    eprintln!("chain of 3 uploads with tracking: {:?}", t0.elapsed());

    let client = Client::new(&m).unwrap();
    let by_version = runs(&client).await;
    assert_eq!(by_version.len(), 3, "{:?}", by_version.keys());
    for dec in &decisions {
        let v = dec.version.as_str();
        let rec = reg.version(v).await.unwrap().unwrap();
        let all = &by_version[v];
        assert_eq!(all.len(), 1, "one run for {v}");
        let r = &all[0];
        assert_eq!(
            (r.info["status"].as_str(), r.info["run_name"].as_str()),
            (Some("FINISHED"), Some(v))
        );
        // params
        assert_eq!(r.params["tfidf.ngram_max"], "2");
        assert_eq!(r.params["tfidf.max_features"], "20000");
        assert_eq!(r.params["logistic.c"], "2.0");
        assert_eq!(r.params["logistic.class_weight"], "balanced");
        assert_eq!(r.params["tfidf.sublinear_tf"], "true");
        assert_eq!(r.params["logistic.max_iter"], "2000");
        assert_eq!(r.params["train_mode"], "all");
        assert_eq!(r.params["test_fraction"], "0.2");
        assert_eq!(r.params["datasets"], rec.datasets.join(","));
        // metrics
        assert!(close(r.metrics["accuracy"], rec.scores.accuracy));
        assert!(close(r.metrics["macro_f1"], rec.scores.macro_f1));
        assert!(close(r.metrics["n_test"], rec.scores.n as f64));
        assert!(r.metrics["n_train"] >= 200.0, "{:?}", r.metrics);
        for k in [
            "weighted_f1",
            "log_loss",
            "fit_seconds",
            "vectorize_seconds",
            "eval_seconds",
            "recall.positive",
            "f1.negative",
        ] {
            assert!(r.metrics.contains_key(k), "{k} missing: {:?}", r.metrics);
        }
        // tags
        let artifact = format!("file://{}/{}", bucket.display(), rec.artifact_key);
        assert_eq!(r.tags["polarity.sha256"], rec.sha256);
        assert_eq!(r.tags["polarity.artifact"], artifact);
        assert!(artifact.ends_with(&format!("models/{v}/model.plm")));
        assert_eq!(r.tags["polarity.data_digest"], rec.data_digest);
        assert_eq!(r.tags["polarity.datasets"], rec.datasets.join(","));
        assert_eq!(r.tags["mlflow.source.git.commit"], "0123abc");
        assert!(r.tags["polarity.dataset_rows"].starts_with('{'));
        // the verdict
        assert_eq!(r.tags["polarity.verdict"], dec.verdict.as_str());
        assert_eq!(r.tags["polarity.promoted"], dec.promoted.to_string());
        assert_eq!(r.tags["polarity.verdict_reason"], dec.reason);
        assert!(close(
            r.metrics["validation.candidate_macro_f1"],
            dec.candidate_scores.macro_f1
        ));
        match &dec.production_scores {
            Some(p) => {
                assert!(close(
                    r.metrics["validation.production_macro_f1"],
                    p.macro_f1
                ));
                assert!(r.metrics.contains_key("validation.p_value"));
            }
            None => assert!(!r.metrics.contains_key("validation.production_macro_f1")),
        }
        eprintln!(
            "run {} {v}: macro_f1 {:.4}, verdict {} ({})",
            r.info["run_id"].as_str().unwrap(),
            r.metrics["macro_f1"],
            r.tags["polarity.verdict"],
            r.tags["polarity.verdict_reason"]
        );
    }

    // The Model Registry: one model version per version, made by its run, the artifact uploaded beside it,
    // and the champion alias on the production version.
    let mvs = model_versions(&client, "polarity").await;
    assert_eq!(mvs.len(), 3, "{mvs:?}");
    let mv_of = |v: &str| -> Value {
        mvs.values()
            .find(|mv| tag(mv, "polarity.version").as_deref() == Some(v))
            .unwrap_or_else(|| panic!("no model version for {v}"))
            .clone()
    };
    let exp = client.experiment_id().await.unwrap();
    for dec in &decisions {
        let v = dec.version.as_str();
        let mv = mv_of(v);
        let run_id = by_version[v][0].info["run_id"].as_str().unwrap();
        assert_eq!(mv["run_id"].as_str(), Some(run_id));
        assert_eq!(
            mv["source"].as_str(),
            Some(format!("runs:/{run_id}/model").as_str())
        );
        let rec = reg.version(v).await.unwrap().unwrap();
        assert_eq!(
            tag(&mv, "polarity.sha256").as_deref(),
            Some(rec.sha256.as_str())
        );
        let url = format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{exp}/{run_id}/artifacts/model/model.plm",
            server.url
        );
        let uploaded = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
        assert_eq!(
            polarity_core::artifact::sha256_hex(&uploaded),
            rec.sha256,
            "the uploaded artifact is the registered one"
        );
    }
    let production = reg.pointer().await.unwrap().version.unwrap();
    assert_eq!(production, decisions[1].version);
    let champ = alias(&client, "polarity", "champion").await;
    assert_eq!(champ["version"], mv_of(&production)["version"], "{champ}");
    // a rollback (what `polarity registry rollback` does) moves the alias back
    let e = registry::rollback(reg.as_ref(), "test").await.unwrap();
    MlflowTracker::new(m.clone()).production_moved(&e.to).await;
    assert_eq!(e.to, decisions[0].version);
    let champ = alias(&client, "polarity", "champion").await;
    assert_eq!(champ["version"], mv_of(&decisions[0].version)["version"]);
    let e = registry::promote_manual(reg.as_ref(), &decisions[1].version, "test")
        .await
        .unwrap();
    MlflowTracker::new(m.clone()).production_moved(&e.to).await;
    let champ = alias(&client, "polarity", "champion").await;
    assert_eq!(champ["version"], mv_of(&decisions[1].version)["version"]);

    // Every event of the last upload delivered again: already done, no network work, no new run.
    let disp = common::dispatcher(&store, &reg, &cfg);
    for s in worse_steps.iter().rev() {
        let again = disp
            .run(object_created("test-bucket", &s.key, 0), |_| {})
            .await
            .unwrap();
        assert!(
            again.iter().all(|a| a.outcome.result() == Outcome::Already),
            "{again:?}"
        );
    }
    // A train that crashed mid-logging (run left RUNNING) after registering, before its manifest: the
    // retried event resumes, finds the run by tag, completes it, and creates no second run.
    let v3 = decisions[2].version.clone();
    let run3 = by_version[&v3][0].info["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    client
        .call(
            "runs/update",
            &[],
            Some(&json!({"run_id": run3, "status": "RUNNING"})),
        )
        .await
        .unwrap();
    std::fs::remove_file(bucket.join(layout::model(&v3, "manifest.json"))).unwrap();
    let train_key = &worse_steps
        .iter()
        .find(|s| s.stage == Stage::Train)
        .unwrap()
        .key;
    let again = disp
        .run(object_created("test-bucket", train_key, 0), |_| {})
        .await
        .unwrap();
    let results: Vec<_> = again
        .iter()
        .map(|s| (s.stage, s.outcome.result()))
        .collect();
    assert_eq!(
        results,
        [
            (Stage::Train, Outcome::Ok),
            (Stage::Validate, Outcome::Already)
        ],
        "the retried train re-commits its manifest; validate finds its decision"
    );
    let after = runs(&client).await;
    assert_eq!(after.len(), 3);
    assert!(after.values().all(|r| r.len() == 1), "no second run");
    let r3 = &after[&v3][0];
    assert_eq!(r3.info["run_id"].as_str(), Some(run3.as_str()));
    assert_eq!(r3.info["status"].as_str(), Some("FINISHED"));
    assert_eq!(r3.tags["polarity.verdict"], "reject", "tags survive");
    assert_eq!(
        model_versions(&client, "polarity").await.len(),
        3,
        "the resumed run registered no second model version"
    );
    eprintln!("MLflow test body took {:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_down_or_hanging_never_fails_or_blocks_the_pipeline() {
    // A port nobody listens on, and a server that accepts connections and never answers.
    let refused = free_port();
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_port = hanging.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hanging.incoming() {
            held.push(s);
        }
    });
    for port in [refused, hanging_port] {
        let dir = tempfile::tempdir().unwrap();
        let store: Store = Arc::new(LocalStore::new(dir.path().join("bucket")));
        let reg: Reg = Arc::new(FileRegistry::new(dir.path().join("registry.json")));
        let mut m = MlflowConfig::new(&format!("http://127.0.0.1:{port}"));
        m.timeout = Duration::from_millis(300);
        let cfg = PipelineConfig {
            mlflow: Some(m),
            ..PipelineConfig::default()
        };
        let t0 = Instant::now();
        let steps = common::run(
            &store,
            &reg,
            &cfg,
            "incoming/small.csv",
            common::data().small,
        )
        .await;
        let dec = common::decision(&steps);
        assert!(dec.promoted, "{dec:?}");
        assert_eq!(
            common::production(&reg).await.as_deref(),
            Some(dec.version.as_str())
        );
        // each stage's logging is capped at 3 × 0.3 s
        assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
        eprintln!(
            "tracking at port {port} ({}): chain took {:?}",
            if port == refused {
                "refused"
            } else {
                "hanging"
            },
            t0.elapsed()
        );
    }
}
