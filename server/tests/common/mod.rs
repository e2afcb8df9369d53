//! Test helpers: tiny real models, state, and a server on an ephemeral port.
#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use polarity_core::{Classifier, labels::LabelScheme, train};
use polarity_server::{AppState, FileSource, Limits, ModelSource};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A small real model; `extra` adds rows so two models differ.
pub fn model(extra: usize) -> Classifier {
    let mut texts: Vec<String> = [
        "a great film",
        "dull and bad",
        "great fun",
        "bad plot",
        "witty and great",
        "awful dull mess",
        "a gorgeous , witty , seductive movie",
        "one long string of cliches",
    ]
    .map(String::from)
    .to_vec();
    let mut classes = vec![1, 0, 1, 0, 1, 0, 1, 0];
    for i in 0..extra {
        texts.push(format!("superb moving story number{i}"));
        classes.push(1);
    }
    let labels = polarity_core::labels::Labels::from_names(["negative", "positive"]);
    let rows = train::Labelled { texts, classes };
    train::train(
        &train::ValidTrainConfig::default(),
        &rows,
        &train::Labelled::default(),
        labels,
        LabelScheme::Names,
    )
    .unwrap()
    .0
}

/// Artifact bytes of [`model`].
pub fn artifact(extra: usize) -> Vec<u8> {
    polarity_core::artifact::encode(&model(extra))
}

/// An artifact trained on the same texts with every label flipped (disagrees with [`artifact`]).
pub fn flipped_artifact() -> Vec<u8> {
    let texts: Vec<String> = [
        "a great film",
        "dull and bad",
        "great fun",
        "bad plot",
        "witty and great",
        "awful dull mess",
        "a gorgeous , witty , seductive movie",
        "one long string of cliches",
    ]
    .map(String::from)
    .to_vec();
    let rows = train::Labelled {
        texts,
        classes: vec![0, 1, 0, 1, 0, 1, 0, 1],
    };
    let (c, _) = train::train(
        &train::ValidTrainConfig::default(),
        &rows,
        &train::Labelled::default(),
        polarity_core::labels::Labels::from_names(["negative", "positive"]),
        LabelScheme::Names,
    )
    .unwrap();
    polarity_core::artifact::encode(&c)
}

/// Replaces a file atomically (write beside it, then rename), as a deploy would.
pub fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// State loaded from a model file.
pub async fn state(path: &Path, limits: Limits) -> AppState {
    polarity_server::load_state(&FileSource::new(path, None), limits)
        .await
        .unwrap()
}

/// A server running on 127.0.0.1:0.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    pub handle: JoinHandle<std::io::Result<()>>,
    poller: Option<JoinHandle<()>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `POST /predict {"text": text}`.
    pub async fn predict(&self, c: &reqwest::Client, text: &str) -> reqwest::Response {
        c.post(self.url("/predict"))
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            .unwrap()
    }

    /// The body of `GET /metrics`.
    pub async fn metrics(&self, c: &reqwest::Client) -> String {
        c.get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Triggers graceful shutdown (what SIGTERM does).
    pub fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
        if let Some(p) = &self.poller {
            p.abort();
        }
    }
}

/// Starts the real server (the production accept loop, [`polarity_server::conn::serve`]) with an optional
/// hot-reload poller.
pub async fn start(state: AppState, reload: Option<(Arc<dyn ModelSource>, Duration)>) -> Running {
    start_with(state, reload, Duration::from_secs(5)).await
}

/// [`start`] with a given header-read deadline.
pub async fn start_with(
    state: AppState,
    reload: Option<(Arc<dyn ModelSource>, Duration)>,
    header_timeout: Duration,
) -> Running {
    start_timed(state, reload, header_timeout, Duration::from_secs(75)).await
}

/// [`start`] with given header-read and idle keep-alive deadlines.
pub async fn start_timed(
    state: AppState,
    reload: Option<(Arc<dyn ModelSource>, Duration)>,
    header_timeout: Duration,
    idle_timeout: Duration,
) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let app = polarity_server::app(state.clone());
    let handle = tokio::spawn(polarity_server::conn::serve(
        listener,
        app,
        polarity_server::conn::ConnSettings {
            header_timeout,
            idle_timeout,
            drain: Duration::from_secs(10),
            max_connections: state.limits().max_connections,
            max_body_bytes: state.limits().max_body_bytes,
        },
        async {
            let _ = rx.await;
        },
    ));
    let poller = reload
        .map(|(src, every)| tokio::spawn(polarity_server::reload::poll(state.clone(), src, every)));
    Running {
        addr,
        state,
        stop: Some(tx),
        handle,
        poller,
    }
}

/// Sum of the samples of `name` (optionally only lines containing `filter`) in Prometheus text.
pub fn metric_sum(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
