//! A small client for MLflow's tracking REST API (`/api/2.0/mlflow/…`), enough to log one run per model
//! version: find or create the experiment, find a run by tag, create a run, log a batch of params, metrics
//! and tags, upload files to the run's artifacts (through the server's artifact proxy), mark it finished;
//! and the Model Registry: create a registered model, find or create a model version of a run, set an
//! alias. What the stages log lives in [`crate::tracker`]; this module knows nothing about models.
//!
//! Every request has a short timeout ([`MlflowConfig::timeout`]); callers treat every [`MlflowError`] as a
//! warning, never as a reason to fail a stage.

use std::time::Duration;

use serde_json::{Value, json};

use crate::records::clock::now_ms;

/// Where and how to reach the tracking server (read once by [`crate::config::SettingsArgs::to_config`]).
#[derive(Clone, PartialEq)]
pub struct MlflowConfig {
    /// Base URL of the tracking server, `http(s)://host:port[/prefix]`, without a trailing slash.
    pub tracking_uri: String,
    /// Experiment the runs go to (created when missing).
    pub experiment: String,
    /// Registered model the versions are registered under (created when missing).
    pub registered_model: String,
    /// Limit for each request.
    pub timeout: Duration,
    /// Bearer token (`MLFLOW_TRACKING_TOKEN`).
    pub token: Option<String>,
    /// Basic-auth user and password (`MLFLOW_TRACKING_USERNAME`, `MLFLOW_TRACKING_PASSWORD`).
    pub basic: Option<(String, String)>,
}

impl MlflowConfig {
    /// A configuration for `tracking_uri` with the default experiment (`polarity`) and timeout (5 s).
    pub fn new(tracking_uri: &str) -> Self {
        Self {
            tracking_uri: tracking_uri.trim().trim_end_matches('/').to_string(),
            experiment: "polarity".into(),
            registered_model: "polarity".into(),
            timeout: Duration::from_secs(5),
            token: None,
            basic: None,
        }
    }
}

/// A URL fit for logs: any `user:password@` part is replaced by `***@`, a query string (it may carry a
/// token) by `?***`.
pub fn redacted(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, _)) => format!("{path}?***"),
        None => tail.to_string(),
    };
    match scheme {
        Some(s) => format!("{s}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

impl std::fmt::Debug for MlflowConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlflowConfig")
            .field("tracking_uri", &redacted(&self.tracking_uri))
            .field("experiment", &self.experiment)
            .field("registered_model", &self.registered_model)
            .field("timeout", &self.timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field(
                "basic",
                &self.basic.as_ref().map(|(u, _)| (u, "<redacted>")),
            )
            .finish()
    }
}

/// Why a tracking call failed.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    /// The request did not complete (connection refused, timeout, TLS, …).
    #[error("MLflow {endpoint}: {source}")]
    Http {
        /// API endpoint, e.g. `runs/create`.
        endpoint: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("MLflow {endpoint}: HTTP {status} {code}: {message}")]
    Api {
        /// API endpoint.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// MLflow's `error_code` (e.g. `RESOURCE_DOES_NOT_EXIST`), empty when absent.
        code: String,
        /// MLflow's message or the start of the body.
        message: String,
    },
    /// The server answered 2xx with something else than the expected JSON.
    #[error("MLflow {endpoint}: unexpected response: {problem}")]
    Response {
        /// API endpoint.
        endpoint: String,
        /// What was missing or malformed.
        problem: String,
    },
}

impl MlflowError {
    /// MLflow's error code, when the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } if !code.is_empty() => Some(code),
            _ => None,
        }
    }
}

/// A run found by [`Client::find_run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// Run id.
    pub run_id: String,
    /// `RUNNING`, `FINISHED`, `FAILED`, …
    pub status: String,
}

/// Params, metrics and tags for one `runs/log-batch` call. Values are cut to MLflow's length limits and
/// non-finite metrics are dropped (JSON cannot carry them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Params (immutable in MLflow: logging the same key again needs the same value).
    pub params: Vec<(String, String)>,
    /// Metrics, logged at step 0 with the batch's timestamp.
    pub metrics: Vec<(String, f64)>,
    /// Tags (overwritten when logged again).
    pub tags: Vec<(String, String)>,
}

/// Longest param or tag value sent (MLflow 2.x+ accepts 6000 / 8000 characters).
const MAX_VALUE_CHARS: usize = 5000;

fn cut(s: &str) -> String {
    s.chars().take(MAX_VALUE_CHARS).collect()
}

fn pairs(kv: &[(String, String)]) -> Vec<Value> {
    kv.iter()
        .map(|(k, v)| json!({"key": k, "value": cut(v)}))
        .collect()
}

/// A tracking-server client (one `reqwest::Client`, cheap to clone).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    cfg: MlflowConfig,
}

impl Client {
    /// A client with the configured per-request timeout.
    ///
    /// # Errors
    /// [`MlflowError::Http`] when the HTTP client cannot be built (TLS setup).
    pub fn new(cfg: &MlflowConfig) -> Result<Self, MlflowError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .build()
            .map_err(|source| MlflowError::Http {
                endpoint: "client".into(),
                source,
            })?;
        Ok(Self {
            http,
            cfg: cfg.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MlflowConfig {
        &self.cfg
    }

    /// `/api/2.0/<path>` under the tracking URI: appended to its path, its query string kept where it
    /// belongs (`http://host/base?token=T` → `http://host/base/api/2.0/<path>?token=T`).
    fn api_url(&self, path: &str) -> String {
        match reqwest::Url::parse(&self.cfg.tracking_uri) {
            Ok(mut u) => {
                let joined = format!("{}/api/2.0/{path}", u.path().trim_end_matches('/'));
                u.set_path(&joined);
                u.to_string()
            }
            Err(_) => format!("{}/api/2.0/{path}", self.cfg.tracking_uri),
        }
    }

    /// Calls `endpoint` (relative to `/api/2.0/mlflow/`): a GET with `query` when `body` is `None`, else a
    /// POST of `body`. Returns the response JSON (`{}` for an empty body).
    ///
    /// # Errors
    /// [`MlflowError`] for transport failures, non-2xx answers and non-JSON bodies.
    pub async fn call(
        &self,
        endpoint: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, MlflowError> {
        let url = self.api_url(&format!("mlflow/{endpoint}"));
        let req = self.authed(match body {
            None => self.http.get(url).query(query),
            Some(b) => self.http.post(url).json(b),
        });
        // the URL may carry credentials (`http://user:password@host`): errors never show it
        let http = |source: reqwest::Error| MlflowError::Http {
            endpoint: endpoint.into(),
            source: source.without_url(),
        };
        let resp = req.send().await.map_err(http)?;
        let status = resp.status();
        let text = resp.text().await.map_err(http)?;
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        if !status.is_success() {
            let field = |k: &str| {
                parsed
                    .as_ref()
                    .and_then(|v| v.get(k))
                    .and_then(Value::as_str)
                    .map(String::from)
            };
            return Err(MlflowError::Api {
                endpoint: endpoint.into(),
                status: status.as_u16(),
                code: field("error_code").unwrap_or_default(),
                message: field("message").unwrap_or_else(|| text.chars().take(200).collect()),
            });
        }
        match parsed {
            Some(v) => Ok(v),
            None if text.trim().is_empty() => Ok(json!({})),
            None => Err(MlflowError::Response {
                endpoint: endpoint.into(),
                problem: format!("not JSON: {}", text.chars().take(200).collect::<String>()),
            }),
        }
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if let Some(t) = &self.cfg.token {
            req.bearer_auth(t)
        } else if let Some((u, p)) = &self.cfg.basic {
            req.basic_auth(u, Some(p))
        } else {
            req
        }
    }

    fn string_at(v: &Value, endpoint: &str, path: &str) -> Result<String, MlflowError> {
        v.pointer(path)
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| MlflowError::Response {
                endpoint: endpoint.into(),
                problem: format!("no string at {path}"),
            })
    }

    /// The id of the configured experiment, created when missing (a concurrent creation is tolerated).
    ///
    /// # Errors
    /// [`MlflowError`] from the calls.
    pub async fn experiment_id(&self) -> Result<String, MlflowError> {
        let name = self.cfg.experiment.as_str();
        let query = [("experiment_name", name)];
        let get = || self.call("experiments/get-by-name", &query, None);
        match get().await {
            Ok(v) => {
                return Self::string_at(&v, "experiments/get-by-name", "/experiment/experiment_id");
            }
            Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => {}
            Err(e) => return Err(e),
        }
        match self
            .call("experiments/create", &[], Some(&json!({"name": name})))
            .await
        {
            Ok(v) => Self::string_at(&v, "experiments/create", "/experiment_id"),
            Err(e) if e.code() == Some("RESOURCE_ALREADY_EXISTS") => {
                let v = get().await?;
                Self::string_at(&v, "experiments/get-by-name", "/experiment/experiment_id")
            }
            Err(e) => Err(e),
        }
    }

    /// The oldest active run of `experiment_id` whose tag `key` equals `value`.
    ///
    /// # Errors
    /// [`MlflowError`] from the call.
    pub async fn find_run(
        &self,
        experiment_id: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<RunInfo>, MlflowError> {
        let filter = format!("tags.`{key}` = '{}'", value.replace('\'', "\\'"));
        let body = json!({
            "experiment_ids": [experiment_id],
            "filter": filter,
            "run_view_type": "ACTIVE_ONLY",
            "max_results": 1,
            "order_by": ["attributes.start_time ASC"],
        });
        let v = self.call("runs/search", &[], Some(&body)).await?;
        let Some(run) = v.pointer("/runs/0") else {
            return Ok(None);
        };
        Ok(Some(RunInfo {
            run_id: Self::string_at(run, "runs/search", "/info/run_id")?,
            status: Self::string_at(run, "runs/search", "/info/status")?,
        }))
    }

    /// Creates a run named `name` with `tags`; returns its id.
    ///
    /// # Errors
    /// [`MlflowError`] from the call.
    pub async fn create_run(
        &self,
        experiment_id: &str,
        name: &str,
        start_ms: u64,
        tags: &[(String, String)],
    ) -> Result<String, MlflowError> {
        let body = json!({
            "experiment_id": experiment_id,
            "run_name": name,
            "start_time": start_ms,
            "tags": pairs(tags),
        });
        let v = self.call("runs/create", &[], Some(&body)).await?;
        Self::string_at(&v, "runs/create", "/run/info/run_id")
    }

    /// Logs `batch` to `run_id` (one `runs/log-batch` call).
    ///
    /// # Errors
    /// [`MlflowError`] from the call.
    pub async fn log_batch(&self, run_id: &str, batch: &Batch) -> Result<(), MlflowError> {
        let ts = now_ms();
        let metrics: Vec<Value> = batch
            .metrics
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| json!({"key": k, "value": v, "timestamp": ts, "step": 0}))
            .collect();
        let body = json!({
            "run_id": run_id,
            "params": pairs(&batch.params),
            "metrics": metrics,
            "tags": pairs(&batch.tags),
        });
        self.call("runs/log-batch", &[], Some(&body)).await?;
        Ok(())
    }

    /// The run's artifact root (`runs/get` → `info.artifact_uri`).
    ///
    /// # Errors
    /// [`MlflowError`] from the call.
    pub async fn artifact_uri(&self, run_id: &str) -> Result<String, MlflowError> {
        let v = self.call("runs/get", &[("run_id", run_id)], None).await?;
        Self::string_at(&v, "runs/get", "/run/info/artifact_uri")
    }

    /// Uploads `body` as `<artifact_uri>/<path>` through the server's artifact proxy. Returns `false`
    /// (and sends nothing) when `artifact_uri` is not proxied by the server (`mlflow-artifacts:`): the
    /// server's artifact store is then one this client cannot write to.
    ///
    /// # Errors
    /// [`MlflowError`] when the upload fails.
    pub async fn upload_artifact(
        &self,
        artifact_uri: &str,
        path: &str,
        body: bytes::Bytes,
    ) -> Result<bool, MlflowError> {
        let Some(rest) = artifact_uri.strip_prefix("mlflow-artifacts:") else {
            return Ok(false);
        };
        // `mlflow-artifacts:/exp/run/artifacts` or `mlflow-artifacts://host:port/exp/run/artifacts`
        let root = match rest.strip_prefix("//") {
            Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
            None => rest,
        }
        .trim_matches('/');
        let endpoint = "mlflow-artifacts/artifacts";
        let url = self.api_url(&format!(
            "{endpoint}/{root}/{}",
            path.trim_start_matches('/')
        ));
        let resp = self
            .authed(self.http.put(url).body(body))
            .send()
            .await
            .map_err(|source| MlflowError::Http {
                endpoint: endpoint.into(),
                source: source.without_url(),
            })?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(MlflowError::Api {
                endpoint: endpoint.into(),
                status: status.as_u16(),
                code: String::new(),
                message: text.chars().take(200).collect(),
            });
        }
        Ok(true)
    }

    /// Creates the registered model `name` unless it exists.
    ///
    /// # Errors
    /// [`MlflowError`] from the call.
    pub async fn ensure_registered_model(&self, name: &str) -> Result<(), MlflowError> {
        let body = json!({"name": name, "description": "Polarity sentiment models; the `champion` alias is the production version."});
        match self
            .call("registered-models/create", &[], Some(&body))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("RESOURCE_ALREADY_EXISTS") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The version number of `name`'s model version made from run `run_id`, if there is one.
    ///
    /// # Errors
    /// [`MlflowError`] from the call.
    pub async fn find_model_version(
        &self,
        name: &str,
        run_id: &str,
    ) -> Result<Option<String>, MlflowError> {
        let filter = format!(
            "name = '{}' and run_id = '{}'",
            name.replace('\'', "\\'"),
            run_id.replace('\'', "\\'")
        );
        let v = self
            .call("model-versions/search", &[("filter", &filter)], None)
            .await?;
        match v.pointer("/model_versions/0") {
            Some(mv) => Ok(Some(Self::string_at(
                mv,
                "model-versions/search",
                "/version",
            )?)),
            None => Ok(None),
        }
    }

    /// Creates a model version of `name` from `source` made by run `run_id`; returns its number.
    ///
    /// # Errors
    /// [`MlflowError`] from the call.
    pub async fn create_model_version(
        &self,
        name: &str,
        source: &str,
        run_id: &str,
        tags: &[(String, String)],
        description: &str,
    ) -> Result<String, MlflowError> {
        let body = json!({
            "name": name,
            "source": source,
            "run_id": run_id,
            "tags": pairs(tags),
            "description": cut(description),
        });
        let v = self.call("model-versions/create", &[], Some(&body)).await?;
        Self::string_at(&v, "model-versions/create", "/model_version/version")
    }

    /// Points `name`'s alias `alias` at model version `version`.
    ///
    /// # Errors
    /// [`MlflowError`] from the call.
    pub async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> Result<(), MlflowError> {
        let body = json!({"name": name, "alias": alias, "version": version});
        self.call("registered-models/alias", &[], Some(&body))
            .await?;
        Ok(())
    }

    /// Sets the run's status (e.g. `FINISHED`) and end time.
    ///
    /// # Errors
    /// [`MlflowError`] from the call.
    pub async fn set_status(
        &self,
        run_id: &str,
        status: &str,
        end_ms: u64,
    ) -> Result<(), MlflowError> {
        let body = json!({"run_id": run_id, "status": status, "end_time": end_ms});
        self.call("runs/update", &[], Some(&body)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_and_values_are_cut() {
        let mut c = MlflowConfig::new(" http://h:5000/ ");
        assert_eq!(c.tracking_uri, "http://h:5000");
        c.token = Some("s3cret".into());
        c.basic = Some(("me".into(), "pw".into()));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret") && !dbg.contains("pw") && dbg.contains("me"));
        let with_password = MlflowConfig::new("https://alice:hunter2@mlflow.example:5000/prefix");
        let dbg = format!("{with_password:?}");
        assert!(
            !dbg.contains("hunter2") && dbg.contains("https://***@mlflow.example:5000/prefix"),
            "{dbg}"
        );
        assert_eq!(redacted("http://h:1/a@b"), "http://h:1/a@b");
        assert_eq!(redacted("u:p@h"), "***@h");
        assert_eq!(redacted("https://h/x?token=SECRET"), "https://h/x?***");
        assert_eq!(cut(&"é".repeat(9000)).chars().count(), MAX_VALUE_CHARS);
    }

    #[test]
    fn api_paths_go_before_the_query_string() {
        let c = |uri: &str| Client::new(&MlflowConfig::new(uri)).unwrap();
        assert_eq!(
            c("https://ml.example/?token=SECRET").api_url("mlflow/runs/create"),
            "https://ml.example/api/2.0/mlflow/runs/create?token=SECRET"
        );
        assert_eq!(
            c("http://h:5000/base/").api_url("mlflow/experiments/get-by-name"),
            "http://h:5000/base/api/2.0/mlflow/experiments/get-by-name"
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_an_http_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Client::new(&MlflowConfig::new(&format!(
            "http://bob:pw-secret@127.0.0.1:{port}"
        )))
        .unwrap();
        let e = c.experiment_id().await.unwrap_err();
        assert!(
            matches!(e, MlflowError::Http { .. }) && e.code().is_none(),
            "{e}"
        );
        let full = format!("{e} {:?}", std::error::Error::source(&e));
        assert!(!full.contains("pw-secret"), "{full}");
    }
}
