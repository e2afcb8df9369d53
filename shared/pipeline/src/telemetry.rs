//! Pipeline metrics, recorded once per stage run by [`record`]:
//! * in Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) one CloudWatch Embedded Metric Format line on stdout:
//!   namespace `Polarity`, dimension `Stage`, metrics `StageRuns`, `StageFailures`, `RowsQuarantined`;
//! * when `POLARITY_PUSHGATEWAY` is set, process-wide counters that [`flush`] pushes to the Prometheus
//!   Pushgateway: `polarity_pipeline_runs_total{stage,outcome}` (outcome one of [`Outcome::NAMES`]),
//!   `polarity_pipeline_rows_total{stage,outcome="accepted"|"quarantined"}`,
//!   `polarity_pipeline_last_success_timestamp_seconds{stage}`.
//!
//! Each process pushes to its own group, job `polarity_pipeline` and `instance` = `instance_id`: a push
//! replaces its whole group, so with one shared group two processes (two CLI runs, a runner restarted)
//! would overwrite each other's counters. Queries sum over instances (`sum by (stage, outcome) (…)`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::layout::Stage;

use crate::error::PipelineError;
use crate::records::{Outcome, StageOutcome};

#[derive(Default)]
struct Counters {
    runs: BTreeMap<(&'static str, &'static str), u64>,
    rows: BTreeMap<(&'static str, &'static str), u64>,
    last_success: BTreeMap<&'static str, f64>,
}

static COUNTERS: Mutex<Option<Counters>> = Mutex::new(None);

/// This process's Pushgateway `instance`: host name, process id and start time (ms), so that two
/// processes never share a group, not even after a pid is reused.
pub(crate) fn instance_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let raw = format!("{host}-{}-{started}", std::process::id());
        // A grouping-key value goes into the URL path: keep it to URL-safe characters.
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    })
}

/// `(accepted, quarantined)` rows of an outcome (ingest only).
fn rows(outcome: &StageOutcome) -> (u64, u64) {
    match outcome {
        StageOutcome::Ingest(m) if !m.already => (m.accepted, m.quarantined),
        _ => (0, 0),
    }
}

/// The EMF line for one stage run.
pub(crate) fn emf_line(
    stage: Stage,
    result: Result<&StageOutcome, &PipelineError>,
    now_ms: u128,
) -> String {
    let (outcome, failed, quarantined) = match result {
        Ok(o) => (o.result(), 0, rows(o).1),
        Err(_) => (Outcome::Error, 1, 0),
    };
    serde_json::json!({
        "_aws": {
            "Timestamp": now_ms as u64,
            "CloudWatchMetrics": [{
                "Namespace": "Polarity",
                "Dimensions": [["Stage"]],
                "Metrics": [
                    {"Name": "StageRuns", "Unit": "Count"},
                    {"Name": "StageFailures", "Unit": "Count"},
                    {"Name": "RowsQuarantined", "Unit": "Count"}
                ]
            }]
        },
        "Stage": stage.as_str(),
        "Outcome": outcome.as_str(),
        "StageRuns": 1,
        "StageFailures": failed,
        "RowsQuarantined": quarantined
    })
    .to_string()
}

/// Records one stage run (see the module docs).
pub fn record(stage: Stage, result: Result<&StageOutcome, &PipelineError>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        println!("{}", emf_line(stage, result, now.as_millis()));
    }
    let Ok(mut guard) = COUNTERS.lock() else {
        return;
    };
    let c = guard.get_or_insert_with(Counters::default);
    let name = stage.as_str();
    let outcome = result.map_or(Outcome::Error, StageOutcome::result).as_str();
    *c.runs.entry((name, outcome)).or_insert(0) += 1;
    if let Ok(o) = result {
        let (a, q) = rows(o);
        *c.rows.entry((name, "accepted")).or_insert(0) += a;
        *c.rows.entry((name, "quarantined")).or_insert(0) += q;
        c.last_success.insert(name, now.as_secs_f64());
    }
}

/// The counters in the Prometheus text format.
pub fn render() -> String {
    let guard = COUNTERS.lock().ok();
    let empty = Counters::default();
    let c = guard.as_ref().and_then(|g| g.as_ref()).unwrap_or(&empty);
    let mut s = String::new();
    s.push_str("# HELP polarity_pipeline_runs_total Stage runs by outcome.\n# TYPE polarity_pipeline_runs_total counter\n");
    for ((stage, outcome), n) in &c.runs {
        let _ = writeln!(
            s,
            "polarity_pipeline_runs_total{{stage=\"{stage}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    s.push_str("# HELP polarity_pipeline_rows_total Rows accepted or quarantined.\n# TYPE polarity_pipeline_rows_total counter\n");
    for ((stage, outcome), n) in &c.rows {
        let _ = writeln!(
            s,
            "polarity_pipeline_rows_total{{stage=\"{stage}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    s.push_str("# HELP polarity_pipeline_last_success_timestamp_seconds Last successful run.\n# TYPE polarity_pipeline_last_success_timestamp_seconds gauge\n");
    for (stage, t) in &c.last_success {
        let _ = writeln!(
            s,
            "polarity_pipeline_last_success_timestamp_seconds{{stage=\"{stage}\"}} {t:.3}"
        );
    }
    s
}

/// Pushes the counters to `POLARITY_PUSHGATEWAY` when it is set; does nothing otherwise. Failures are
/// logged, never returned: metrics must not fail a stage.
pub async fn flush() {
    if let Ok(url) = std::env::var("POLARITY_PUSHGATEWAY")
        && let Err(e) = push(&url).await
    {
        tracing::warn!(error = %e, "cannot push metrics to the Pushgateway");
    }
}

/// Pushes the counters to a Pushgateway at `base`, group `job="polarity_pipeline"`,
/// `instance=``instance_id`.
///
/// # Errors
/// The HTTP failure.
pub async fn push(base: &str) -> Result<(), reqwest::Error> {
    let url = format!(
        "{}/metrics/job/polarity_pipeline/instance/{}",
        base.trim_end_matches('/'),
        instance_id()
    );
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    client
        .put(url)
        .header("content-type", "text/plain; version=0.0.4")
        .body(render())
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::IngestManifest;

    fn ingest(accepted: u64, quarantined: u64) -> StageOutcome {
        StageOutcome::Ingest(IngestManifest {
            dataset: "d".into(),
            source_key: "incoming/x".into(),
            rows_in: accepted + quarantined,
            accepted,
            quarantined,
            ..Default::default()
        })
    }

    #[test]
    fn instance_id_is_stable_and_url_safe() {
        let id = instance_id();
        assert_eq!(id, instance_id());
        assert!(id.contains(&format!("-{}-", std::process::id())), "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
        );
    }

    #[test]
    fn emf_names_namespace_dimension_and_counts() {
        let v: serde_json::Value =
            serde_json::from_str(&emf_line(Stage::Ingest, Ok(&ingest(5, 2)), 1000)).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Polarity");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Stage"
        );
        assert_eq!(
            (
                v["Stage"].as_str(),
                v["RowsQuarantined"].as_u64(),
                v["StageFailures"].as_u64()
            ),
            (Some("ingest"), Some(2), Some(0))
        );
        let e = PipelineError::Config("x".into());
        let v: serde_json::Value =
            serde_json::from_str(&emf_line(Stage::Train, Err(&e), 1)).unwrap();
        assert_eq!(
            (v["StageFailures"].as_u64(), v["Outcome"].as_str()),
            (Some(1), Some("error"))
        );
    }

    #[tokio::test]
    async fn pushes_counters_in_the_text_format() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        record(Stage::Ingest, Ok(&ingest(7, 3)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf);
                if let Some(h) = text.find("\r\n\r\n") {
                    let len: usize = text[..h]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= h + 4 + len {
                        break;
                    }
                }
            }
            sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(buf).unwrap()
        });
        push(&format!("http://{addr}")).await.unwrap();
        let req = server.await.unwrap();
        assert!(
            req.starts_with(&format!(
                "PUT /metrics/job/polarity_pipeline/instance/{} ",
                instance_id()
            )),
            "{req}"
        );
        assert!(
            req.contains("polarity_pipeline_runs_total{stage=\"ingest\",outcome=\"ok\"}"),
            "{req}"
        );
        assert!(
            req.contains("polarity_pipeline_rows_total{stage=\"ingest\",outcome=\"quarantined\"}"),
            "{req}"
        );
        assert!(
            req.contains("polarity_pipeline_last_success_timestamp_seconds{stage=\"ingest\"}"),
            "{req}"
        );
    }
}
