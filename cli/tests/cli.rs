//! End-to-end tests of the `polarity` binary on small fixtures.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn polarity(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_polarity"))
        .args(args)
        .output()
        .expect("run polarity")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

fn train(dir: &Path, name: &str) -> (PathBuf, Value) {
    let model = dir.join(name);
    let out = polarity(&[
        "train",
        "--data",
        fixture("reviews.csv").to_str().unwrap(),
        "--test",
        fixture("holdout.jsonl").to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    (model, json_of(&out))
}

#[test]
fn train_reports_counts_metrics_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, r) = train(dir.path(), "a.plm");
    assert_eq!(r["labels"], serde_json::json!(["negative", "positive"]));
    assert_eq!(r["n_train"], 501);
    assert_eq!(r["n_test"], 100);
    // reviews.csv: 501 good rows + 4 bad; holdout.jsonl: 100 good + unknown label + invalid JSON
    assert_eq!(r["rows_in"], 607);
    assert_eq!(r["rejected"], 6);
    let reasons = &r["rejected_reasons"];
    for (k, v) in [
        ("missing_text", 1),
        ("missing_label", 1),
        ("invalid_utf8", 1),
        ("wrong_field_count", 1),
        ("unknown_label", 1),
        ("invalid_json", 1),
    ] {
        assert_eq!(reasons[k], v, "{k} in {reasons}");
    }
    let acc = r["accuracy"].as_f64().unwrap();
    assert!(acc > 0.6 && acc <= 1.0, "accuracy {acc}");
    for k in ["macro_f1", "weighted_f1", "log_loss"] {
        assert!(r[k].as_f64().is_some(), "{k}");
    }
    assert_eq!(
        r["per_class"]["positive"]["support"].as_u64().unwrap()
            + r["per_class"]["negative"]["support"].as_u64().unwrap(),
        100
    );
    assert_eq!(r["confusion"].as_array().unwrap().len(), 2);
    for k in ["read_s", "vectorize_s", "fit_s", "eval_s", "total_s"] {
        assert!(r["timings"][k].as_f64().unwrap() >= 0.0, "{k}");
    }
    let bytes = std::fs::read(&m1).unwrap();
    assert_eq!(r["sha256"].as_str().unwrap(), polarity_core_sha(&bytes));
    let (m2, r2) = train(dir.path(), "b.plm");
    assert_eq!(
        bytes,
        std::fs::read(m2).unwrap(),
        "same data + config must give a byte-identical artifact"
    );
    assert_eq!(r["sha256"], r2["sha256"]);
}

#[test]
fn dropped_rows_are_counted_once() {
    // duplicates and rows that clean to nothing are read once and rejected once:
    // rows_in = n_train + n_test + rejected
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    let mut body = String::from("text,label\n");
    for i in 0..40 {
        body.push_str(&format!(
            "great film number {i},1\nawful film number {i},0\n"
        ));
    }
    body.push_str("great film number 1,1\nGREAT film number 2,1\n<br>,0\n");
    std::fs::write(&data, body).unwrap();
    let out = polarity(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        dir.path().join("m.plm").to_str().unwrap(),
        "--json",
    ]);
    let r = json_of(&out);
    assert_eq!(r["rows_in"], 83);
    assert_eq!(r["rejected"], 3, "{r}");
    assert_eq!(r["rejected_reasons"]["duplicate"], 2, "{r}");
    assert_eq!(r["rejected_reasons"]["empty_after_cleaning"], 1, "{r}");
    assert_eq!(
        r["n_train"].as_u64().unwrap() + r["n_test"].as_u64().unwrap() + 3,
        83,
        "{r}"
    );
}

fn polarity_core_sha(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        });
    let mut s = String::new();
    let _ = write!(
        s,
        "{}",
        String::from_utf8_lossy(&out.unwrap().stdout)
            .split_whitespace()
            .next()
            .unwrap_or("")
    );
    s
}

#[test]
fn eval_and_predict_use_the_saved_model() {
    let dir = tempfile::tempdir().unwrap();
    let (model, trained) = train(dir.path(), "m.plm");
    let model = model.to_str().unwrap();
    let r = json_of(&polarity(&[
        "eval",
        "--model",
        model,
        "--data",
        fixture("holdout.jsonl").to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(r["n_test"], 100);
    assert_eq!(
        r["accuracy"], trained["accuracy"],
        "eval of the saved model reproduces train's held-out score"
    );
    assert_eq!(r["rejected_reasons"]["unknown_label"], 1);

    let out = polarity(&["predict", "--model", model, "great fun", "bad"]);
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["label"], "positive");
    assert_eq!(lines[1]["label"], "negative");
    let p = &lines[0]["probabilities"];
    let sum = p["negative"].as_f64().unwrap() + p["positive"].as_f64().unwrap();
    assert!((sum - 1.0).abs() < 1e-9);
    assert_eq!(lines[0]["score"], p["positive"]);

    // stdin: one output line per input line, invalid UTF-8 reported in place, never a crash
    let mut child = Command::new(env!("CARGO_BIN_EXE_polarity"))
        .args(["predict", "--model", model])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"great fun\r\n\xff\xfe broken\nbad\n\nlast line without newline")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[1]["error_type"], "invalid_utf8");
    assert_eq!(lines[0]["label"], "positive");
    assert_eq!(lines[2]["label"], "negative");
}

#[test]
fn errors_are_one_line_and_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = polarity(&[
        "train",
        "--data",
        "/nonexistent/x.csv",
        "--out",
        dir.path().join("m").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/x.csv"), "{err}");

    let out = polarity(&[
        "train",
        "--data",
        fixture("reviews.csv").to_str().unwrap(),
        "--text-col",
        "nope",
        "--out",
        "/tmp/never.plm",
    ]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success()
            && err.contains(r#"no text column "nope""#)
            && err.contains(r#""id", "review", "sentiment""#),
        "{err}"
    );

    let bad = dir.path().join("bad.plm");
    std::fs::write(&bad, b"POLARITY\x01\x00\x00\x00garbage").unwrap();
    let out = polarity(&["predict", "--model", bad.to_str().unwrap(), "x"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success() && err.contains("bad.plm") && err.contains("truncated"),
        "{err}"
    );

    let out = polarity(&[
        "train",
        "--data",
        fixture("reviews.csv").to_str().unwrap(),
        "--ngram",
        "3,1",
        "--out",
        "/tmp/never.plm",
    ]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success() && err.contains("n-gram"), "{err}");
    assert!(!Path::new("/tmp/never.plm").exists());
}

#[test]
fn held_out_file_with_other_column_names_falls_back_and_failures_name_the_given_columns() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.plm");
    let base = |test: &Path| {
        polarity(&[
            "train",
            "--data",
            fixture("reviews.csv").to_str().unwrap(),
            "--text-col",
            "review",
            "--label-col",
            "sentiment",
            "--test",
            test.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ])
    };
    // holdout.jsonl names its columns text/label: auto-detected, with a note.
    let ok = base(&fixture("holdout.jsonl"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stderr).contains("auto-detected"));
    assert!(json_of(&ok)["n_test"].as_u64().unwrap() >= 100);
    // Neither the given nor any detectable columns: the error is about the columns the user gave.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a,b\nx,y\n").unwrap();
    let err = base(&bad);
    assert!(!err.status.success());
    let msg = String::from_utf8_lossy(&err.stderr);
    assert!(msg.contains("review"), "{msg}");
}
