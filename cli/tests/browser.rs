//! Pages in a real browser: the report page `polarity report` writes and the server's `/docs` page are
//! loaded by headless Chromium (the Debian package, driven by `scripts/browser/render.mjs`; `setup.sh`
//! installs both). Each must render (a screenshot that is not blank), log nothing to the console, raise
//! no page error, and request nothing beyond itself (the pages are self-contained). The tests are
//! `#[ignore]`d with that need, so a bare `cargo test` lists them as skipped; the test command runs them.

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn polarity(args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_polarity"));
    c.args(args);
    for v in ["POLARITY_HOME", "POLARITY_STORE", "POLARITY_REGISTRY"] {
        c.env_remove(v);
    }
    let o = c.output().expect("run polarity");
    assert!(
        o.status.success(),
        "polarity {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What `render.mjs` saw.
struct Rendered {
    report: Value,
    png: PathBuf,
}

/// Loads `url` in Chromium; fails the test when the driver is missing (run `scripts/setup.sh`).
fn render(url: &str, dir: &Path) -> Rendered {
    let script = repo().join("scripts/browser/render.mjs");
    assert!(
        repo()
            .join("scripts/browser/node_modules/playwright-core")
            .is_dir(),
        "the browser driver is not installed: run scripts/setup.sh"
    );
    let png = dir.join("page.png");
    let out = Command::new("node")
        .arg(&script)
        .arg(url)
        .arg(&png)
        .output()
        .expect("node (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "render {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    Rendered { report, png }
}

/// The share of pixels that differ from the most common colour, and the number of distinct colours.
fn ink(png: &Path) -> (f64, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let mut counts = std::collections::HashMap::<&[u8], usize>::new();
    for p in buf[..info.buffer_size()].chunks(px) {
        *counts.entry(&p[..3.min(px)]).or_default() += 1;
    }
    let total: usize = counts.values().sum();
    let background = counts.values().copied().max().unwrap_or(0);
    ((total - background) as f64 / total as f64, counts.len())
}

/// The rules every page must meet.
fn assert_clean(r: &Rendered, origin: &str) {
    let rep = &r.report;
    assert_eq!(rep["console"], Value::Array(vec![]), "console: {rep}");
    assert_eq!(
        rep["pageErrors"],
        Value::Array(vec![]),
        "page errors: {rep}"
    );
    assert_eq!(
        rep["failed"],
        Value::Array(vec![]),
        "failed requests: {rep}"
    );
    for u in rep["requests"].as_array().unwrap() {
        let u = u.as_str().unwrap();
        assert!(u.starts_with(origin), "fetched {u} (outside {origin})");
    }
    let (share, colours) = ink(&r.png);
    assert!(
        share > 0.05 && colours > 20,
        "the screenshot looks blank: {:.1}% non-background pixels, {colours} colours",
        share * 100.0
    );
}

#[test]
#[ignore = "needs headless Chromium and node (bash scripts/setup.sh installs both); the test command runs it"]
fn report_page_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let home = home.to_str().unwrap();
    let sample = repo().join("examples/reviews.csv");
    let lines: Vec<String> = std::fs::read_to_string(&sample)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    // two uploads: the second's candidate is judged against the first's model on the same rows
    let first = dir.path().join("first.csv");
    std::fs::write(&first, lines[..2001].join("\n")).unwrap();
    polarity(&["pipeline", "run", first.to_str().unwrap(), "--home", home]);
    let second = dir.path().join("second.csv");
    let mut rest = vec![lines[0].clone()];
    rest.extend_from_slice(&lines[2001..]);
    std::fs::write(&second, rest.join("\n")).unwrap();
    polarity(&["pipeline", "run", second.to_str().unwrap(), "--home", home]);

    let page = dir.path().join("report.html");
    polarity(&["report", "--home", home, "--out", page.to_str().unwrap()]);
    let html = std::fs::read_to_string(&page).unwrap();
    for part in [
        "Per-class precision, recall and F1",
        "Confusion matrix",
        "Reliability",
        "Top n-grams per class",
        "Decision",
        "Trained on",
        "Promotion history",
    ] {
        assert!(html.contains(part), "the page has no {part:?} section");
    }
    assert!(!html.contains("<script"), "the page runs no scripts");
    // the validate stage wrote the same page beside the model
    let listed = polarity(&["registry", "list", "--home", home, "--json"]);
    let versions: Value = serde_json::from_slice(&listed.stdout).unwrap();
    for v in versions.as_array().unwrap() {
        let name = v["version"].as_str().unwrap();
        let beside = Path::new(home).join(format!("bucket/models/{name}/report.html"));
        assert!(beside.is_file(), "validate wrote no {}", beside.display());
    }

    let url = format!("file://{}", page.display());
    let r = render(&url, dir.path());
    assert_clean(&r, &url);
    assert!(r.report["svgCount"].as_u64().unwrap() >= 4, "{}", r.report);
    assert!(
        r.report["title"]
            .as_str()
            .unwrap()
            .starts_with("Polarity report v")
    );
}

/// Stops the server when the test ends, passing or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs headless Chromium and node (bash scripts/setup.sh installs both); the test command runs it"]
fn docs_page_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.plm");
    polarity(&[
        "train",
        "--data",
        repo().join("examples/reviews.csv").to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_polarity"))
            .args(["serve", "--model", model.to_str().unwrap(), "--addr", &addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let origin = format!("http://{addr}/");
    let t0 = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = render(&format!("{origin}docs"), dir.path());
    assert_eq!(r.report["status"], 200, "{}", r.report);
    assert_clean(&r, &origin);
    // the page rendered the OpenAPI document it fetched from the server: every route is listed
    assert!(
        r.report["textLength"].as_u64().unwrap() > 500,
        "{}",
        r.report
    );
    let requested: Vec<&str> = r.report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        requested.iter().any(|u| u.ends_with("/openapi.json")),
        "{requested:?}"
    );
}

#[test]
#[ignore = "needs headless Chromium and node (bash scripts/setup.sh installs both); the test command runs it"]
fn the_blank_check_sees_a_blank_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("blank.html");
    std::fs::write(&page, "<!DOCTYPE html><html><head><title>x</title><link rel=\"icon\" href=\"data:,\"></head><body></body></html>").unwrap();
    let r = render(&format!("file://{}", page.display()), dir.path());
    let (share, colours) = ink(&r.png);
    assert!(share < 0.01 && colours < 5, "{share} {colours}");
}
