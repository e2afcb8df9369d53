//! Every Prometheus metric the server exports, its buckets, and the one middleware that counts requests.
//! Names are a contract with the dashboards and alert rules: do not rename.
//!
//! `polarity_class_drift` is the total-variation distance `½ Σ_k |m_k − p_k|` between the recent class mix
//! `m` of predictions and the training prior `p` carried in the artifact. `m` is an exponentially decayed
//! count (half-life `DRIFT_HALF_LIFE`) of the predictions made since the model was installed, updated when
//! `/metrics` is scraped from the per-label prediction
//! counters, so the request path pays nothing for it. It is 0 until the current model has predicted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Request latency buckets, seconds.
pub(crate) const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Texts per `/predict` request.
pub(crate) const BATCH_BUCKETS: &[f64] =
    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
/// Probability of the predicted class.
pub(crate) const CONFIDENCE_BUCKETS: &[f64] =
    &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99];
/// Input length in characters.
pub(crate) const CHARS_BUCKETS: &[f64] = &[
    10.0, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0, 12800.0,
];
/// Fraction of tokens outside the vocabulary.
pub(crate) const OOV_BUCKETS: &[f64] = &[0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0];
/// Half-life of the decayed class mix behind `polarity_class_drift`.
pub(crate) const DRIFT_HALF_LIFE: Duration = Duration::from_secs(600);

/// The server's metrics, in their own registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `polarity_http_requests_total{route,method,status}`.
    pub http_requests: IntCounterVec,
    /// `polarity_http_request_duration_seconds{route}`.
    pub http_duration: HistogramVec,
    /// `polarity_http_requests_in_flight`.
    pub in_flight: IntGauge,
    /// `polarity_batch_size`.
    pub batch_size: Histogram,
    /// `polarity_predictions_total{label}`.
    pub predictions: IntCounterVec,
    /// `polarity_prediction_confidence`.
    pub confidence: Histogram,
    /// `polarity_input_chars`.
    pub input_chars: Histogram,
    /// `polarity_oov_ratio`.
    pub oov_ratio: Histogram,
    /// `polarity_training_class_prior{label}`.
    pub class_prior: GaugeVec,
    /// `polarity_class_drift`.
    pub class_drift: Gauge,
    /// `polarity_model_info{version,sha256}`.
    pub model_info: IntGaugeVec,
    /// `polarity_model_reloads_total{result}`.
    pub reloads: IntCounterVec,
    /// `polarity_model_ready`.
    pub model_ready: IntGauge,
    /// `polarity_build_info{version}`.
    pub build_info: IntGaugeVec,
    /// `polarity_shadow_comparisons_total`.
    pub shadow_comparisons: IntCounter,
    /// `polarity_shadow_disagreements_total`.
    pub shadow_disagreements: IntCounter,
    /// `polarity_shadow_disagreement_ratio`: disagreements / comparisons since the current model replaced
    /// the previous one.
    pub shadow_ratio: Gauge,
    /// `polarity_shadow_comparisons_since_swap`.
    pub shadow_since_swap: IntGauge,
    shadow_counts: Mutex<(u64, u64)>,
    /// The serving model's label counters and prior (set by [`Metrics::model_installed`]).
    serving: ArcSwap<Serving>,
    drift: Mutex<Drift>,
}

/// What the metrics know of the serving model.
#[derive(Debug, Default)]
struct Serving {
    version: String,
    /// `polarity_predictions_total{label}` per label, in label order (resolved once per model).
    counters: Vec<IntCounter>,
    prior: Vec<f64>,
}

#[derive(Debug, Default)]
struct Drift {
    version: String,
    last: Vec<u64>,
    decayed: Vec<f64>,
    at: Option<Instant>,
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> Result<Histogram, prometheus::Error> {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
}

impl Metrics {
    /// Creates and registers every metric.
    ///
    /// # Errors
    /// A [`prometheus::Error`] only if two metrics share a name (a bug).
    pub fn new() -> Result<Self, prometheus::Error> {
        let m = Self {
            registry: Registry::new(),
            http_requests: IntCounterVec::new(
                Opts::new(
                    "polarity_http_requests_total",
                    "HTTP requests by matched route, method and status.",
                ),
                &["route", "method", "status"],
            )?,
            http_duration: HistogramVec::new(
                HistogramOpts::new(
                    "polarity_http_request_duration_seconds",
                    "HTTP request latency by matched route.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["route"],
            )?,
            in_flight: IntGauge::new(
                "polarity_http_requests_in_flight",
                "HTTP requests being served.",
            )?,
            batch_size: histogram(
                "polarity_batch_size",
                "Texts per /predict request.",
                BATCH_BUCKETS,
            )?,
            predictions: IntCounterVec::new(
                Opts::new("polarity_predictions_total", "Predictions by label."),
                &["label"],
            )?,
            confidence: histogram(
                "polarity_prediction_confidence",
                "Probability of the predicted class.",
                CONFIDENCE_BUCKETS,
            )?,
            input_chars: histogram(
                "polarity_input_chars",
                "Length of each predicted text in characters.",
                CHARS_BUCKETS,
            )?,
            oov_ratio: histogram(
                "polarity_oov_ratio",
                "Fraction of a text's tokens outside the model vocabulary (texts with tokens only).",
                OOV_BUCKETS,
            )?,
            class_prior: GaugeVec::new(
                Opts::new(
                    "polarity_training_class_prior",
                    "Class mix of the serving model's training data.",
                ),
                &["label"],
            )?,
            class_drift: Gauge::new(
                "polarity_class_drift",
                "Total-variation distance between the decayed recent prediction mix and the training prior.",
            )?,
            model_info: IntGaugeVec::new(
                Opts::new("polarity_model_info", "The serving model (value 1)."),
                &["version", "sha256"],
            )?,
            reloads: IntCounterVec::new(
                Opts::new(
                    "polarity_model_reloads_total",
                    "Model reload attempts by result.",
                ),
                &["result"],
            )?,
            model_ready: IntGauge::new(
                "polarity_model_ready",
                "1 when a model is loaded and serving.",
            )?,
            build_info: IntGaugeVec::new(
                Opts::new("polarity_build_info", "Server build (value 1)."),
                &["version"],
            )?,
            shadow_comparisons: IntCounter::new(
                "polarity_shadow_comparisons_total",
                "Texts also scored by the previous production model (kept warm after a swap).",
            )?,
            shadow_disagreements: IntCounter::new(
                "polarity_shadow_disagreements_total",
                "Of those, texts where the previous model predicted another label.",
            )?,
            shadow_ratio: Gauge::new(
                "polarity_shadow_disagreement_ratio",
                "Share of shadow-scored texts where the serving and the previous model disagree, since the last swap.",
            )?,
            shadow_since_swap: IntGauge::new(
                "polarity_shadow_comparisons_since_swap",
                "Shadow-scored texts since the last swap (how much the ratio rests on).",
            )?,
            shadow_counts: Mutex::new((0, 0)),
            serving: ArcSwap::from_pointee(Serving::default()),
            drift: Mutex::new(Drift::default()),
        };
        let r = &m.registry;
        r.register(Box::new(m.http_requests.clone()))?;
        r.register(Box::new(m.http_duration.clone()))?;
        r.register(Box::new(m.in_flight.clone()))?;
        r.register(Box::new(m.batch_size.clone()))?;
        r.register(Box::new(m.predictions.clone()))?;
        r.register(Box::new(m.confidence.clone()))?;
        r.register(Box::new(m.input_chars.clone()))?;
        r.register(Box::new(m.oov_ratio.clone()))?;
        r.register(Box::new(m.class_prior.clone()))?;
        r.register(Box::new(m.class_drift.clone()))?;
        r.register(Box::new(m.model_info.clone()))?;
        r.register(Box::new(m.reloads.clone()))?;
        r.register(Box::new(m.model_ready.clone()))?;
        r.register(Box::new(m.build_info.clone()))?;
        r.register(Box::new(m.shadow_comparisons.clone()))?;
        r.register(Box::new(m.shadow_disagreements.clone()))?;
        r.register(Box::new(m.shadow_ratio.clone()))?;
        r.register(Box::new(m.shadow_since_swap.clone()))?;
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        m.reloads.with_label_values(&["success"]);
        m.reloads.with_label_values(&["failure"]);
        Ok(m)
    }

    /// Points the model gauges and the per-label counters at a newly installed model.
    pub fn model_installed(&self, version: &str, sha256: &str, labels: &[String], prior: &[f64]) {
        self.model_info.reset();
        self.model_info.with_label_values(&[version, sha256]).set(1);
        self.class_prior.reset();
        for (label, p) in labels.iter().zip(prior) {
            self.class_prior
                .with_label_values(&[label.as_str()])
                .set(*p);
        }
        self.model_ready.set(1);
        let counters: Vec<IntCounter> = labels
            .iter()
            .map(|l| self.predictions.with_label_values(&[l.as_str()]))
            .collect();
        if let Ok(mut d) = self.drift.lock() {
            *d = Drift {
                version: version.to_string(),
                decayed: vec![0.0; counters.len()],
                last: counters.iter().map(IntCounter::get).collect(),
                at: Some(Instant::now()),
            };
        }
        self.serving.store(Arc::new(Serving {
            version: version.to_string(),
            counters,
            prior: prior.to_vec(),
        }));
        self.class_drift.set(0.0);
        if let Ok(mut c) = self.shadow_counts.lock() {
            *c = (0, 0);
        }
        self.shadow_ratio.set(0.0);
        self.shadow_since_swap.set(0);
    }

    /// Counts one shadow comparison (the previous model also scored a text).
    pub fn shadow(&self, disagree: bool) {
        self.shadow_comparisons.inc();
        if disagree {
            self.shadow_disagreements.inc();
        }
        if let Ok(mut c) = self.shadow_counts.lock() {
            c.0 += 1;
            c.1 += u64::from(disagree);
            self.shadow_since_swap.set(c.0 as i64);
            self.shadow_ratio.set(c.1 as f64 / c.0 as f64);
        }
    }

    /// Counts one prediction of class `best` (`label`) by the model `version`.
    pub fn prediction(&self, version: &str, best: usize, label: &str) {
        let s = self.serving.load();
        match s.counters.get(best) {
            Some(c) if s.version == version => c.inc(),
            // a request that started on the previous model
            _ => self.predictions.with_label_values(&[label]).inc(),
        }
    }

    /// Counts a reload attempt.
    pub fn reload(&self, success: bool) {
        self.reloads
            .with_label_values(&[if success { "success" } else { "failure" }])
            .inc();
    }

    /// Updates `polarity_class_drift` from the serving model's prediction counters (see the module docs).
    pub fn update_drift(&self, now: Instant) {
        let serving = self.serving.load();
        let counts: Vec<u64> = serving.counters.iter().map(IntCounter::get).collect();
        let Ok(mut d) = self.drift.lock() else { return };
        if d.version != serving.version || d.last.len() != counts.len() {
            *d = Drift {
                version: serving.version.clone(),
                decayed: vec![0.0; counts.len()],
                last: counts,
                at: Some(now),
            };
            self.class_drift.set(0.0);
            return;
        }
        let dt =
            d.at.map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
        let keep = 0.5f64.powf(dt / DRIFT_HALF_LIFE.as_secs_f64());
        let Drift { last, decayed, .. } = &mut *d;
        for ((dk, lk), ck) in decayed.iter_mut().zip(last.iter_mut()).zip(&counts) {
            *dk = *dk * keep + ck.saturating_sub(*lk) as f64;
            *lk = *ck;
        }
        d.at = Some(now);
        self.class_drift
            .set(total_variation(&d.decayed, &serving.prior));
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encoding registered metrics into memory cannot fail");
        String::from_utf8(buf).expect("the text exposition format is UTF-8")
    }
}

/// Total-variation distance between the distribution proportional to `counts` and `prior`:
/// `½ Σ_k |counts_k / Σcounts − prior_k|`; 0 when there are no counts or the lengths differ.
pub(crate) fn total_variation(counts: &[f64], prior: &[f64]) -> f64 {
    let total: f64 = counts.iter().sum();
    if total <= 0.0 || counts.len() != prior.len() {
        return 0.0;
    }
    0.5 * counts
        .iter()
        .zip(prior)
        .map(|(c, p)| (c / total - p).abs())
        .sum::<f64>()
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware on the whole router: counts every request by matched route template (unknown routes:
/// `unmatched`), method and status, times it, and tracks requests in flight. Its state is anything that
/// holds the [`Metrics`].
pub(crate) async fn track<S: AsRef<Metrics>>(
    State(st): State<S>,
    req: Request,
    next: Next,
) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = method_label(req.method());
    let m = st.as_ref();
    let _in_flight = InFlight::enter(&m.in_flight);
    let t0 = Instant::now();
    let resp = next.run(req).await;
    m.http_duration
        .with_label_values(&[route])
        .observe(t0.elapsed().as_secs_f64());
    m.http_requests
        .with_label_values(&[route, method, resp.status().as_str()])
        .inc();
    resp
}

/// Middleware (with `--access-log`): one line per request at info level: method, matched route, status and
/// duration; never the body or the query string.
pub(crate) async fn access_log(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = method_label(req.method());
    let t0 = Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        method,
        route,
        status = resp.status().as_u16(),
        duration_ms = t0.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    resp
}

/// Holds `polarity_http_requests_in_flight` up while alive, also when the request future is dropped.
struct InFlight<'a>(&'a IntGauge);

impl<'a> InFlight<'a> {
    fn enter(g: &'a IntGauge) -> Self {
        g.inc();
        Self(g)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_variation_matches_hand_computed_values() {
        assert!((total_variation(&[3.0, 1.0], &[0.5, 0.5]) - 0.25).abs() < 1e-12);
        assert!((total_variation(&[10.0, 0.0], &[0.5, 0.5]) - 0.5).abs() < 1e-12);
        assert!((total_variation(&[1.0, 1.0, 2.0], &[0.25, 0.25, 0.5])).abs() < 1e-12);
        assert_eq!(total_variation(&[0.0, 0.0], &[0.5, 0.5]), 0.0);
    }

    #[test]
    fn registers_every_metric_once() -> Result<(), prometheus::Error> {
        let m = Metrics::new()?;
        let text = m.render();
        assert!(text.contains("polarity_build_info{version="));
        assert!(text.contains("polarity_model_reloads_total{result=\"failure\"} 0"));
        Ok(())
    }
}
