//! [`EcsLauncher`]: the train task started with ECS `RunTask` on Fargate, in the configured subnets and
//! security groups without a public IP, with [`super::TASK_KEY`] set on the train container. Endpoints come
//! from `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_ECS` like every other client ([`crate::aws`]).

use async_trait::async_trait;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, KeyValuePair, LaunchType,
    NetworkConfiguration, TaskOverride,
};

use super::{DispatchError, TASK_KEY, TaskLauncher, TaskSettings};
use crate::aws::classify;

/// `RunTask` failure reasons that no retry fixes (the task definition or cluster is gone).
const PERMANENT_FAILURES: &[&str] = &["MISSING", "INACTIVE"];

/// Starts the train task on ECS Fargate.
#[derive(Debug, Clone)]
pub struct EcsLauncher {
    client: Client,
    task: TaskSettings,
}

impl EcsLauncher {
    /// A launcher over an SDK configuration (loaded once per cold start).
    pub fn from_config(sdk: &aws_config::SdkConfig, task: TaskSettings) -> Self {
        Self {
            client: Client::new(sdk),
            task,
        }
    }
}

#[async_trait]
impl TaskLauncher for EcsLauncher {
    async fn start(&self, key: &str, token: &str) -> Result<String, DispatchError> {
        let t = &self.task;
        let network = AwsVpcConfiguration::builder()
            .set_subnets(Some(t.subnets.clone()))
            .set_security_groups(Some(t.security_groups.clone()))
            .assign_public_ip(AssignPublicIp::Disabled)
            .build()
            .map_err(|e| DispatchError::Failed {
                message: e.to_string(),
            })?;
        let overrides = TaskOverride::builder()
            .container_overrides(
                ContainerOverride::builder()
                    .name(&t.container)
                    .environment(KeyValuePair::builder().name(TASK_KEY).value(key).build())
                    .build(),
            )
            .build();
        let out = self
            .client
            .run_task()
            .cluster(&t.cluster)
            .task_definition(&t.task_definition)
            .launch_type(LaunchType::Fargate)
            .count(1)
            .client_token(token)
            .started_by("polarity-train")
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(network)
                    .build(),
            )
            .overrides(overrides)
            .send()
            .await
            .map_err(|e| {
                let (transient, message) = classify("ecs", &e);
                let message = format!("RunTask {} on {}: {message}", t.task_definition, t.cluster);
                if transient {
                    DispatchError::Transient { message }
                } else {
                    DispatchError::Failed { message }
                }
            })?;
        if let Some(arn) = out.tasks().iter().find_map(|task| task.task_arn()) {
            return Ok(arn.to_string());
        }
        let reasons: Vec<String> = out
            .failures()
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f.reason().unwrap_or("unknown"),
                    f.detail().unwrap_or_default()
                )
                .trim()
                .to_string()
            })
            .collect();
        let message = format!(
            "RunTask {} on {} started no task: {}",
            t.task_definition,
            t.cluster,
            if reasons.is_empty() {
                "no failure given".to_string()
            } else {
                reasons.join("; ")
            }
        );
        let permanent = out.failures().iter().any(|f| {
            f.reason()
                .is_some_and(|r| PERMANENT_FAILURES.iter().any(|p| r.contains(p)))
        });
        Err(if permanent {
            DispatchError::Failed { message }
        } else {
            // capacity, throttling and agent problems pass; Lambda retries the event
            DispatchError::Transient { message }
        })
    }
}
