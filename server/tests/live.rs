//! Tests against a real server on an ephemeral 127.0.0.1 port with a real HTTP client: hot swap under load,
//! refused corrupt artifacts, overload (429), timeout (503), graceful drain.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use polarity_server::reload::{ReloadOutcome, Reloader};
use polarity_server::{FileSource, Limits, ModelSource};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_client_predicts_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let srv = common::start(common::state(&path, Limits::default()).await, None).await;
    let c = reqwest::Client::new();
    let r = srv.predict(&c, "great fun").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["label"], "positive");
    let r = c.get(srv.url("/predict")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error_type"],
        "method_not_allowed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swap_under_load_loses_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let state = common::state(&path, Limits::default()).await;
    let v1 = state.model().unwrap().version.clone();
    let poll = Duration::from_millis(200);
    let source: Arc<dyn ModelSource> = Arc::new(FileSource::new(&path, None));
    let srv = common::start(state, Some((source, poll))).await;

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let mut workers = Vec::new();
    for w in 0..4 {
        let (stop, ok, client, url) = (
            stop.clone(),
            ok.clone(),
            client.clone(),
            srv.url("/predict"),
        );
        workers.push(tokio::spawn(async move {
            let mut seen: Vec<String> = Vec::new();
            let mut failures = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let body = if i.is_multiple_of(5) {
                    json!({"texts": ["great fun", "bad plot"]})
                } else {
                    json!({"text": format!("great film {w} {i}")})
                };
                match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status() == 200 => {
                        let header = r.headers()["x-model-version"].to_str().unwrap().to_string();
                        let v: Value = r.json().await.unwrap();
                        assert_eq!(
                            v["model_version"],
                            header.as_str(),
                            "header and body name the same model"
                        );
                        if seen.last() != Some(&header) {
                            seen.push(header);
                        }
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures.push(format!("status {}", r.status())),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (seen, failures)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = ok.load(Ordering::Relaxed);
    assert!(before > 0);
    let new_bytes = common::artifact(3);
    let v2 = polarity_core::artifact::sha256_hex(&new_bytes)[..12].to_string();
    assert_ne!(v1, v2);
    let swapped_at = Instant::now();
    common::replace(&path, &new_bytes);
    // /info moves to the new version within the poll interval (plus scheduling slack)
    loop {
        let info: Value = client
            .get(srv.url("/info"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if info["model_version"] == v2.as_str() {
            break;
        }
        assert!(
            swapped_at.elapsed() < poll + Duration::from_millis(800),
            "no swap after {:?}",
            swapped_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = swapped_at.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let (seen, failures) = w.await.unwrap();
        assert!(failures.is_empty(), "failed requests: {failures:?}");
        assert_eq!(seen.first(), Some(&v1));
        assert_eq!(
            seen.last(),
            Some(&v2),
            "every client moved to the new version"
        );
        assert!(seen.len() == 2, "versions never go back: {seen:?}");
    }
    let metrics = srv.metrics(&client).await;
    assert_eq!(
        common::metric_sum(&metrics, "polarity_model_reloads_total", "success"),
        1.0
    );
    assert_eq!(
        common::metric_sum(&metrics, "polarity_model_reloads_total", "failure"),
        0.0
    );
    assert_eq!(
        common::metric_sum(
            &metrics,
            "polarity_model_info",
            &format!("version=\"{v2}\"")
        ),
        1.0
    );
    assert_eq!(
        common::metric_sum(&metrics, "polarity_model_info", ""),
        1.0,
        "only the new model is listed"
    );
    eprintln!(
        "{} requests ok, swap visible after {took:?}",
        ok.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_artifacts_are_refused_and_the_old_model_serves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    let good = common::artifact(0);
    std::fs::write(&path, &good).unwrap();
    let state = common::state(&path, Limits::default()).await;
    let v1 = state.model().unwrap().version.clone();
    let srv = common::start(state.clone(), None).await;
    let source = FileSource::new(&path, None);
    let mut reloader = Reloader::default();
    assert_eq!(
        reloader.reload_once(&state, &source).await,
        ReloadOutcome::Unchanged
    );

    let mut flipped = common::artifact(2);
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    let truncated = common::artifact(2)[..100].to_vec();
    let c = reqwest::Client::new();
    for (i, bad) in [flipped, truncated, b"not a model".to_vec()]
        .into_iter()
        .enumerate()
    {
        common::replace(&path, &bad);
        assert!(matches!(
            reloader.reload_once(&state, &source).await,
            ReloadOutcome::Failed(_)
        ));
        // the same bad bytes are not retried (nor counted) at every poll
        assert_eq!(
            reloader.reload_once(&state, &source).await,
            ReloadOutcome::Unchanged
        );
        let r = srv.predict(&c, "great fun").await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-model-version"], v1.as_str());
        let m = srv.metrics(&c).await;
        assert_eq!(
            common::metric_sum(&m, "polarity_model_reloads_total", "failure"),
            (i + 1) as f64
        );
        assert_eq!(common::metric_sum(&m, "polarity_model_ready", ""), 1.0);
    }
    // a sidecar pinning a different SHA-256 is refused too
    let sidecar = dir.path().join("m.json");
    std::fs::write(
        &sidecar,
        json!({"version": "v9", "sha256": "00".repeat(32)}).to_string(),
    )
    .unwrap();
    common::replace(&path, &common::artifact(4));
    let pinned = FileSource::new(&path, Some(sidecar.clone()));
    let out = reloader.reload_once(&state, &pinned).await;
    assert!(
        matches!(&out, ReloadOutcome::Failed(e) if e.contains("does not match")),
        "{out:?}"
    );
    assert_eq!(state.model().unwrap().version, v1);
    // and a correct one is accepted under its sidecar name
    std::fs::write(&sidecar, json!({"version": "v9", "sha256": polarity_core::artifact::sha256_hex(&common::artifact(4))}).to_string()).unwrap();
    assert_eq!(
        reloader.reload_once(&state, &pinned).await,
        ReloadOutcome::Swapped("v9".into())
    );
    let r = srv.predict(&c, "great fun").await;
    assert_eq!(r.headers()["x-model-version"], "v9");
    // a missing file is a (non-retryable) source failure; the model keeps serving
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        reloader
            .reload_once(&state, &FileSource::new(&path, None))
            .await,
        ReloadOutcome::Failed(_)
    ));
    assert_eq!(c.get(srv.url("/ready")).send().await.unwrap().status(), 200);
}

/// Sends headers and the first half of a /predict body, leaving the request in flight.
async fn half_request(addr: std::net::SocketAddr) -> (TcpStream, &'static [u8]) {
    let body: &'static [u8] = br#"{"text": "a great , witty film"}"#;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body[..10]).await.unwrap();
    s.flush().await.unwrap();
    (s, &body[10..])
}

async fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(i) = text.find("\r\n\r\n") {
            let len = text[..i].lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            });
            if len.is_some_and(|len| buf.len() >= i + 4 + len) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_hold_no_permit_and_time_out_with_408() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let limits = Limits {
        max_concurrent_requests: 1,
        request_timeout: Duration::from_millis(400),
        ..Limits::default()
    };
    let srv = common::start(common::state(&path, limits).await, None).await;
    // more slow clients than permits: each sends half a body and stops
    let mut slow = Vec::new();
    for _ in 0..8 {
        slow.push(half_request(srv.addr).await);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c = reqwest::Client::new();
    let r = srv.predict(&c, "great").await;
    assert_eq!(r.status(), 200, "a slow body must not hold the only permit");
    assert_eq!(
        c.get(srv.url("/health")).send().await.unwrap().status(),
        200,
        "health is not limited"
    );
    // a body that never arrives is the client's fault: 408 body_timeout, JSON
    for (mut s, _) in slow {
        let resp = read_response(&mut s).await;
        assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
        assert!(resp.contains(r#""error_type":"body_timeout""#), "{resp}");
    }
    let r = srv.predict(&c, "great").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_oversized_body_is_refused_before_it_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let limits = Limits {
        max_body_bytes: 1000,
        ..Limits::default()
    };
    let srv = common::start(common::state(&path, limits).await, None).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"POST /predict HTTP/1.1\r\nhost: x\r\ncontent-length: 5000000\r\n\r\n")
        .await
        .unwrap();
    // no body sent at all: the answer comes from the header alone
    let resp = read_response(&mut s).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert!(resp.contains(r#""error_type":"body_too_large""#), "{resp}");
}

/// Sends the headers of a /predict request declaring `len` bytes and `sent` bytes of its body.
async fn partial_body(addr: std::net::SocketAddr, len: usize, sent: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![b' '; sent]).await.unwrap();
    s.flush().await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_beyond_the_byte_budget_get_503_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let limits = Limits {
        max_body_bytes: 1000,
        max_buffered_bytes: 2500,
        request_timeout: Duration::from_secs(3),
        ..Limits::default()
    };
    let srv = common::start(common::state(&path, limits).await, None).await;
    // two bodies of 1,000 declared bytes in flight hold 2,000 of the 2,500
    let mut held = vec![
        partial_body(srv.addr, 1000, 999).await,
        partial_body(srv.addr, 1000, 999).await,
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = std::time::Instant::now();
    let mut third = partial_body(srv.addr, 1000, 0).await;
    let resp = read_response(&mut third).await;
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    assert!(resp.contains(r#""error_type":"busy""#), "{resp}");
    assert!(
        resp.to_ascii_lowercase().contains("retry-after: 1"),
        "{resp}"
    );
    assert!(t0.elapsed() < Duration::from_secs(1), "answered at once");
    // a small body still fits in what is left
    let c = reqwest::Client::new();
    assert_eq!(srv.predict(&c, "great").await.status(), 200);
    // the held bytes come back when the bodies end: finish one (a 400, it is blanks), drop the other
    let mut first = held.remove(0);
    first.write_all(b" ").await.unwrap();
    assert!(read_response(&mut first).await.starts_with("HTTP/1.1 400"));
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let body = format!(r#"{{"text": "great fun{}"}}"#, " ".repeat(900));
    for _ in 0..2 {
        let r = c
            .post(srv.url("/predict"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_get_503_and_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let srv = common::start(common::state(&path, limits).await, None).await;
    let a = TcpStream::connect(srv.addr).await.unwrap();
    let _b = TcpStream::connect(srv.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(srv.addr).await.unwrap();
    let resp = read_response(&mut third).await;
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    assert!(resp.contains(r#""error_type":"busy""#), "{resp}");
    let mut rest = [0u8; 16];
    assert_eq!(third.read(&mut rest).await.unwrap(), 0, "then closed");
    // a slot comes back when a connection closes
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = TcpStream::connect(srv.addr).await.unwrap();
    again
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(read_response(&mut again).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_chunked_body_is_a_400_bad_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let srv = common::start(common::state(&path, Limits::default()).await, None).await;
    for bad in [
        "zz\r\n{}\r\n0\r\n\r\n",  // a chunk size that is not hex
        "2\r\n{}XX\r\n0\r\n\r\n", // chunk data not followed by CRLF
    ] {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        let req = format!(
            "POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{bad}"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let resp = read_response(&mut s).await;
        assert!(resp.starts_with("HTTP/1.1 400"), "{bad:?}: {resp}");
        assert!(resp.contains(r#""error_type":"bad_request""#), "{resp}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_announcing_more_than_the_limit_is_a_413_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let limits = Limits {
        max_body_bytes: 1000,
        request_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let srv = common::start(common::state(&path, limits).await, None).await;
    let head = "POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let filler = format!("1f4\r\n{}\r\n", " ".repeat(500));
    for (name, first, then) in [
        // 2^64-1 in the same write as the head, and alone after it
        (
            "max in one write",
            format!("{head}ffffffffffffffff\r\n"),
            None,
        ),
        (
            "max after the head",
            head.to_string(),
            Some("ffffffffffffffff\r\n".to_string()),
        ),
        // two chunks of 500 and 501 bytes: over 1000 in total, with no data of the second yet
        (
            "sum",
            format!("{head}{filler}"),
            Some("1f5;ext=1\r\n".to_string()),
        ),
    ] {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(first.as_bytes()).await.unwrap();
        if let Some(then) = then {
            tokio::time::sleep(Duration::from_millis(100)).await;
            s.write_all(then.as_bytes()).await.unwrap();
        }
        // read_response gives up after 5 s; the request timeout is 60 s
        let resp = read_response(&mut s).await;
        assert!(resp.starts_with("HTTP/1.1 413"), "{name}: {resp}");
        assert!(
            resp.contains(r#""error_type":"body_too_large""#),
            "{name}: {resp}"
        );
    }
    // a chunked body within the limit, with an extension and split chunks, is read and answered as before,
    // twice on one keep-alive connection
    let body = br#"{"text": "a great , witty film"}"#;
    let chunked = format!(
        "{head}5;name=v\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        std::str::from_utf8(&body[..5]).unwrap(),
        body.len() - 5,
        std::str::from_utf8(&body[5..]).unwrap()
    );
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    for _ in 0..2 {
        s.write_all(chunked.as_bytes()).await.unwrap();
        let resp = read_response(&mut s).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(resp.contains(r#""label""#), "{resp}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_preface_gets_goaway_http_1_1_required() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let srv = common::start(common::state(&path, Limits::default()).await, None).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    // frame header: 24-bit length, type, flags, stream id
    assert!(got.len() >= 18, "{got:?}");
    assert_eq!(got[3], 0x4, "a SETTINGS frame first: {got:?}");
    let len = usize::from(got[0]) << 16 | usize::from(got[1]) << 8 | usize::from(got[2]);
    let goaway = &got[9 + len..];
    assert_eq!(goaway[3], 0x7, "then GOAWAY: {got:?}");
    assert_eq!(
        &goaway[13..17],
        &[0, 0, 0, 0xd],
        "HTTP_1_1_REQUIRED: {got:?}"
    );
}

/// Sends raw bytes and reads the whole answer.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    read_response(&mut s).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_are_json_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let srv = common::start(common::state(&path, Limits::default()).await, None).await;
    let long_uri = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
    let many: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
    let big_headers = format!("GET /health HTTP/1.1\r\nhost: x\r\n{many}\r\n");
    for (bytes, status, error_type) in [
        (b"BROKEN\r\n\r\n".to_vec(), "400", "bad_request"),
        (
            b"GET /health HTTP/1.1\r\nbad header\r\n\r\n".to_vec(),
            "400",
            "bad_request",
        ),
        (long_uri.into_bytes(), "414", "uri_too_long"),
        (big_headers.into_bytes(), "431", "headers_too_large"),
    ] {
        let resp = raw(srv.addr, &bytes).await;
        let sent = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
        assert!(
            resp.starts_with(&format!("HTTP/1.1 {status}")),
            "sent {sent:?}, got {resp}"
        );
        assert!(resp.contains("content-type: application/json"), "{resp}");
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {resp}"));
        assert_eq!(v["error_type"], error_type);
        assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_headers_are_cut_off_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let srv = common::start_with(
        common::state(&path, Limits::default()).await,
        None,
        Duration::from_millis(300),
    )
    .await;
    let mut conns = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(b"POST /predict HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        conns.push(s);
    }
    tokio::time::sleep(Duration::from_millis(900)).await;
    for mut s in conns {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("the server closes a connection whose headers never finish")
            .unwrap_or(0);
        assert!(
            n == 0 || buf.starts_with(b"HTTP/1.1 408"),
            "{:?}",
            &buf[..n]
        );
    }
    let c = reqwest::Client::new();
    assert_eq!(srv.predict(&c, "great").await.status(), 200);
}

/// Reads one HTTP response (headers and a `content-length` body) from `s`; `None` when the server closed
/// the connection first.
async fn response(s: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return Some(text);
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the server answers or closes")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_outlives_the_header_deadline_and_ends_at_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let srv = common::start_timed(
        common::state(&path, Limits::default()).await,
        None,
        Duration::from_millis(300),
        Duration::from_millis(1500),
    )
    .await;
    const GET: &[u8] = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n";
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(GET).await.unwrap();
    assert!(response(&mut s).await.unwrap().starts_with("HTTP/1.1 200"));
    // idle for longer than the header deadline (a load balancer's pooled connection): still served
    tokio::time::sleep(Duration::from_millis(800)).await;
    s.write_all(GET).await.unwrap();
    let again = response(&mut s).await;
    assert!(
        again
            .as_deref()
            .is_some_and(|r| r.starts_with("HTTP/1.1 200")),
        "an idle keep-alive connection was closed at the header deadline: {again:?}"
    );
    // the header deadline still runs from a request's first byte on a reused connection
    s.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let t0 = Instant::now();
    assert!(response(&mut s).await.is_none());
    assert!(
        t0.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t0.elapsed()
    );
    // and an idle connection ends at the idle timeout
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(GET).await.unwrap();
    assert!(response(&mut s).await.is_some());
    let t0 = Instant::now();
    assert!(response(&mut s).await.is_none());
    let idle = t0.elapsed();
    assert!(
        idle >= Duration::from_millis(1400) && idle < Duration::from_millis(3000),
        "{idle:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_drains_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plm");
    std::fs::write(&path, common::artifact(0)).unwrap();
    let mut srv = common::start(common::state(&path, Limits::default()).await, None).await;
    let (mut s, rest) = half_request(srv.addr).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    srv.shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !srv.handle.is_finished(),
        "must wait for the in-flight request"
    );
    s.write_all(rest).await.unwrap();
    let resp = read_response(&mut s).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(r#""label":"positive""#), "{resp}");
    drop(s);
    let done = tokio::time::timeout(Duration::from_secs(5), &mut srv.handle).await;
    assert!(
        matches!(done, Ok(Ok(Ok(())))),
        "server exits cleanly after draining: {done:?}"
    );
    assert!(
        TcpStream::connect(srv.addr).await.is_err(),
        "no longer accepting"
    );
}
