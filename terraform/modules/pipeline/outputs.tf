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
