//! Typed server configuration: every flag has a long name, a `POLARITY_…` environment variable and a doc
//! comment. Read once at start; `polarity serve` and the standalone `polarity-server` share [`ServeArgs`].

use std::path::PathBuf;
use std::time::Duration;

use polarity_pipeline::backend::BackendArgs;

/// Settings of `polarity serve` / `polarity-server`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Model artifact (.plm) to serve. Re-read every poll interval and hot-swapped when its content changes.
    /// Takes precedence over the registry flags.
    #[arg(long, env = "POLARITY_MODEL", value_name = "FILE")]
    pub model: Option<PathBuf>,

    /// Optional JSON sidecar `{"version": "…", "sha256": "…"}` beside the model: names the version and pins
    /// the SHA-256 the artifact must have.
    #[arg(
        long,
        env = "POLARITY_MODEL_SIDECAR",
        value_name = "FILE",
        requires = "model"
    )]
    pub model_sidecar: Option<PathBuf>,

    /// Without --model: the registry whose production model is served (--store with --registry, else
    /// --home, else .polarity). Before a model is promoted the server answers /ready and /predict with 503
    /// `no_model` and serves the first one within a poll interval.
    #[command(flatten)]
    pub backend: BackendArgs,

    /// Address to listen on (use 0.0.0.0:8080 behind a load balancer).
    #[arg(
        long,
        env = "POLARITY_ADDR",
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:8080"
    )]
    pub addr: String,

    /// Seconds between checks of the model source for a new version; 0 disables hot reload.
    #[arg(long, env = "POLARITY_POLL_INTERVAL", value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub poll_interval: Duration,

    /// Seconds to let in-flight requests finish after SIGTERM or ctrl-c before exiting anyway.
    #[arg(long, env = "POLARITY_SHUTDOWN_TIMEOUT", value_name = "SECONDS", default_value = "20", value_parser = parse_seconds)]
    pub shutdown_timeout: Duration,

    /// Seconds a client has to send a request's headers (from its first byte) before it is disconnected.
    #[arg(long, env = "POLARITY_HEADER_TIMEOUT", value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    pub header_timeout: Duration,

    /// Seconds an idle keep-alive connection may wait for its next request. Keep it longer than the load
    /// balancer's idle timeout (ALB: 60 s by default), so the balancer closes idle connections first.
    #[arg(long, env = "POLARITY_IDLE_TIMEOUT", value_name = "SECONDS", default_value = "75", value_parser = parse_seconds)]
    pub idle_timeout: Duration,

    /// Write logs as JSON lines (for CloudWatch and friends) instead of human-readable text.
    #[arg(long, env = "POLARITY_JSON_LOGS")]
    pub json_logs: bool,

    /// Log one line per request (method, route, status, duration; never the body) at info level.
    #[arg(long, env = "POLARITY_ACCESS_LOG")]
    pub access_log: bool,

    /// Require `Authorization: Bearer <KEY>` on /predict and /v2/* (401 `unauthorized` otherwise). In AWS
    /// the instance reads it from SSM Parameter Store at boot; it never appears in user-data or logs.
    /// At least 16 characters, no whitespace (a key read from a file with its newline would lock every
    /// client out): checked at start.
    #[arg(
        long,
        env = "POLARITY_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,

    /// The model's name in the KServe V2 routes (`/v2/models/{name}`).
    #[arg(
        long,
        env = "POLARITY_MODEL_NAME",
        value_name = "NAME",
        default_value = "polarity"
    )]
    pub model_name: String,

    /// After a new model replaces the old one, the share of texts the old one also scores (kept warm) to
    /// measure how often they disagree (`polarity_shadow_disagreement_ratio`); 0 turns this off.
    #[arg(
        long,
        env = "POLARITY_SHADOW_SAMPLE",
        value_name = "FRACTION",
        default_value_t = 0.1
    )]
    pub shadow_sample: f64,

    /// Request limits.
    #[command(flatten)]
    pub limits: Limits,
}

/// Limits that protect the server from oversized or excessive requests.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Largest request body in bytes; a larger body gets 413 `body_too_large`.
    #[arg(long, env = "POLARITY_MAX_BODY_BYTES", value_name = "BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,

    /// Most texts in one `{"texts": [...]}` request; more get 422 `too_many_texts`.
    #[arg(
        long,
        env = "POLARITY_MAX_BATCH",
        value_name = "N",
        default_value_t = 64
    )]
    pub max_batch: usize,

    /// Longest text in characters (Unicode scalar values); longer gets 422 `text_too_long`.
    #[arg(
        long,
        env = "POLARITY_MAX_TEXT_CHARS",
        value_name = "N",
        default_value_t = 10_000
    )]
    pub max_text_chars: usize,

    /// `/predict` requests handled at once; beyond it requests get 429 `overloaded` at once.
    #[arg(
        long,
        env = "POLARITY_MAX_CONCURRENT_REQUESTS",
        value_name = "N",
        default_value_t = 512
    )]
    pub max_concurrent_requests: usize,

    /// Bytes of request bodies held at once, over all connections: a body reserves its declared length
    /// (`--max-body-bytes` when chunked) before it is read, and a request that does not fit gets 503 `busy`
    /// at once. At least `--max-body-bytes`.
    #[arg(long, env = "POLARITY_MAX_BUFFERED_BYTES", value_name = "BYTES", default_value_t = 64 << 20)]
    pub max_buffered_bytes: usize,

    /// Open connections at once; one more is answered 503 `busy` and closed.
    #[arg(
        long,
        env = "POLARITY_MAX_CONNECTIONS",
        value_name = "N",
        default_value_t = 4096
    )]
    pub max_connections: usize,

    /// Seconds a `/predict` body may take to arrive (else 408 `body_timeout`, before any concurrency
    /// permit is taken) and, separately, the prediction may take (else 503 `timeout`).
    #[arg(long, env = "POLARITY_REQUEST_TIMEOUT", value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_batch: 64,
            max_text_chars: 10_000,
            max_concurrent_requests: 512,
            max_buffered_bytes: 64 << 20,
            max_connections: 4096,
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// Checks that every limit lets at least something through.
    ///
    /// # Errors
    /// A message naming the flag when a limit is zero.
    pub fn validate(&self) -> Result<(), String> {
        let zero = [
            (self.max_body_bytes, "--max-body-bytes"),
            (self.max_batch, "--max-batch"),
            (self.max_text_chars, "--max-text-chars"),
            (self.max_concurrent_requests, "--max-concurrent-requests"),
            (self.max_connections, "--max-connections"),
        ];
        if let Some((_, flag)) = zero.iter().find(|(v, _)| *v == 0) {
            return Err(format!("{flag} must be at least 1"));
        }
        if u32::try_from(self.max_body_bytes).is_err() {
            return Err(format!("--max-body-bytes must be at most {}", u32::MAX));
        }
        if self.max_buffered_bytes < self.max_body_bytes {
            return Err(format!(
                "--max-buffered-bytes ({}) must be at least --max-body-bytes ({})",
                self.max_buffered_bytes, self.max_body_bytes
            ));
        }
        if self.request_timeout.is_zero() {
            return Err("--request-timeout must be positive".into());
        }
        Ok(())
    }
}

/// The shortest API key accepted.
pub(crate) const MIN_API_KEY_CHARS: usize = 16;

/// Checks an API key at start (the message never repeats it; a clap value parser would): at least [`MIN_API_KEY_CHARS`] characters, no
/// whitespace or control characters anywhere (a bearer token cannot carry them, so a key with a trailing
/// newline would lock every client out).
///
/// # Errors
/// A message saying what is wrong.
pub(crate) fn parse_api_key(s: &str) -> Result<String, String> {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the API key contains whitespace or control characters (a trailing newline from a file?); no client could send it".into());
    }
    if s.chars().count() < MIN_API_KEY_CHARS {
        return Err(format!(
            "the API key is shorter than {MIN_API_KEY_CHARS} characters"
        ));
    }
    Ok(s.to_string())
}

/// Parses a non-negative, finite number of seconds such as `10` or `0.25`.
///
/// # Errors
/// A message when the value is not such a number.
pub(crate) fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(v)
        .map_err(|_| format!("`{s}` must be a finite, non-negative number of seconds"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServeArgs,
    }

    #[test]
    fn defaults_and_flags_parse() {
        let a = Cli::try_parse_from(["x"]).unwrap().args;
        assert_eq!(a.addr, "127.0.0.1:8080");
        assert_eq!(a.poll_interval, Duration::from_secs(10));
        assert_eq!(a.limits.max_batch, Limits::default().max_batch);
        let a = Cli::try_parse_from([
            "x",
            "--model",
            "m.plm",
            "--poll-interval",
            "0.5",
            "--max-batch",
            "8",
        ])
        .unwrap()
        .args;
        assert_eq!(a.poll_interval, Duration::from_millis(500));
        assert_eq!(a.limits.max_batch, 8);
        assert!(Cli::try_parse_from(["x", "--poll-interval", "-1"]).is_err());
        // API keys: whitespace anywhere or a short key are refused, and the message never shows the key
        for bad in [
            "abcdefghijklmnop ",
            " abcdefghijklmnop",
            "abcdefgh\nijklmnop",
            "short-key",
        ] {
            let e = parse_api_key(bad).unwrap_err();
            assert!(e.contains("API key") && !e.contains(bad.trim()), "{e}");
        }
        assert_eq!(
            parse_api_key("abcdefghijklmnop").unwrap(),
            "abcdefghijklmnop"
        );
        assert!(
            Limits {
                max_batch: 0,
                ..Limits::default()
            }
            .validate()
            .is_err()
        );
        assert!(Limits::default().validate().is_ok());
    }
}
