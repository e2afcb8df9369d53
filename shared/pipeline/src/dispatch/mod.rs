//! Training past one Lambda. Before it loads any row, the train stage knows how many training rows the chosen
//! datasets hold (their process manifests count them). [`decide`] is the rule, once:
//!
//! | training rows vs `POLARITY_TRAIN_MAX_ROWS` | a task is configured | the train stage |
//! |---|---|---|
//! | at most the limit, or no limit set | either | trains in process |
//! | above the limit | yes | starts the same train binary as an ECS Fargate task on the same key (`start_once`) and returns [`crate::stages::StageOutcome::Dispatched`] |
//! | above the limit | no | trains in process anyway and logs a warning (embedded and laptop runs keep working) |
//!
//! The limit is computed by Terraform from the train Lambda's memory and timeout (the rows-per-GB rule,
//! terraform/README.md "Training past one Lambda"); unset (embedded mode) means no limit. The task runs the
//! train stage with dispatch off (`polarity_functions::stage::run_task`) and writes exactly what the Lambda
//! writes; its model manifest triggers validate through the bucket notification as usual.
//!
//! At most one task per version: `start_once` claims `models/<version>/dispatch.json` with
//! `put_if_absent`, then starts the task with an idempotency token taken from the claim (ECS returns the
//! first task for a repeated token for 24 hours), then records the task ARN in the marker. A redelivered
//! event finds the ARN and starts nothing; one that finds a claim without an ARN (the start failed, or the
//! function died between the two writes) starts the task with the same token, so at most one runs.
//!
//! The AWS call is behind [`TaskLauncher`]: `EcsLauncher` (RunTask; in builds with the `ecs` feature, which
//! only polarity-functions turns on) and [`MemoryLauncher`] (an in-memory twin for tests).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use clap::Args;

use crate::aws::AwsSettings;
use crate::layout::{self, DISPATCH};
use crate::records::json::to_json;
use crate::records::{ProcessManifest, TaskDispatch};
use crate::store::{ObjectStore, StoreError};

#[cfg(feature = "ecs")]
mod ecs;

#[cfg(feature = "ecs")]
pub use ecs::EcsLauncher;

/// The variable that carries the triggering key into the task (a container override): the train binary
/// runs the stage once on it instead of serving Lambda invocations.
pub const TASK_KEY: &str = "POLARITY_TASK_KEY";

/// The help heading of [`DispatchArgs`] (its variables are Terraform's, not a user's setting).
pub(crate) const HEADING: &str = "Training past one Lambda";

/// Where training runs, as flags and `POLARITY_*` variables (Terraform sets them on the train function).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = HEADING)]
pub struct DispatchArgs {
    /// Most training rows one train process takes (unset: no limit). Above it the train stage starts an ECS
    /// task when one is configured, else trains anyway and logs a warning.
    #[arg(long, env = "POLARITY_TRAIN_MAX_ROWS", value_parser = clap::value_parser!(u64).range(1..))]
    pub train_max_rows: Option<u64>,
    /// Most held-out rows one validate process holds (unset: no limit). Above it the validate stage logs a
    /// warning naming the setting and runs anyway (there is no validate task; see terraform/README.md).
    #[arg(long, env = "POLARITY_VALIDATE_MAX_ROWS", value_parser = clap::value_parser!(u64).range(1..))]
    pub validate_max_rows: Option<u64>,
    /// ECS cluster of the train task (name or ARN).
    #[arg(long, env = "POLARITY_TASK_CLUSTER", hide = true)]
    pub task_cluster: Option<String>,
    /// Task definition of the train task (family, family:revision or ARN).
    #[arg(long, env = "POLARITY_TASK_DEFINITION", hide = true)]
    pub task_definition: Option<String>,
    /// Subnets of the task, comma-separated.
    #[arg(
        long,
        env = "POLARITY_TASK_SUBNETS",
        value_delimiter = ',',
        hide = true
    )]
    pub task_subnets: Vec<String>,
    /// Security groups of the task, comma-separated.
    #[arg(
        long,
        env = "POLARITY_TASK_SECURITY_GROUPS",
        value_delimiter = ',',
        hide = true
    )]
    pub task_security_groups: Vec<String>,
    /// The container that gets the triggering key.
    #[arg(
        long,
        env = "POLARITY_TASK_CONTAINER",
        default_value = "train",
        hide = true
    )]
    pub task_container: String,
}

/// Where to start the train task (all of it is needed to call RunTask).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSettings {
    /// ECS cluster (name or ARN).
    pub cluster: String,
    /// Task definition (family, family:revision or ARN).
    pub task_definition: String,
    /// Subnets (awsvpc networking; no public IP is assigned).
    pub subnets: Vec<String>,
    /// Security groups.
    pub security_groups: Vec<String>,
    /// The container that gets [`TASK_KEY`].
    pub container: String,
}

/// Where training runs: the limit and the task to start above it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchConfig {
    /// Most training rows one process takes; `None`: no limit.
    pub max_rows: Option<u64>,
    /// Most held-out rows one validate process holds; `None`: no limit.
    pub validate_max_rows: Option<u64>,
    /// The task to start above the limit; `None`: train in process (with a warning above the limit).
    pub task: Option<TaskSettings>,
}

impl DispatchArgs {
    /// The checked settings: the four task settings go together, and only a build with the `ecs` feature
    /// (the Lambda functions) takes them.
    ///
    /// # Errors
    /// [`DispatchError::Settings`] naming the missing task variables when only some are set, or saying
    /// that this binary cannot start tasks when all are set in a build without `ecs`.
    pub fn to_config(&self) -> Result<DispatchConfig, DispatchError> {
        let nonempty = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        let list = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let (subnets, security_groups) =
            (list(&self.task_subnets), list(&self.task_security_groups));
        let given = [
            ("POLARITY_TASK_CLUSTER", nonempty(&self.task_cluster)),
            ("POLARITY_TASK_DEFINITION", nonempty(&self.task_definition)),
            ("POLARITY_TASK_SUBNETS", !subnets.is_empty()),
            ("POLARITY_TASK_SECURITY_GROUPS", !security_groups.is_empty()),
        ];
        let missing: Vec<&str> = given.iter().filter(|g| !g.1).map(|g| g.0).collect();
        let task = match missing.len() {
            4 => None,
            0 => Some(TaskSettings {
                cluster: self.task_cluster.clone().unwrap_or_default().trim().into(),
                task_definition: self
                    .task_definition
                    .clone()
                    .unwrap_or_default()
                    .trim()
                    .into(),
                subnets,
                security_groups,
                container: self.task_container.trim().to_string(),
            }),
            _ => {
                return Err(DispatchError::Settings {
                    message: format!(
                        "the train task needs POLARITY_TASK_CLUSTER, POLARITY_TASK_DEFINITION, POLARITY_TASK_SUBNETS and POLARITY_TASK_SECURITY_GROUPS together; missing: {}",
                        missing.join(", ")
                    ),
                });
            }
        };
        if task.is_some() && !cfg!(feature = "ecs") {
            return Err(DispatchError::Settings {
                message: "POLARITY_TASK_* name a train task, but this binary has no ECS client: only the Lambda functions (polarity-functions) start train tasks; unset them here".into(),
            });
        }
        Ok(DispatchConfig {
            max_rows: self.train_max_rows,
            validate_max_rows: self.validate_max_rows,
            task,
        })
    }
}

/// Where one training run goes (see the module docs for the rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Within the limit, or no limit: train here.
    InProcess,
    /// Above the limit, and a task can be started: start it.
    Task {
        /// The limit that was exceeded.
        limit: u64,
    },
    /// Above the limit, and no task is configured: train here anyway and warn.
    InProcessOverLimit {
        /// The limit that was exceeded.
        limit: u64,
    },
}

/// The rule: `rows` above `max_rows` go to a task when `task_available`, else stay here (over the limit).
pub fn decide(rows: u64, max_rows: Option<u64>, task_available: bool) -> Placement {
    match max_rows {
        Some(limit) if rows > limit && task_available => Placement::Task { limit },
        Some(limit) if rows > limit => Placement::InProcessOverLimit { limit },
        _ => Placement::InProcess,
    }
}

/// The training rows of `datasets` as their process manifests count them (before merging duplicates across
/// datasets, so never fewer than the rows loaded): the unit of the rows-per-GB rule.
pub(crate) fn training_rows(datasets: &[ProcessManifest]) -> u64 {
    datasets.iter().flat_map(|d| d.train.values()).sum()
}

/// The held-out rows of `datasets` as their process manifests count them: the unit of validate's
/// rows-per-GB rule.
pub(crate) fn held_out_rows(datasets: &[ProcessManifest]) -> u64 {
    datasets.iter().flat_map(|d| d.test.values()).sum()
}

/// Why a task could not be started.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// Throttling, a 5xx, a timeout, or no capacity right now: try again.
    #[error("cannot start the train task (transient): {message}")]
    Transient {
        /// Details.
        message: String,
    },
    /// Anything else (permissions, a missing cluster or task definition).
    #[error("cannot start the train task: {message}")]
    Failed {
        /// Details.
        message: String,
    },
    /// The task settings are incomplete.
    #[error("{message}")]
    Settings {
        /// Which settings are missing.
        message: String,
    },
    /// The store failed while the task marker was read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The task marker is unreadable (a bug or manual tampering).
    #[error("{key}: {problem}")]
    Corrupt {
        /// The marker's key.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

impl DispatchError {
    /// True when starting again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transient { .. } => true,
            Self::Store(e) => e.is_retryable(),
            Self::Failed { .. } | Self::Settings { .. } | Self::Corrupt { .. } => false,
        }
    }
}

/// Starts train tasks: the one AWS call of dispatching.
#[async_trait]
pub trait TaskLauncher: Send + Sync {
    /// Starts one task that runs the train stage on `key` and returns its ARN. A second call with the same
    /// `token` returns the first task instead of starting another (ECS keeps tokens for 24 hours).
    ///
    /// # Errors
    /// A [`DispatchError`] saying whether a retry may help.
    async fn start(&self, key: &str, token: &str) -> Result<String, DispatchError>;
}

/// The task launcher the settings name (`None` without a task: the stage trains in process).
pub async fn connect(cfg: &DispatchConfig, aws: &AwsSettings) -> Option<Arc<dyn TaskLauncher>> {
    let task = cfg.task.clone()?;
    #[cfg(feature = "ecs")]
    return Some(Arc::new(EcsLauncher::from_config(&aws.load().await, task)));
    // without `ecs`, `DispatchArgs::to_config` refused task settings, so there is no task here
    #[cfg(not(feature = "ecs"))]
    {
        let _ = (task, aws);
        None
    }
}

/// Starts at most one task for `claim.version` (the protocol in the module docs) and returns the marker as
/// it now stands, with `already` set when the task was started before.
///
/// # Errors
/// Store errors, and the launcher's error when the task could not be started (the claim stays, without an
/// ARN, so a retried event starts the task with the same token).
pub(crate) async fn start_once(
    store: &dyn ObjectStore,
    launcher: &dyn TaskLauncher,
    claim: TaskDispatch,
) -> Result<TaskDispatch, DispatchError> {
    let marker = layout::model(&claim.version, DISPATCH);
    let mut current = match read_marker(store, &marker).await? {
        Some(d) => d,
        None if store.put_if_absent(&marker, to_json(&claim)).await? => claim,
        None => read_marker(store, &marker)
            .await?
            .ok_or_else(|| DispatchError::Corrupt {
                key: marker.clone(),
                problem: "the dispatch marker existed for put_if_absent but cannot be read".into(),
            })?,
    };
    if current.task_arn.is_some() {
        current.already = true;
        return Ok(current);
    }
    let arn = launcher.start(&current.key, &current.token()).await?;
    current.task_arn = Some(arn);
    store.put(&marker, to_json(&current)).await?;
    Ok(current)
}

/// The task marker at `key`, if there is one.
async fn read_marker(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<Option<TaskDispatch>, DispatchError> {
    let Some(bytes) = store.get_opt(key).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| DispatchError::Corrupt {
            key: key.to_string(),
            problem: e.to_string(),
        })
}

/// An in-memory [`TaskLauncher`] that starts nothing: it records the keys and, like ECS, answers a repeated
/// token with the first task.
#[derive(Debug, Default)]
pub struct MemoryLauncher {
    started: Mutex<Vec<(String, String)>>,
}

impl MemoryLauncher {
    /// The keys of the tasks started so far, in order.
    pub fn started(&self) -> Vec<String> {
        self.started
            .lock()
            .map(|s| s.iter().map(|(_, k)| k.clone()).collect())
            .unwrap_or_default()
    }
}

#[async_trait]
impl TaskLauncher for MemoryLauncher {
    async fn start(&self, key: &str, token: &str) -> Result<String, DispatchError> {
        let mut started = self.started.lock().map_err(|e| DispatchError::Failed {
            message: e.to_string(),
        })?;
        let n = match started.iter().position(|(t, _)| t == token) {
            Some(i) => i,
            None => {
                started.push((token.to_string(), key.to_string()));
                started.len() - 1
            }
        };
        Ok(format!(
            "arn:aws:ecs:local:000000000000:task/polarity/{}",
            n + 1
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LocalStore;

    #[test]
    fn the_rule() {
        assert_eq!(decide(10, None, true), Placement::InProcess);
        assert_eq!(decide(10, Some(10), true), Placement::InProcess);
        assert_eq!(decide(11, Some(10), true), Placement::Task { limit: 10 });
        assert_eq!(
            decide(11, Some(10), false),
            Placement::InProcessOverLimit { limit: 10 }
        );
        assert_eq!(decide(0, Some(1), false), Placement::InProcess);
        let d = |train: &[(&str, u64)]| ProcessManifest {
            train: train.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            test: [("neg".to_string(), 1000)].into(),
            ..Default::default()
        };
        // test rows do not count: the rule's unit is the training row
        assert_eq!(
            training_rows(&[d(&[("neg", 3), ("pos", 4)]), d(&[("pos", 5)])]),
            12
        );
    }

    fn args(extra: &[&str]) -> Result<DispatchConfig, String> {
        #[derive(clap::Parser)]
        #[command(no_binary_name = true)]
        struct P {
            #[command(flatten)]
            d: DispatchArgs,
        }
        use clap::Parser;
        P::try_parse_from(extra.iter().copied())
            .map_err(|e| e.to_string())?
            .d
            .to_config()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn task_settings_go_together() {
        assert_eq!(args(&[]).unwrap(), DispatchConfig::default());
        let full = args(&[
            "--train-max-rows",
            "5",
            "--task-cluster",
            "c",
            "--task-definition",
            "polarity-train-task",
            "--task-subnets",
            "subnet-1,subnet-2",
            "--task-security-groups",
            "sg-1",
        ]);
        if cfg!(feature = "ecs") {
            let full = full.unwrap();
            assert_eq!(full.max_rows, Some(5));
            let t = full.task.unwrap();
            assert_eq!(
                (t.subnets.len(), t.security_groups, t.container.as_str()),
                (2, vec!["sg-1".to_string()], "train")
            );
        } else {
            // the CLI and the server: a task they could never start is refused, not ignored
            let e = full.unwrap_err();
            assert!(e.contains("this binary has no ECS client"), "{e}");
        }
        let e = args(&["--task-cluster", "c", "--task-subnets", "s"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing: POLARITY_TASK_DEFINITION, POLARITY_TASK_SECURITY_GROUPS"),
            "{e}"
        );
        assert!(args(&["--train-max-rows", "0"]).is_err());
    }

    fn claim(version: &str, key: &str, at: u64) -> TaskDispatch {
        TaskDispatch {
            version: version.into(),
            key: key.into(),
            rows: 100,
            max_rows: 10,
            claimed_at: at,
            task_arn: None,
            already: false,
        }
    }

    #[tokio::test]
    async fn one_task_per_version_whatever_is_redelivered() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let ecs = MemoryLauncher::default();
        let first = start_once(&store, &ecs, claim("v1", "processed/a/manifest.json", 1))
            .await
            .unwrap();
        assert!(first.task_arn.is_some() && !first.already);
        // a redelivered event (or another trigger of the same version) starts nothing
        let again = start_once(&store, &ecs, claim("v1", "datasets/a.json", 2))
            .await
            .unwrap();
        assert!(again.already);
        assert_eq!(
            (again.task_arn, again.key.as_str()),
            (first.task_arn, "processed/a/manifest.json")
        );
        assert_eq!(ecs.started(), ["processed/a/manifest.json"]);
        // the marker on disk is the first claim with its task
        let stored: TaskDispatch = crate::stored::read_json(&store, &layout::model("v1", DISPATCH))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((stored.claimed_at, stored.already), (1, false));
    }

    #[tokio::test]
    async fn a_claim_without_a_task_is_finished_with_the_same_token() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let ecs = MemoryLauncher::default();
        // the function died after claiming, or RunTask failed: the claim has no ARN
        let c = claim("v2", "processed/b/manifest.json", 7);
        store
            .put(&layout::model("v2", DISPATCH), to_json(&c))
            .await
            .unwrap();
        // ... and ECS may or may not have started the task: say it did
        let arn = ecs.start(&c.key, &c.token()).await.unwrap();
        let done = start_once(&store, &ecs, claim("v2", "processed/b/manifest.json", 9))
            .await
            .unwrap();
        assert_eq!(
            (done.task_arn.as_deref(), done.claimed_at, done.already),
            (Some(arn.as_str()), 7, false)
        );
        assert_eq!(ecs.started().len(), 1);
        assert_eq!(c.token(), "v2-7");
    }

    #[tokio::test]
    async fn concurrent_deliveries_start_one_task() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let ecs = MemoryLauncher::default();
        let key = "processed/c/manifest.json";
        let (a, b, c) = tokio::join!(
            start_once(&store, &ecs, claim("v3", key, 1)),
            start_once(&store, &ecs, claim("v3", key, 2)),
            start_once(&store, &ecs, claim("v3", key, 3)),
        );
        let arns: std::collections::BTreeSet<_> = [a, b, c]
            .into_iter()
            .map(|o| o.unwrap().task_arn.unwrap())
            .collect();
        assert_eq!((arns.len(), ecs.started().len()), (1, 1));
    }
}
