//! Pipeline settings, defined once as [`SettingsArgs`]: flags of `polarity pipeline run` (and `polarity
//! train` for the training part, [`TrainingArgs`]), and the same settings as `POLARITY_*` environment
//! variables for the Lambda functions and Terraform. Every default is the core's `Default`; a flag or
//! variable overrides it. Read once into a typed [`PipelineConfig`]; a bad value fails at start with a
//! message that names the variable. `polarity pipeline run --help` lists them all.
//!
//! MLflow tracking is best effort: unset, nothing is sent; a URI that is not `http(s)://` (e.g. a local
//! `./mlruns` folder, which only the Python client understands) turns tracking off with a warning.

use std::time::Duration;

use clap::{Args, Parser};
use polarity_core::logistic::{ClassWeight, LogisticConfig};
use polarity_core::text::CleanConfig;
use polarity_core::tfidf::TfidfConfig;
use polarity_core::train::{TrainConfig, ValidTrainConfig};

use crate::dispatch::{DispatchArgs, DispatchConfig};
use crate::error::PipelineError;
use crate::mlflow::{MlflowConfig, redacted};
use crate::records::{GateSettings, PromotionPolicy};

polarity_core::named_enum! {
    /// Which processed datasets a training run uses.
    pub enum TrainMode {
        /// Every active dataset so far.
        All = "all",
        /// Only the newest active dataset.
        Latest = "latest",
    }
}

/// Training settings (vectoriser and regression); defaults are the core's.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Training")]
pub struct TrainingArgs {
    /// Keep at most this many n-grams, by corpus frequency.
    #[arg(long, env = "POLARITY_MAX_FEATURES", default_value_t = TfidfConfig::default().max_features.unwrap_or(20_000))]
    pub max_features: usize,
    /// N-gram range as MIN,MAX.
    #[arg(long, env = "POLARITY_NGRAM", default_value = "1,2", value_parser = parse_ngram)]
    pub ngram: (usize, usize),
    /// Ignore n-grams found in fewer documents than this.
    #[arg(long, env = "POLARITY_MIN_DF", default_value_t = TfidfConfig::default().min_df)]
    pub min_df: usize,
    /// Ignore n-grams found in more than this fraction of documents.
    #[arg(long, env = "POLARITY_MAX_DF", default_value_t = TfidfConfig::default().max_df)]
    pub max_df: f64,
    /// Shortest token in characters (2 reproduces scikit-learn's default token pattern).
    #[arg(long, env = "POLARITY_MIN_TOKEN_CHARS", default_value_t = TfidfConfig::default().min_token_chars)]
    pub min_token_chars: usize,
    /// Use 1 + ln(tf) instead of raw term counts (`--sublinear-tf false` for raw counts).
    #[arg(long, env = "POLARITY_SUBLINEAR_TF", default_value_t = TfidfConfig::default().sublinear_tf,
          action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub sublinear_tf: bool,
    /// Inverse regularisation strength of the logistic regression.
    #[arg(long = "c", env = "POLARITY_C", default_value_t = LogisticConfig::default().c)]
    pub c: f64,
    /// Row weights by class: none, or balanced (every class weighs the same).
    #[arg(long, env = "POLARITY_CLASS_WEIGHT", default_value_t = LogisticConfig::default().class_weight)]
    pub class_weight: ClassWeight,
    /// L-BFGS iteration limit.
    #[arg(long, env = "POLARITY_MAX_ITER", default_value_t = LogisticConfig::default().max_iter)]
    pub max_iter: usize,
    /// L-BFGS gradient tolerance (scikit-learn's `tol`).
    #[arg(long, env = "POLARITY_TOL", default_value_t = LogisticConfig::default().tol)]
    pub tol: f64,
    /// Cross-validate C (0.25…8), sublinear tf and class weights on the training rows (5 folds, drawn 3
    /// times below 5,000 rows); a setting replaces the given --c, --sublinear-tf and --class-weight only
    /// when it is reliably better.
    #[arg(long, env = "POLARITY_TUNE")]
    pub tune: bool,
}

impl Default for TrainingArgs {
    /// The core's defaults (no flags, no environment).
    fn default() -> Self {
        let t = TfidfConfig::default();
        let l = LogisticConfig::default();
        Self {
            max_features: t.max_features.unwrap_or(20_000),
            ngram: (t.ngram_min, t.ngram_max),
            min_df: t.min_df,
            max_df: t.max_df,
            min_token_chars: t.min_token_chars,
            sublinear_tf: t.sublinear_tf,
            c: l.c,
            class_weight: l.class_weight,
            max_iter: l.max_iter,
            tol: l.tol,
            tune: false,
        }
    }
}

impl TrainingArgs {
    /// The settings, checked once.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the bad setting.
    pub fn to_config(&self) -> Result<ValidTrainConfig, PipelineError> {
        TrainConfig {
            clean: CleanConfig::default(),
            tfidf: TfidfConfig {
                ngram_min: self.ngram.0,
                ngram_max: self.ngram.1,
                max_features: Some(self.max_features),
                min_df: self.min_df,
                max_df: self.max_df,
                sublinear_tf: self.sublinear_tf,
                min_token_chars: self.min_token_chars,
                ..TfidfConfig::default()
            },
            logistic: LogisticConfig {
                c: self.c,
                max_iter: self.max_iter,
                tol: self.tol,
                class_weight: self.class_weight,
            },
        }
        .check()
        .map_err(|e| PipelineError::Config(format!("training settings: {e}")))
    }
}

/// Parses `MIN,MAX`.
///
/// # Errors
/// A message for anything else.
pub(crate) fn parse_ngram(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| format!("expected MIN,MAX, got '{s}'"))?;
    let p = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("'{v}' is not a whole number"))
    };
    Ok((p(a)?, p(b)?))
}

/// Every pipeline setting (see the module docs).
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// Share of each dataset held out, by a hash of its words (near duplicates stay together).
    #[arg(long, env = "POLARITY_TEST_FRACTION", default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Train on all active datasets, or only the latest.
    #[arg(long, env = "POLARITY_TRAIN_MODE", default_value_t = TrainMode::All)]
    pub train_mode: TrainMode,
    /// Macro-F1 a candidate must gain over production and over the trivial baselines.
    #[arg(long, env = "POLARITY_PROMOTE_MARGIN", default_value_t = PromotionPolicy::default().margin, help_heading = "Promotion")]
    pub promote_margin: f64,
    /// Optional absolute macro-F1 every promoted model must reach (unset: none).
    #[arg(long, env = "POLARITY_PROMOTE_FLOOR", help_heading = "Promotion")]
    pub promote_floor: Option<f64>,
    /// Largest allowed drop of any class's recall against production.
    #[arg(long, env = "POLARITY_MAX_RECALL_DROP", default_value_t = PromotionPolicy::default().max_recall_drop, help_heading = "Promotion")]
    pub max_recall_drop: f64,
    /// Significance level of the paired McNemar tests.
    #[arg(long, env = "POLARITY_PROMOTE_ALPHA", default_value_t = PromotionPolicy::default().alpha, help_heading = "Promotion")]
    pub promote_alpha: f64,
    /// Run the label-noise gate on new datasets (true/false).
    #[arg(long, env = "POLARITY_GATE", default_value_t = GateSettings::default().enabled, action = clap::ArgAction::Set, help_heading = "Label-noise gate")]
    pub gate: bool,
    /// The share of wrong labels among an upload's fresh rows the gate tolerates before it holds the upload.
    #[arg(long, env = "POLARITY_GATE_MAX_NOISE", default_value_t = GateSettings::default().max_noise, help_heading = "Label-noise gate")]
    pub gate_max_noise: f64,
    /// Significance level of the gate's one-sided binomial test.
    #[arg(long, env = "POLARITY_GATE_ALPHA", default_value_t = GateSettings::default().alpha, help_heading = "Label-noise gate")]
    pub gate_alpha: f64,
    /// The most bytes one upload may have once decompressed; a larger one is quarantined whole.
    #[arg(long, env = "POLARITY_MAX_UPLOAD_BYTES", default_value_t = UploadLimits::default().max_bytes, help_heading = "Uploads")]
    pub max_upload_bytes: u64,
    /// The longest text (characters) a row of an upload may have; a longer row is quarantined.
    #[arg(long, env = "POLARITY_MAX_ROW_CHARS", default_value_t = UploadLimits::default().max_row_chars, help_heading = "Uploads")]
    pub max_row_chars: usize,
    /// Largest share of an upload's already-known rows whose label it may change before it is held.
    #[arg(long, env = "POLARITY_GATE_MAX_CHANGED", default_value_t = GateSettings::default().max_changed, help_heading = "Label-noise gate")]
    pub gate_max_changed: f64,
    /// Training settings.
    #[command(flatten)]
    pub training: TrainingArgs,
    /// Where training runs (the in-process limit and the ECS task above it).
    #[command(flatten)]
    pub dispatch: DispatchArgs,
    /// Git commit recorded on every version.
    #[arg(
        long,
        env = "POLARITY_GIT_SHA",
        hide = true,
        help_heading = "Provenance"
    )]
    pub git_sha: Option<String>,
    /// MLflow tracking.
    #[command(flatten)]
    pub mlflow: MlflowArgs,
}

/// Where MLflow is (tracking is off without a URI).
#[derive(Debug, Clone, Args)]
pub struct MlflowArgs {
    /// MLflow tracking server (`http(s)://…`): log one run per version.
    #[arg(long, env = "MLFLOW_TRACKING_URI", help_heading = "Tracking")]
    pub mlflow_tracking_uri: Option<String>,
    /// MLflow experiment the runs go to.
    #[arg(
        long,
        env = "MLFLOW_EXPERIMENT_NAME",
        default_value = "polarity",
        help_heading = "Tracking"
    )]
    pub mlflow_experiment: String,
    /// Seconds per tracking request (all logging of a run ≤ 3× that).
    #[arg(
        long,
        env = "POLARITY_MLFLOW_TIMEOUT",
        default_value_t = 5.0,
        help_heading = "Tracking"
    )]
    pub mlflow_timeout: f64,
    /// Bearer token for the tracking server.
    #[arg(
        long,
        env = "MLFLOW_TRACKING_TOKEN",
        hide = true,
        hide_env_values = true
    )]
    pub mlflow_token: Option<String>,
    /// Basic-auth user for the tracking server.
    #[arg(long, env = "MLFLOW_TRACKING_USERNAME", hide = true)]
    pub mlflow_username: Option<String>,
    /// Basic-auth password for the tracking server.
    #[arg(
        long,
        env = "MLFLOW_TRACKING_PASSWORD",
        hide = true,
        hide_env_values = true
    )]
    pub mlflow_password: Option<String>,
    /// MLflow registered model the versions are registered under (its `champion` alias follows the
    /// production pointer).
    #[arg(
        long,
        env = "POLARITY_MLFLOW_MODEL",
        default_value = "polarity",
        help_heading = "Tracking"
    )]
    pub mlflow_model: String,
}

/// Everything the stages need besides the store, the registry and the tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Share of rows held out, in `(0, 1)`.
    pub test_fraction: f64,
    /// Which datasets train uses.
    pub train_mode: TrainMode,
    /// Cleaning, vectoriser and regression settings, checked.
    pub train: ValidTrainConfig,
    /// When a candidate replaces production.
    pub policy: PromotionPolicy,
    /// The label-noise gate.
    pub gate: GateSettings,
    /// Git commit recorded on versions.
    pub git_sha: Option<String>,
    /// MLflow tracking (`None`: nothing is logged, no network calls).
    pub mlflow: Option<MlflowConfig>,
    /// Cross-validate C and sublinear tf on each training set (`--tune`).
    pub tune: bool,
    /// Where training runs: the in-process row limit and the task to start above it.
    pub dispatch: DispatchConfig,
    /// What ingest accepts from one upload.
    pub upload: UploadLimits,
}

/// What ingest accepts from one upload: a file larger than `max_bytes` once decompressed is quarantined
/// whole (found after at most that many bytes are decompressed: a small gzip may expand a thousandfold);
/// a row whose text is longer than `max_row_chars` is quarantined (`text_too_long`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Bytes, decompressed (`POLARITY_MAX_UPLOAD_BYTES`).
    pub max_bytes: u64,
    /// Characters per text (`POLARITY_MAX_ROW_CHARS`).
    pub max_row_chars: usize,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_bytes: 512 * 1024 * 1024,
            max_row_chars: 100_000,
        }
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            test_fraction: 0.2,
            train_mode: TrainMode::All,
            train: ValidTrainConfig::default(),
            policy: PromotionPolicy::default(),
            gate: GateSettings::default(),
            git_sha: None,
            mlflow: None,
            tune: false,
            dispatch: DispatchConfig::default(),
            upload: UploadLimits::default(),
        }
    }
}

/// Just the settings, parsed from the environment alone.
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct FromEnv {
    #[command(flatten)]
    settings: SettingsArgs,
}

/// The environment variables a deployment may set as pipeline settings (Terraform's `pipeline_settings`,
/// checked against `terraform/settings.json`, which a test keeps equal to this): every setting's variable
/// except secrets (tracking credentials) and where training runs (Terraform sets those itself). Sorted.
pub fn setting_variables() -> Vec<String> {
    use clap::CommandFactory;
    let cmd = FromEnv::command();
    let mut v: Vec<String> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_env_values_set())
        .filter(|a| a.get_help_heading() != Some(crate::dispatch::HEADING))
        .filter_map(|a| a.get_env().and_then(|e| e.to_str()).map(String::from))
        .collect();
    v.sort();
    v
}

impl SettingsArgs {
    /// The settings from the environment alone (Lambda functions).
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the variable with a bad value.
    pub fn from_env() -> Result<Self, PipelineError> {
        Self::parse_args(std::iter::empty::<String>())
    }

    /// The settings from arguments (flags) and the environment.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the flag or variable with a bad value.
    pub fn parse_args<I, T>(args: I) -> Result<Self, PipelineError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::CommandFactory;
        FromEnv::try_parse_from(args)
            .map(|p| p.settings)
            .map_err(|e| PipelineError::Config(name_variable(&FromEnv::command(), &e)))
    }

    /// The typed, checked configuration.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the setting that is out of range.
    pub fn to_config(&self) -> Result<PipelineConfig, PipelineError> {
        let c = PipelineConfig {
            test_fraction: self.test_fraction,
            train_mode: self.train_mode,
            train: self.training.to_config()?,
            policy: PromotionPolicy {
                margin: self.promote_margin,
                floor: self.promote_floor,
                max_recall_drop: self.max_recall_drop,
                alpha: self.promote_alpha,
            },
            gate: GateSettings {
                enabled: self.gate,
                max_noise: self.gate_max_noise,
                alpha: self.gate_alpha,
                max_changed: self.gate_max_changed,
            },
            git_sha: self.git_sha.clone().filter(|s| !s.is_empty()),
            mlflow: self.mlflow.config()?,
            tune: self.training.tune,
            dispatch: self
                .dispatch
                .to_config()
                .map_err(|e| PipelineError::Config(e.to_string()))?,
            upload: UploadLimits {
                max_bytes: self.max_upload_bytes,
                max_row_chars: self.max_row_chars,
            },
        };
        c.validate()?;
        Ok(c)
    }
}

impl MlflowArgs {
    /// The MLflow settings, or `None` when the URI is unset, empty or not `http(s)://`.
    ///
    /// # Errors
    /// [`PipelineError::Config`] for a timeout out of range.
    pub fn config(&self) -> Result<Option<MlflowConfig>, PipelineError> {
        let nonempty = |v: &Option<String>| {
            v.as_ref()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let Some(uri) = nonempty(&self.mlflow_tracking_uri) else {
            return Ok(None);
        };
        let lower = uri.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            tracing::warn!(
                tracking_uri = redacted(&uri),
                "MLFLOW_TRACKING_URI is not an http(s):// server; MLflow tracking is off"
            );
            return Ok(None);
        }
        let t = self.mlflow_timeout;
        if !(t.is_finite() && t > 0.0 && t <= 3600.0) {
            return Err(PipelineError::Config(format!(
                "POLARITY_MLFLOW_TIMEOUT={t} must be seconds in (0, 3600]"
            )));
        }
        let mut m = MlflowConfig::new(&uri);
        m.experiment = self.mlflow_experiment.trim().to_string();
        m.timeout = Duration::from_secs_f64(t);
        m.token = nonempty(&self.mlflow_token);
        m.basic = nonempty(&self.mlflow_username)
            .map(|u| (u, self.mlflow_password.clone().unwrap_or_default()));
        m.registered_model = self.mlflow_model.trim().to_string();
        Ok(Some(m))
    }
}

/// A clap error as one line that names the environment variable of the argument at fault.
pub fn name_variable(cmd: &clap::Command, e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let long = arg
        .trim_start_matches("--")
        .split([' ', '='])
        .next()
        .unwrap_or("");
    let env = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned());
    let first = e
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string();
    match env {
        Some(env) => format!("{env}={value:?} (or {arg}): {first}"),
        None => first,
    }
}

impl PipelineConfig {
    /// Checks the ranges the types do not.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the setting.
    pub fn validate(&self) -> Result<(), PipelineError> {
        let bad = |what: &str| Err(PipelineError::Config(what.to_string()));
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return bad("POLARITY_TEST_FRACTION must be in (0, 1)");
        }
        if self.policy.floor.is_some_and(|f| !(0.0..=1.0).contains(&f))
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
        if !(self.gate.alpha > 0.0
            && self.gate.alpha <= 1.0
            && (0.0..1.0).contains(&self.gate.max_noise)
            && (0.0..=1.0).contains(&self.gate.max_changed))
        {
            return bad(
                "POLARITY_GATE_ALPHA must be in (0, 1], POLARITY_GATE_MAX_NOISE in [0, 1) and POLARITY_GATE_MAX_CHANGED in [0, 1]",
            );
        }
        if self.upload.max_bytes == 0 || self.upload.max_row_chars == 0 {
            return bad("POLARITY_MAX_UPLOAD_BYTES and POLARITY_MAX_ROW_CHARS must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<PipelineConfig, PipelineError> {
        SettingsArgs::parse_args(args.iter().copied())?.to_config()
    }

    #[test]
    fn defaults_are_the_cores_and_flags_override_them() {
        let c = parse(&[]).unwrap();
        assert_eq!(c, PipelineConfig::default());
        assert_eq!(*c.train, TrainConfig::default());
        let c = parse(&[
            "--train-mode",
            "latest",
            "--c",
            "0.5",
            "--class-weight",
            "balanced",
            "--ngram",
            "1,3",
        ])
        .unwrap();
        assert_eq!(c.train_mode, TrainMode::Latest);
        assert_eq!(
            (c.train.logistic.c, c.train.logistic.class_weight),
            (0.5, ClassWeight::Balanced)
        );
        assert_eq!(c.train.tfidf.ngram_max, 3);
        assert_eq!(
            parse(&["--promote-floor", "0.7"]).unwrap().policy.floor,
            Some(0.7)
        );
        assert!(!parse(&["--gate", "false"]).unwrap().gate.enabled);
        // sublinear tf is on by default: a bare flag keeps it on, a value sets it
        assert!(parse(&["--sublinear-tf"]).unwrap().train.tfidf.sublinear_tf);
        assert!(
            !parse(&["--sublinear-tf", "false"])
                .unwrap()
                .train
                .tfidf
                .sublinear_tf
        );
        assert!(
            !parse(&["--sublinear-tf=0"])
                .unwrap()
                .train
                .tfidf
                .sublinear_tf
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = parse(&["--promote-margin", "lots"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("POLARITY_PROMOTE_MARGIN"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = parse(&["--train-mode", "some"]).unwrap_err().to_string();
        assert!(e.contains("POLARITY_TRAIN_MODE"), "{e}");
        assert!(
            parse(&["--test-fraction", "1.5"])
                .unwrap_err()
                .to_string()
                .contains("POLARITY_TEST_FRACTION")
        );
        assert!(
            parse(&["--c", "0"])
                .unwrap_err()
                .to_string()
                .contains("C must be")
        );
    }

    #[test]
    fn mlflow_is_off_unless_an_http_uri_is_set() {
        assert_eq!(parse(&[]).unwrap().mlflow, None);
        for off in ["", "./mlruns", "databricks", "file:///tmp/mlruns"] {
            assert_eq!(
                parse(&["--mlflow-tracking-uri", off]).unwrap().mlflow,
                None,
                "{off}"
            );
        }
        let m = parse(&[
            "--mlflow-tracking-uri",
            "http://127.0.0.1:5000/",
            "--mlflow-experiment",
            "reviews",
            "--mlflow-timeout",
            "1.5",
        ])
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
        let e = parse(&[
            "--mlflow-tracking-uri",
            "https://x",
            "--mlflow-timeout",
            "0",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("POLARITY_MLFLOW_TIMEOUT"), "{e}");
    }
}
