output "function_names" {
  description = "Stage function names, keyed by stage."
  value       = { for k, f in aws_lambda_function.stage : k => f.function_name }
}

output "predict_function_url" {
  description = "Function URL of the serverless /predict."
  value       = aws_lambda_function_url.predict.function_url
}

output "failure_queue_url" {
  description = "SQS queue receiving events whose retries were exhausted."
  value       = aws_sqs_queue.failures.url
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms publish to."
  value       = aws_sns_topic.alarms.arn
}

output "stage_policies" {
  description = "Each stage role's IAM policy (JSON), keyed by stage: what terraform/tests compare with access.json."
  value       = { for k, d in data.aws_iam_policy_document.stage : k => d.json }
}

output "predict_policy" {
  description = "The predict role's IAM policy (JSON)."
  value       = data.aws_iam_policy_document.predict.json
}

output "stage_role_arns" {
  description = "Stage role ARNs, keyed by stage (the moto test assumes them)."
  value       = { for k, r in aws_iam_role.stage : k => r.arn }
}

output "access" {
  description = "The access table this module was given (terraform/tests check the root passes access.json)."
  value       = var.access
}

output "train_limits" {
  description = "Training rows one train function takes (its POLARITY_TRAIN_MAX_ROWS) and, by the same rows-per-GB rule, one train task."
  value       = { function_max_rows = local.train_max_rows, task_max_rows = local.task_max_rows }
}

output "sizing" {
  description = "Each stage function's memory (MB) and timeout (s), and the limits the sizing rules give them (sizing.tf): the upload bytes ingest accepts, the held-out rows validate holds."
  value       = { stages = local.sizing, upload_max_bytes = local.upload_max_bytes, validate_max_rows = local.validate_max_rows }
}

output "train_task_repository_url" {
  description = "ECR repository of the train task image (CD pushes <url>:<commit> and passes the tag as train_task_image_tag)."
  value       = aws_ecr_repository.train_task.repository_url
}

output "train_task" {
  description = "The train task with an image tag: cluster, task definition family, log group and the two roles (null without one)."
  value = {
    cluster            = local.task_enabled ? aws_ecs_cluster.train[0].name : null
    family             = local.task_enabled ? local.task_name : null
    log_group          = local.task_enabled ? local.task_log_group : null
    task_role_arn      = local.task_enabled ? aws_iam_role.train_task[0].arn : null
    execution_role_arn = local.task_enabled ? aws_iam_role.train_task_execution[0].arn : null
  }
}

output "train_dispatch_policy" {
  description = "The policy on the train function's role that starts the train task (JSON; attached only with an image tag)."
  value       = data.aws_iam_policy_document.train_dispatch.json
}

output "train_task_policy" {
  description = "The train task role's policy (JSON): the train stage's access.json entry."
  value       = data.aws_iam_policy_document.data_access["train"].json
}
