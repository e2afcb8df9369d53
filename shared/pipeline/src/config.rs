//! Pipeline settings, read once (at start or cold start) into a typed struct. Every variable is optional;
//! a bad value fails with a message that names the variable.
//!
//! | variable                      | default | meaning                                              |
//! |-------------------------------|---------|------------------------------------------------------|
//! | `POLARITY_TEST_FRACTION`      | 0.2     | share of rows held out (by hash of the cleaned text) |
//! | `POLARITY_TRAIN_MODE`         | all     | `all` processed datasets so far, or the `latest` one |
//! | `POLARITY_PROMOTE_MARGIN`     | 0.005   | macro-F1 the candidate must gain over production     |
//! | `POLARITY_PROMOTE_FLOOR`      | 0.6     | macro-F1 every promoted model must reach             |
//! | `POLARITY_MAX_RECALL_DROP`    | 0.05    | largest allowed drop of any class's recall           |
//! | `POLARITY_PROMOTE_ALPHA`      | 0.05    | significance level of the paired McNemar test        |
//! | `POLARITY_GIT_SHA`            | (none)  | recorded on every version                            |
//! | `MLFLOW_TRACKING_URI`         | (none)  | `http(s)://…` MLflow server: log runs (see [`crate::stages::track`]) |
//! | `MLFLOW_EXPERIMENT_NAME`      | polarity| experiment the runs go to                            |
//! | `MLFLOW_TRACKING_TOKEN`       | (none)  | bearer token for the tracking server                 |
//! | `MLFLOW_TRACKING_USERNAME`, `MLFLOW_TRACKING_PASSWORD` | (none) | basic auth instead       |
//! | `POLARITY_MLFLOW_TIMEOUT`     | 5       | seconds per tracking request (logging ≤ 3× that)     |
//!
//! Tracking is best effort: unset, nothing is sent; a URI that is not `http(s)://` (e.g. a local
//! `./mlruns` folder, which only the Python client understands) turns tracking off with a warning rather
//! than failing the pipeline.

use std::time::Duration;

use polarity_core::train::TrainConfig;
use serde::{Deserialize, Serialize};

use crate::error::PipelineError;
use crate::mlflow::MlflowConfig;
use crate::policy::PromotionPolicy;

/// Which processed datasets a training run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainMode {
    /// Every processed dataset so far.
    All,
    /// Only the dataset whose manifest triggered the run.
    Latest,
}

/// Everything the stages need besides the store and the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Share of rows held out, in `[0, 1)`.
    pub test_fraction: f64,
    /// Which datasets train uses.
    pub train_mode: TrainMode,
    /// Cleaning, vectoriser and regression settings.
    pub train: TrainConfig,
    /// When a candidate replaces production.
    pub policy: PromotionPolicy,
    /// Git commit recorded on versions.
    pub git_sha: Option<String>,
    /// MLflow tracking (`None`: nothing is logged, no network calls).
    pub mlflow: Option<MlflowConfig>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            test_fraction: 0.2,
            train_mode: TrainMode::All,
            train: TrainConfig::default(),
            policy: PromotionPolicy::default(),
            git_sha: None,
            mlflow: None,
        }
    }
}

impl PipelineConfig {
    /// Reads the variables in the module docs through `get` (e.g. `|k| std::env::var(k).ok()`).
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the variable with a bad value.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, PipelineError> {
        let mut c = Self::default();
        let num = |name: &str, dflt: f64| -> Result<f64, PipelineError> {
            match get(name) {
                None => Ok(dflt),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| PipelineError::Config(format!("{name}={v:?} is not a number"))),
            }
        };
        c.test_fraction = num("POLARITY_TEST_FRACTION", c.test_fraction)?;
        c.policy.margin = num("POLARITY_PROMOTE_MARGIN", c.policy.margin)?;
        c.policy.floor = num("POLARITY_PROMOTE_FLOOR", c.policy.floor)?;
        c.policy.max_recall_drop = num("POLARITY_MAX_RECALL_DROP", c.policy.max_recall_drop)?;
        c.policy.alpha = num("POLARITY_PROMOTE_ALPHA", c.policy.alpha)?;
        c.train_mode = match get("POLARITY_TRAIN_MODE").as_deref().map(str::trim) {
            None | Some("all") => TrainMode::All,
            Some("latest") => TrainMode::Latest,
            Some(v) => {
                return Err(PipelineError::Config(format!(
                    "POLARITY_TRAIN_MODE={v:?} must be `all` or `latest`"
                )));
            }
        };
        c.git_sha = get("POLARITY_GIT_SHA").filter(|s| !s.is_empty());
        c.mlflow = mlflow_from_vars(&get)?;
        c.validate()?;
        Ok(c)
    }

    /// Reads the process environment.
    ///
    /// # Errors
    /// As [`PipelineConfig::from_vars`].
    pub fn from_env() -> Result<Self, PipelineError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Checks ranges.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the setting.
    pub fn validate(&self) -> Result<(), PipelineError> {
        let bad = |what: &str| Err(PipelineError::Config(what.to_string()));
        if !(0.0..1.0).contains(&self.test_fraction) || self.test_fraction <= 0.0 {
            return bad("POLARITY_TEST_FRACTION must be in (0, 1)");
        }
        if !(0.0..=1.0).contains(&self.policy.floor)
            || !(0.0..=1.0).contains(&self.policy.max_recall_drop)
        {
            return bad("POLARITY_PROMOTE_FLOOR and POLARITY_MAX_RECALL_DROP must be in [0, 1]");
        }
        if !(self.policy.alpha > 0.0 && self.policy.alpha <= 1.0 && self.policy.margin.is_finite())
        {
            return bad(
                "POLARITY_PROMOTE_ALPHA must be in (0, 1] and POLARITY_PROMOTE_MARGIN finite",
            );
        }
        self.train
            .tfidf
            .validate()
            .map_err(|e| PipelineError::Config(e.to_string()))?;
        self.train
            .logistic
            .validate()
            .map_err(|e| PipelineError::Config(e.to_string()))
    }
}

/// The MLflow settings, or `None` when `MLFLOW_TRACKING_URI` is unset, empty or not `http(s)://`.
fn mlflow_from_vars(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<MlflowConfig>, PipelineError> {
    let var = |k: &str| {
        get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let Some(uri) = var("MLFLOW_TRACKING_URI") else {
        return Ok(None);
    };
    let lower = uri.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        tracing::warn!(
            tracking_uri = uri,
            "MLFLOW_TRACKING_URI is not an http(s):// server; MLflow tracking is off"
        );
        return Ok(None);
    }
    let mut m = MlflowConfig::new(&uri);
    if let Some(name) = var("MLFLOW_EXPERIMENT_NAME") {
        m.experiment = name;
    }
    if let Some(t) = var("POLARITY_MLFLOW_TIMEOUT") {
        m.timeout = t
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                PipelineError::Config(format!(
                    "POLARITY_MLFLOW_TIMEOUT={t:?} must be seconds in (0, 3600]"
                ))
            })?;
    }
    m.token = var("MLFLOW_TRACKING_TOKEN");
    m.basic = var("MLFLOW_TRACKING_USERNAME")
        .map(|u| (u, get("MLFLOW_TRACKING_PASSWORD").unwrap_or_default()));
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_names_bad_variables() {
        let c = PipelineConfig::from_vars(|k| {
            (k == "POLARITY_TRAIN_MODE").then(|| "latest".to_string())
        })
        .unwrap();
        assert_eq!(c.train_mode, TrainMode::Latest);
        let e = PipelineConfig::from_vars(|k| {
            (k == "POLARITY_PROMOTE_MARGIN").then(|| "lots".to_string())
        })
        .unwrap_err();
        assert!(e.to_string().contains("POLARITY_PROMOTE_MARGIN"), "{e}");
        assert!(
            PipelineConfig::from_vars(|k| (k == "POLARITY_TEST_FRACTION").then(|| "1.5".into()))
                .is_err()
        );
    }

    #[test]
    fn mlflow_is_off_unless_an_http_uri_is_set() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(PipelineConfig::from_vars(|_| None).unwrap().mlflow, None);
        for off in ["", "./mlruns", "databricks", "file:///tmp/mlruns"] {
            let c = PipelineConfig::from_vars(move |k| {
                (k == "MLFLOW_TRACKING_URI").then(|| off.to_string())
            });
            assert_eq!(c.unwrap().mlflow, None, "{off}");
        }
        let m = PipelineConfig::from_vars(vars(&[
            ("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000/"),
            ("MLFLOW_EXPERIMENT_NAME", "reviews"),
            ("POLARITY_MLFLOW_TIMEOUT", "1.5"),
        ]))
        .unwrap()
        .mlflow
        .unwrap();
        assert_eq!(
            (m.tracking_uri.as_str(), m.experiment.as_str(), m.timeout),
            (
                "http://127.0.0.1:5000",
                "reviews",
                Duration::from_millis(1500)
            )
        );
        let e = PipelineConfig::from_vars(vars(&[
            ("MLFLOW_TRACKING_URI", "https://mlflow.example"),
            ("POLARITY_MLFLOW_TIMEOUT", "0"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("POLARITY_MLFLOW_TIMEOUT"), "{e}");
    }
}
