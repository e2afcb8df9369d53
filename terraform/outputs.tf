output "alb_url" {
  description = "Base URL of the inference API (POST /predict)."
  value       = module.serving.alb_url
}

output "bucket" {
  description = "Data bucket: upload datasets to incoming/."
  value       = module.storage.bucket_id
}

output "registry_table" {
  description = "DynamoDB registry table."
  value       = module.registry.table_name
}

output "grafana_url" {
  description = "Grafana URL (reachable from monitoring_allowed_cidrs)."
  value       = module.monitoring.grafana_url
}

output "prometheus_url" {
  description = "Prometheus URL (reachable from monitoring_allowed_cidrs)."
  value       = module.monitoring.prometheus_url
}

output "grafana_password_parameter" {
  description = "SSM parameter with Grafana's admin password."
  value       = module.monitoring.grafana_password_parameter
}

output "predict_function_url" {
  description = "Function URL of the serverless /predict (IAM auth unless predict_url_auth_type = NONE)."
  value       = module.pipeline.predict_function_url
}

output "function_names" {
  description = "Pipeline function names by stage."
  value       = module.pipeline.function_names
}

output "failure_queue_url" {
  description = "SQS queue of pipeline events whose retries were exhausted."
  value       = module.pipeline.failure_queue_url
}

output "asg_name" {
  description = "Server Auto Scaling Group (terraform/deploy/instance-refresh.sh rolls it)."
  value       = module.serving.asg_name
}

output "launch_template_id" {
  description = "Server launch template (the instance refresh's desired configuration)."
  value       = module.serving.launch_template_id
}

output "launch_template_version" {
  description = "Newest server launch template version; the ASG runs it once an instance refresh to it succeeded."
  value       = module.serving.launch_template_version
}

output "rollback_alarm_name" {
  description = "CloudWatch alarm that rolls back a running instance refresh."
  value       = module.serving.rollback_alarm_name
}

output "alertmanager_url" {
  description = "Alertmanager URL (reachable from monitoring_allowed_cidrs)."
  value       = module.monitoring.alertmanager_url
}

output "train_task_repository" {
  description = "ECR repository of the train task image: CD pushes <url>:<commit> (after `apply -target=module.pipeline.aws_ecr_repository.train_task` on a first deploy)."
  value       = module.pipeline.train_task_repository_url
}

output "train_task" {
  description = "The train task for datasets above one Lambda (with train_task_image_tag): cluster, task definition family, log group, roles."
  value       = module.pipeline.train_task
}

output "train_limits" {
  description = "Training rows one train function takes (POLARITY_TRAIN_MAX_ROWS) and one train task, by the rows-per-GB rule."
  value       = module.pipeline.train_limits
}

output "sizing" {
  description = "Each stage function's memory and timeout, the upload bytes ingest accepts and the held-out rows validate holds (terraform/modules/pipeline/sizing.tf)."
  value       = module.pipeline.sizing
}
