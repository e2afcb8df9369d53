//! End-to-end tests of the `polarity` binary for the pipeline, dataset and registry commands, the data
//! contract flags, and the frictions a new user hit (each reproduced here before it was fixed).

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn polarity(args: &[&str]) -> Output {
    polarity_in(None, args)
}

fn polarity_in(cwd: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_polarity"));
    c.args(args);
    // the developer's environment must not pick backends or columns for these tests
    for v in [
        "POLARITY_HOME",
        "POLARITY_STORE",
        "POLARITY_REGISTRY",
        "POLARITY_TEXT_COL",
        "POLARITY_LABEL_COL",
    ] {
        c.env_remove(v);
    }
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    c.output().expect("run polarity")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: &Output) -> &Output {
    assert!(o.status.success(), "failed: {}{}", stdout(o), stderr(o));
    o
}

/// The bundled sample's data lines (text,label with 0/1).
fn sample() -> Vec<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reviews.csv");
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .skip(1)
        .map(String::from)
        .collect()
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// A tweets-like CSV whose label column the readers do not guess.
fn tweets(lines: &[String]) -> String {
    let mut out = String::from("tweet_id,airline_sentiment,airline,text,retweet_count\n");
    for (i, l) in lines.iter().enumerate() {
        let (text, label) = l.rsplit_once(',').unwrap();
        let text = text.trim_matches('"').replace('"', "'");
        let s = if label == "1" { "positive" } else { "negative" };
        out.push_str(&format!("{i},{s},Virgin,\"{text}\",0\n"));
    }
    out
}

#[test]
fn pipeline_run_takes_a_data_contract_and_says_when_nothing_was_trained() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    let f = write(dir.path(), "tweets.csv", &tweets(&l[..1500]));
    let home = dir.path().join("home");
    let h = home.to_str().unwrap();
    // without a contract: quarantined whole, the run says why and fails
    let o = polarity(&["pipeline", "run", f.to_str().unwrap(), "--home", h]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("nothing was trained") && err.contains("no label column"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // with --label-col: a new dataset, trained and promoted
    let o = ok(&polarity(&[
        "pipeline",
        "run",
        f.to_str().unwrap(),
        "--home",
        h,
        "--label-col",
        "airline_sentiment",
    ]))
    .clone();
    assert!(stdout(&o).contains("PROMOTE"), "{}", stdout(&o));
    // dataset list shows both uploads, the first quarantined, with names and times
    let o = ok(&polarity(&["dataset", "list", "--home", h, "--json"])).clone();
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    let statuses: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 2);
    assert!(
        statuses.contains(&"quarantined") && statuses.contains(&"active"),
        "{statuses:?}"
    );
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|d| d["file_name"] == "tweets.csv" && d["uploaded_at"].as_u64() > Some(0))
    );
    let o = ok(&polarity(&["dataset", "list", "--home", h])).clone();
    assert!(stdout(&o).starts_with("DATASET"), "{}", stdout(&o));
    // a headerless file with positions and a label mapping
    let mut tsv = String::new();
    for (i, x) in l[1500..2000].iter().enumerate() {
        let (t, lab) = x.rsplit_once(',').unwrap();
        let stars = if i % 5 == 0 {
            3
        } else if lab == "1" {
            5
        } else {
            1
        };
        tsv.push_str(&format!("{stars}\t{}\n", t.trim_matches('"')));
    }
    let t = write(dir.path(), "stars.tsv", &tsv);
    let o = polarity(&[
        "pipeline",
        "run",
        t.to_str().unwrap(),
        "--home",
        h,
        "--no-header",
        "--text-col",
        "2",
        "--label-col",
        "1",
        "--label-map",
        "1,2=negative;4,5=positive",
        "--json",
    ]);
    let first: Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(
        first["outcome"]["reasons"]["unmapped_label"], 100,
        "{first}"
    );
    assert_eq!(first["outcome"]["accepted"], 400);
    // a bad flag fails before anything is uploaded
    let o = polarity(&[
        "pipeline",
        "run",
        t.to_str().unwrap(),
        "--home",
        h,
        "--label-map",
        "oops",
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("label-map"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dataset_exclude_returns_to_the_version_of_the_remaining_data_and_registry_output_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    let h = dir.path().join("home");
    let h = h.to_str().unwrap();
    let a = write(
        dir.path(),
        "a.csv",
        &format!("text,label\n{}\n", l[..1500].join("\n")),
    );
    let b = write(
        dir.path(),
        "b.csv",
        &format!("text,label\n{}\n", l[1500..4000].join("\n")),
    );
    ok(&polarity(&[
        "pipeline",
        "run",
        a.to_str().unwrap(),
        "--home",
        h,
    ]));
    ok(&polarity(&[
        "pipeline",
        "run",
        b.to_str().unwrap(),
        "--home",
        h,
    ]));
    let o = ok(&polarity(&[
        "dataset",
        "exclude",
        "b.csv",
        "--home",
        h,
        "--reason",
        "late labels",
    ]))
    .clone();
    let out = stdout(&o);
    // the remaining data is a's alone: a's version again, not a retrained copy, and the line says that
    // production (trained on b too) now serves and how to serve a's version instead
    assert!(
        out.contains("exclude")
            && out.contains("(already trained)")
            && out.contains("Since then: production is now")
            && out.contains("which this version leaves out")
            && out.contains("`polarity registry promote v"),
        "{out}"
    );
    let o = ok(&polarity(&["dataset", "show", "b", "--home", h])).clone();
    assert!(
        stdout(&o).contains("status    excluded") && stdout(&o).contains("late labels"),
        "{}",
        stdout(&o)
    );
    let o = ok(&polarity(&["registry", "list", "--home", h])).clone();
    let out = stdout(&o);
    assert!(
        out.starts_with("VERSION") && out.contains("OWN-TEST-F1") && out.contains("20"),
        "{out}"
    );
    let is_version = |x: &&str| {
        x.split_whitespace()
            .next()
            .is_some_and(|w| w.len() == 13 && w.starts_with('v'))
    };
    assert_eq!(out.lines().filter(is_version).count(), 2, "{out}");
    let o = ok(&polarity(&["registry", "history", "--home", h])).clone();
    assert!(stdout(&o).starts_with("SEQ"), "{}", stdout(&o));
    let versions: Value =
        serde_json::from_slice(&ok(&polarity(&["registry", "list", "--home", h, "--json"])).stdout)
            .unwrap();
    let v = versions[0]["version"].as_str().unwrap().to_string();
    let o = ok(&polarity(&["registry", "show", &v, "--home", h])).clone();
    assert!(
        stdout(&o).contains("decision") && stdout(&o).contains("pass baseline"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn promote_and_rollback_verify_the_artifact_and_refuse_no_op_moves() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    let h = dir.path().join("home");
    let hs = h.to_str().unwrap();
    let a = write(
        dir.path(),
        "a.csv",
        &format!("text,label\n{}\n", l[..1500].join("\n")),
    );
    let b = write(
        dir.path(),
        "b.csv",
        &format!("text,label\n{}\n", l[1500..4000].join("\n")),
    );
    ok(&polarity(&[
        "pipeline",
        "run",
        a.to_str().unwrap(),
        "--home",
        hs,
    ]));
    ok(&polarity(&[
        "pipeline",
        "run",
        b.to_str().unwrap(),
        "--home",
        hs,
    ]));
    let list: Value = serde_json::from_slice(
        &ok(&polarity(&["registry", "list", "--home", hs, "--json"])).stdout,
    )
    .unwrap();
    let (v1, v2) = (
        list[0]["version"].as_str().unwrap(),
        list[1]["version"].as_str().unwrap(),
    );
    assert_eq!(list[1]["status"], "production");
    // promoting production again is refused and leaves no history entry
    let o = polarity(&["registry", "promote", v2, "--home", hs]);
    assert!(
        !o.status.success() && stderr(&o).contains("already in production"),
        "{}",
        stderr(&o)
    );
    // a tampered artifact is refused before the pointer moves
    let artifact = h
        .join("bucket")
        .join(list[0]["artifact_key"].as_str().unwrap());
    let mut bytes = std::fs::read(&artifact).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&artifact, &bytes).unwrap();
    let o = polarity(&["registry", "rollback", "--home", hs]);
    assert!(
        !o.status.success() && stderr(&o).contains("does not verify"),
        "{}",
        stderr(&o)
    );
    let o = polarity(&["registry", "promote", v1, "--home", hs]);
    assert!(
        !o.status.success() && stderr(&o).contains("SHA-256"),
        "{}",
        stderr(&o)
    );
    let h2: Value = serde_json::from_slice(
        &ok(&polarity(&["registry", "history", "--home", hs, "--json"])).stdout,
    )
    .unwrap();
    assert_eq!(h2.as_array().unwrap().len(), 2, "no move happened");
}

#[test]
fn promoting_a_version_whose_decision_failed_rules_needs_force_and_is_recorded_as_forced() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    let h = dir.path().join("home");
    let hs = h.to_str().unwrap();
    let named = |rows: &[String], extra: &str| {
        let mut out = String::from("text,label\n");
        for x in rows {
            let (t, lab) = x.rsplit_once(',').unwrap();
            let class = if lab == "1" { "positive" } else { "negative" };
            out.push_str(&format!("{t},{class}\n"));
        }
        out.push_str(extra);
        out
    };
    let a = write(dir.path(), "a.csv", &named(&l[..1500], ""));
    ok(&polarity(&[
        "pipeline",
        "run",
        a.to_str().unwrap(),
        "--home",
        hs,
    ]));
    // a new class: the dataset is held; including it trains a 3-class candidate the label-set rule holds
    let mixed: String = l[1500..1900]
        .iter()
        .map(|x| format!("{},mixed\n", x.rsplit_once(',').unwrap().0))
        .collect();
    let c = write(dir.path(), "c.csv", &named(&l[1900..2600], &mixed));
    let o = polarity(&["pipeline", "run", c.to_str().unwrap(), "--home", hs]);
    assert!(
        !o.status.success() && stderr(&o).contains("\"mixed\" (400 rows)"),
        "{}",
        stderr(&o)
    );
    ok(&polarity(&["dataset", "include", "c.csv", "--home", hs]));
    let list: Value = serde_json::from_slice(
        &ok(&polarity(&["registry", "list", "--home", hs, "--json"])).stdout,
    )
    .unwrap();
    let held = list
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["status"] == "held")
        .unwrap_or_else(|| panic!("{list}"));
    let v = held["record"]["version"]
        .as_str()
        .or(held["version"].as_str())
        .unwrap();
    let o = polarity(&["registry", "promote", v, "--home", hs]);
    let e = stderr(&o);
    assert!(
        !o.status.success()
            && e.contains("its decision failed")
            && e.contains("label_set")
            && e.contains("--force"),
        "{e}"
    );
    let history = |h: &str| -> Value {
        serde_json::from_slice(
            &ok(&polarity(&["registry", "history", "--home", h, "--json"])).stdout,
        )
        .unwrap()
    };
    assert_eq!(history(hs).as_array().unwrap().len(), 1, "refused: no move");
    ok(&polarity(&[
        "registry", "promote", v, "--home", hs, "--force",
    ]));
    let h = history(hs);
    let last = h.as_array().unwrap().last().unwrap();
    assert!(
        last["to"] == v
            && last["kind"] == "forced_promote"
            && last["reason"]
                .as_str()
                .unwrap()
                .contains("forced past failed rules"),
        "{last}"
    );
}

#[test]
fn the_readmes_example_files_run_with_the_readmes_flags() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("home");
    let hs = h.to_str().unwrap();
    let ex = |f: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples")
            .join(f)
            .to_str()
            .unwrap()
            .to_string()
    };
    let runs: [Vec<String>; 4] = [
        vec![ex("reviews.csv")],
        vec![ex("more-reviews.jsonl.gz")],
        vec![
            ex("Tweets.csv"),
            "--label-col".into(),
            "airline_sentiment".into(),
        ],
        vec![
            ex("ratings-2026-11.tsv"),
            "--no-header".into(),
            "--text-col".into(),
            "2".into(),
            "--label-col".into(),
            "1".into(),
            "--label-map".into(),
            "1,2=negative;4,5=positive".into(),
        ],
    ];
    for r in &runs {
        let mut args = vec!["pipeline", "run", "--home", hs];
        args.extend(r.iter().map(String::as_str));
        let o = polarity(&args);
        let out = stdout(&o);
        assert!(
            out.contains("0 quarantined") && out.contains("[validate]"),
            "{r:?}: {out}{}",
            stderr(&o)
        );
    }
}

#[test]
fn names_with_control_characters_are_quarantined_and_never_reach_the_terminal_raw() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    let h = dir.path().join("home");
    let hs = h.to_str().unwrap();
    let body = format!("text,label\n{}\n", l[..600].join("\n"));
    let good = write(dir.path(), "good.csv", &body);
    ok(&polarity(&[
        "pipeline",
        "run",
        good.to_str().unwrap(),
        "--home",
        hs,
    ]));
    // ESC sequences (clear screen, colour) and a newline that would forge a row of a table
    let evil = write(
        dir.path(),
        "evil\u{1b}[2J\u{1b}[31m\nd-0000000000000000  active.csv",
        &format!("text,label\n{}\n", l[600..1200].join("\n")),
    );
    let o = polarity(&["pipeline", "run", evil.to_str().unwrap(), "--home", hs]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(
        !o.status.success() && out.contains("control characters"),
        "{out}{err}"
    );
    for text in [&out, &err] {
        assert!(!text.contains('\u{1b}'), "{text:?}");
    }
    assert!(
        out.lines().all(|x| !x.starts_with("d-0000000000000000")),
        "{out}"
    );
    for cmd in [&["dataset", "list"][..], &["pipeline", "status"][..]] {
        let mut args = cmd.to_vec();
        args.extend(["--home", hs]);
        let o = ok(&polarity(&args)).clone();
        let out = stdout(&o);
        assert!(
            !out.contains('\u{1b}') && out.lines().all(|x| !x.starts_with("d-0000000000000000")),
            "{cmd:?}: {out}"
        );
    }
    // --name is one folder name, validated, never rewritten
    let long = "n".repeat(100_000);
    for bad in ["a/b", "x\u{1b}y", "", &long] {
        let o = polarity(&[
            "pipeline",
            "run",
            good.to_str().unwrap(),
            "--home",
            hs,
            "--name",
            bad,
        ]);
        assert!(
            !o.status.success()
                && stderr(&o).contains("must be one folder name")
                && stderr(&o).len() < 300,
            "{:?}: {}",
            &bad[..bad.len().min(20)],
            stderr(&o)
        );
    }
}

#[test]
fn uploads_past_the_size_limits_are_quarantined_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    let h = dir.path().join("home");
    let hs = h.to_str().unwrap();
    // a file larger than --max-upload-bytes is quarantined whole, naming the limit
    let big = write(
        dir.path(),
        "big.csv",
        &format!("text,label\n{}\n", l[..2000].join("\n")),
    );
    let o = polarity(&[
        "pipeline",
        "run",
        big.to_str().unwrap(),
        "--home",
        hs,
        "--max-upload-bytes",
        "100000",
    ]);
    let out = stdout(&o);
    assert!(
        !o.status.success()
            && out.contains("whole file quarantined")
            && out.contains("more than 100000 bytes once decompressed"),
        "{out}{}",
        stderr(&o)
    );
    // a row longer than --max-row-chars is quarantined with text_too_long; the others are trained on
    let long = format!("\"{}\",1", "a fine film ".repeat(200));
    let f = write(
        dir.path(),
        "long.csv",
        &format!("text,label\n{}\n{long}\n", l[2000..3000].join("\n")),
    );
    let o = ok(&polarity(&[
        "pipeline",
        "run",
        f.to_str().unwrap(),
        "--home",
        hs,
        "--max-row-chars",
        "1000",
    ]))
    .clone();
    let out = stdout(&o);
    assert!(
        out.contains("1 quarantined") && out.contains("text_too_long"),
        "{out}"
    );
}

#[test]
fn warnings_from_the_tracking_layer_reach_stderr_without_secrets() {
    // an "MLflow" that answers every request with an HTML page
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { break };
            let mut buf = [0u8; 8192];
            let _ = std::io::Read::read(&mut c, &mut buf);
            let body = "<html><body>login</body></html>";
            let _ = std::io::Write::write_all(
                &mut c,
                format!("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).as_bytes(),
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    let f = write(
        dir.path(),
        "a.csv",
        &format!("text,label\n{}\n", l[..800].join("\n")),
    );
    let h = dir.path().join("home");
    let uri = format!("http://127.0.0.1:{port}/?token=SECRET-TOKEN");
    let o = ok(&polarity(&[
        "pipeline",
        "run",
        f.to_str().unwrap(),
        "--home",
        h.to_str().unwrap(),
        "--mlflow-tracking-uri",
        &uri,
    ]))
    .clone();
    let err = stderr(&o);
    assert!(
        err.contains("WARN") && err.contains("MLflow") && !err.contains("SECRET-TOKEN"),
        "{err}"
    );
}

#[test]
fn after_a_crash_status_says_resume_and_resume_finishes_every_chain() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    let h = dir.path().join("home");
    let hs = h.to_str().unwrap();
    let a = write(
        dir.path(),
        "a.csv",
        &format!("text,label\n{}\n", l[..1500].join("\n")),
    );
    ok(&polarity(&[
        "pipeline",
        "run",
        a.to_str().unwrap(),
        "--home",
        hs,
    ]));
    let list: Value = serde_json::from_slice(
        &ok(&polarity(&["registry", "list", "--home", hs, "--json"])).stdout,
    )
    .unwrap();
    let v1 = list[0]["version"].as_str().unwrap().to_string();
    // killed after train committed, before validate wrote its record; and an upload stored but never ingested
    std::fs::remove_file(h.join(format!("bucket/decisions/{v1}.json"))).unwrap();
    std::fs::write(
        h.join("bucket/incoming/b.csv"),
        format!("text,label\n{}\n", l[1500..4000].join("\n")),
    )
    .unwrap();
    let o = ok(&polarity(&["pipeline", "status", "--home", hs])).clone();
    let out = stdout(&o);
    assert!(
        out.contains("incoming/b.csv (not ingested yet) — next: `polarity pipeline resume`")
            && out.contains("not validated yet — next: `polarity pipeline resume`"),
        "{out}"
    );
    let o = ok(&polarity(&["pipeline", "resume", "--home", hs])).clone();
    let out = stdout(&o);
    assert!(
        out.contains("2 upload(s) to resume") && out.contains("[validate]"),
        "{out}"
    );
    assert!(
        h.join(format!("bucket/decisions/{v1}.json")).exists(),
        "{out}"
    );
    let o = ok(&polarity(&["pipeline", "status", "--home", hs])).clone();
    assert!(!stdout(&o).contains("next:"), "{}", stdout(&o));
    let list: Value = serde_json::from_slice(
        &ok(&polarity(&["registry", "list", "--home", hs, "--json"])).stdout,
    )
    .unwrap();
    assert_eq!(
        list.as_array().unwrap().len(),
        2,
        "b was trained on: {list}"
    );
    // resuming again changes nothing
    let o = ok(&polarity(&["pipeline", "resume", "--home", hs])).clone();
    assert!(
        !stdout(&o).contains("[train   ] version") || stdout(&o).contains("already trained"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn read_only_commands_create_nothing_and_half_backends_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = polarity_in(Some(dir.path()), &["registry", "list"]);
    assert!(
        !o.status.success() && stderr(&o).contains("no registry here"),
        "{}",
        stderr(&o)
    );
    let o = polarity_in(
        Some(dir.path()),
        &["dataset", "list", "--home", "elsewhere"],
    );
    assert!(!o.status.success() && stderr(&o).contains("no registry here"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
    let o = polarity_in(
        Some(dir.path()),
        &["pipeline", "run", "x.csv", "--store", "s3://b"],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("--registry"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn train_and_pipeline_prepare_the_same_file_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    // duplicates and rows that clean to nothing: both must drop the same ones
    let mut rows: Vec<String> = l[..1200].to_vec();
    rows.extend(l[..50].iter().cloned());
    rows.push("\"<b></b>\",1".into());
    let f = write(
        dir.path(),
        "dup.csv",
        &format!("text,label\n{}\n", rows.join("\n")),
    );
    let h = dir.path().join("home");
    let o = ok(&polarity(&[
        "pipeline",
        "run",
        f.to_str().unwrap(),
        "--home",
        h.to_str().unwrap(),
        "--json",
    ]))
    .clone();
    let train_step: Value = stdout(&o)
        .lines()
        .map(|x| serde_json::from_str::<Value>(x).unwrap())
        .find(|v| v["stage"] == "train")
        .unwrap();
    let version = train_step["outcome"]["version"].as_str().unwrap();
    let card: Value = serde_json::from_slice(
        &std::fs::read(h.join(format!("bucket/models/{version}/card.json"))).unwrap(),
    )
    .unwrap();
    let model = dir.path().join("m.plm");
    let t: Value = serde_json::from_slice(
        &ok(&polarity(&[
            "train",
            "--data",
            f.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
            "--json",
        ]))
        .stdout,
    )
    .unwrap();
    assert_eq!(t["n_train"], train_step["outcome"]["n_train"]);
    assert_eq!(t["rejected_reasons"]["duplicate"], 50);
    assert_eq!(t["rejected_reasons"]["empty_after_cleaning"], 1);
    let digest = polarity_core::artifact::decode(&std::fs::read(&model).unwrap())
        .unwrap()
        .meta
        .data
        .digest;
    assert_eq!(
        card["data_digest"].as_str(),
        Some(digest.as_str()),
        "the same rows in the same order"
    );
}

#[test]
fn eval_maps_class_names_and_train_refuses_an_unusable_test_file() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    let f = write(
        dir.path(),
        "a.csv",
        &format!("text,label\n{}\n", l[..1000].join("\n")),
    );
    let model = dir.path().join("m.plm");
    ok(&polarity(&[
        "train",
        "--data",
        f.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]));
    // a file labelled with the model's own class names
    let named: Vec<String> = l[1000..1300]
        .iter()
        .map(|x| {
            let (t, lab) = x.rsplit_once(',').unwrap();
            format!("{t},{}", if lab == "1" { "positive" } else { "negative" })
        })
        .collect();
    let e = write(
        dir.path(),
        "named.csv",
        &format!("text,label\n{}\n", named.join("\n")),
    );
    let preds = dir.path().join("preds.jsonl");
    let o = ok(&polarity(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        e.to_str().unwrap(),
        "--json",
        "--predictions",
        preds.to_str().unwrap(),
    ]))
    .clone();
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (r["n_test"].as_u64(), r["rejected"].as_u64()),
        (Some(300), Some(0)),
        "{r}"
    );
    let lines = std::fs::read_to_string(&preds).unwrap();
    assert_eq!(lines.lines().count(), 300);
    let first: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert!(
        first["line"].as_u64() == Some(2) && first["prediction"].is_string(),
        "{first}"
    );
    // a held-out file with no usable row is an error, not metrics of nothing
    let bad = write(dir.path(), "bad.csv", "text,label\nfine,7\n");
    let o = polarity(&[
        "train",
        "--data",
        f.to_str().unwrap(),
        "--test",
        bad.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("no usable held-out rows"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn eval_scores_a_pipeline_model_on_its_own_headerless_upload() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    let h = dir.path().join("home");
    let h = h.to_str().unwrap();
    // no header, labels 0/1: the pipeline model's classes are the names the upload was mapped to
    let f = write(dir.path(), "up.csv", &format!("{}\n", l[..1000].join("\n")));
    let f = f.to_str().unwrap();
    let flags = ["--no-header", "--text-col", "1", "--label-col", "2"];
    let mut run = vec!["pipeline", "run", f, "--home", h];
    run.extend(flags);
    ok(&polarity(&run));
    let list: Value =
        serde_json::from_slice(&ok(&polarity(&["registry", "list", "--home", h, "--json"])).stdout)
            .unwrap();
    let model = Path::new(h)
        .join("bucket")
        .join(list[0]["artifact_key"].as_str().unwrap());
    let model = model.to_str().unwrap();
    let scored = |extra: &[&str]| -> Value {
        let mut args = vec!["eval", "--model", model, "--data", f, "--json"];
        args.extend(flags);
        args.extend(extra);
        serde_json::from_slice(&ok(&polarity(&args)).stdout).unwrap()
    };
    for extra in [&[][..], &["--label-map", "0=negative;1=positive"][..]] {
        let r = scored(extra);
        assert_eq!(
            (r["n_test"].as_u64(), r["rejected"].as_u64()),
            (Some(1000), Some(0)),
            "{extra:?}: {r}"
        );
    }
    // a map that swaps the classes is applied, not ignored: most rows now disagree
    let swapped = scored(&["--label-map", "0=positive;1=negative"]);
    let straight = scored(&[]);
    assert!(
        swapped["accuracy"].as_f64().unwrap() < 0.5 && straight["accuracy"].as_f64().unwrap() > 0.5,
        "{swapped} {straight}"
    );
    // labels the model cannot know: the error names its classes and the labels read
    let odd = write(dir.path(), "odd.csv", "nice film,good\nawful film,bad\n");
    let mut args = vec!["eval", "--model", model, "--data", odd.to_str().unwrap()];
    args.extend(flags);
    let o = polarity(&args);
    let e = stderr(&o);
    assert!(
        !o.status.success()
            && e.contains("no rows to score")
            && e.contains("classes are negative, positive")
            && e.contains("labels read: \"good\", \"bad\"")
            && e.contains("--label-map"),
        "{e}"
    );
}

/// TSV lines `label<TAB>text` from the bundled sample, its 0/1 labels kept.
fn sample_tsv() -> Vec<String> {
    sample()
        .iter()
        .map(|l| {
            let (text, label) = l.rsplit_once(',').unwrap();
            format!("{label}\t{}", text.trim_matches('"').replace('"', "'"))
        })
        .collect()
}

#[test]
fn training_in_passes_gives_the_model_and_rejects_of_training_on_held_rows() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample_tsv();
    // duplicates within and across files (some relabelled), texts that clean to nothing, unmapped and
    // missing labels, a wrong field count, CRLF endings and blank lines
    let mut a = vec!["label\ttext".to_string()];
    a.extend(l[..500].iter().cloned());
    a.extend(l[..60].iter().map(|x| x.replacen('0', "1", 1)));
    a.extend(
        [
            "1\t<b> </b>",
            "2\tneutral words here",
            "\tno label",
            "0\ta\tb",
            "",
        ]
        .map(String::from),
    );
    let mut b = vec!["label\ttext".to_string()];
    b.extend(l[400..900].iter().cloned());
    let fa = write(dir.path(), "a.tsv", &(a.join("\r\n") + "\r\n"));
    let fb = write(dir.path(), "b.tsv", &(b.join("\n") + "\n"));
    let run = |streaming: &str, name: &str| {
        let model = dir.path().join(format!("{name}.plm"));
        let rejects = dir.path().join(format!("{name}.jsonl"));
        let o = ok(&polarity(&[
            "train",
            "--data",
            fa.to_str().unwrap(),
            "--data",
            fb.to_str().unwrap(),
            "--label-map",
            "0=negative;1=positive",
            "--out",
            model.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
            "--json",
            "--streaming",
            streaming,
            "--stream-block-bytes",
            "700",
        ]))
        .clone();
        let mut report: Value = serde_json::from_str(&stdout(&o)).unwrap();
        report["timings"] = Value::Null;
        report["model"] = Value::Null;
        (
            std::fs::read(model).unwrap(),
            std::fs::read_to_string(rejects).unwrap(),
            report,
        )
    };
    let held = run("off", "held");
    let passes = run("on", "passes");
    assert!(held.0 == passes.0, "the same model bytes");
    assert_eq!(held.1, passes.1);
    assert_eq!(held.2, passes.2);
    let reasons = &held.2["rejected_reasons"];
    for r in [
        "duplicate",
        "empty_after_cleaning",
        "unmapped_label",
        "missing_label",
    ] {
        assert!(reasons[r].as_u64() > Some(0), "{r}: {reasons}");
    }
    assert!(held.2["n_test"].as_u64() > Some(50), "{}", held.2);
    // a CSV whose fields may hold a newline cannot be read in passes
    let q = write(dir.path(), "q.csv", "text,label\n\"a\nb\",1\nc,0\n");
    let o = polarity(&[
        "train",
        "--data",
        q.to_str().unwrap(),
        "--out",
        dir.path().join("q.plm").to_str().unwrap(),
        "--streaming",
        "on",
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("--streaming off"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn train_reads_stdin_checks_its_output_first_and_writes_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    let body = format!("text,label\n{}\n,1\ngood,\n", l[..600].join("\n"));
    let rejects = dir.path().join("rejects.jsonl");
    let model = dir.path().join("m.plm");
    let mut child = Command::new(env!("CARGO_BIN_EXE_polarity"))
        .args([
            "train",
            "--data",
            "-",
            "--out",
            model.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
            "--max-iter",
            "1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("did not converge"),
        "non-convergence is said in text mode: {}",
        stderr(&o)
    );
    let r = std::fs::read_to_string(&rejects).unwrap();
    let reasons: Vec<String> = r
        .lines()
        .map(|x| {
            serde_json::from_str::<Value>(x).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        reasons.contains(&"missing_text".to_string())
            && reasons.contains(&"missing_label".to_string()),
        "{reasons:?}"
    );
    let o = polarity(&["train", "--data", "-", "--out", "/nonexistent/dir/x.plm"]);
    assert!(
        !o.status.success() && stderr(&o).contains("does not exist"),
        "{}",
        stderr(&o)
    );
    assert!(!Path::new("/nonexistent/dir").exists());
    let o = polarity(&[
        "train",
        "--data",
        "nope.csv",
        "--out",
        model.to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert_eq!(
        e.matches("No such file or directory").count(),
        1,
        "said once: {e}"
    );
}

#[test]
fn predict_answers_every_line_with_the_servers_rules_and_reads_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    let f = write(
        dir.path(),
        "a.csv",
        &format!("text,label\n{}\n", l[..800].join("\n")),
    );
    let model = dir.path().join("m.plm");
    ok(&polarity(&[
        "train",
        "--data",
        f.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]));
    let o = ok(&polarity(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "a great film",
        "  ",
        "awful",
    ]))
    .clone();
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|x| serde_json::from_str(x).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["error_type"], "empty_text");
    assert!(lines[0]["label"].is_string() && lines[2]["label"].is_string());
    let data = write(
        dir.path(),
        "in.csv",
        "id,review\n1,a great film\n2,\n3,dull\n",
    );
    let o = ok(&polarity(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--text-col",
        "review",
    ]))
    .clone();
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|x| serde_json::from_str(x).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one line per row, in order");
    assert!(
        lines[1]["error_type"].is_string() && lines[2]["label"].is_string(),
        "{lines:?}"
    );
}

#[test]
fn a_model_with_one_label_is_refused_by_every_loader() {
    // a valid artifact of a model with two labels, rewritten to claim one, checksum recomputed
    let dir = tempfile::tempdir().unwrap();
    let l = sample();
    let f = write(
        dir.path(),
        "a.csv",
        &format!("text,label\n{}\n", l[..500].join("\n")),
    );
    let model = dir.path().join("m.plm");
    ok(&polarity(&[
        "train",
        "--data",
        f.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]));
    let mut c = polarity_core::artifact::decode(&std::fs::read(&model).unwrap()).unwrap();
    c.meta.labels.truncate(1);
    c.meta.data.class_prior = vec![1.0];
    c.model.classes = 1;
    let forged = polarity_core::artifact::encode(&c);
    let bad = dir.path().join("one.plm");
    std::fs::write(&bad, forged).unwrap();
    for args in [
        vec!["predict", "--model", bad.to_str().unwrap(), "hello"],
        vec![
            "eval",
            "--model",
            bad.to_str().unwrap(),
            "--data",
            f.to_str().unwrap(),
        ],
    ] {
        let o = polarity(&args);
        assert!(!o.status.success(), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains("one.plm") && !e.contains("panicked"), "{e}");
    }
}
