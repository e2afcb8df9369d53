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
