output "grafana_url" {
  description = "Grafana URL (user admin, password in SSM)."
  value       = "http://${aws_instance.monitoring.public_ip}:3000"
}

output "prometheus_url" {
  description = "Prometheus URL."
  value       = "http://${aws_instance.monitoring.public_ip}:9090"
}

output "grafana_password_parameter" {
  description = "SSM parameter holding Grafana's admin password."
  value       = aws_ssm_parameter.grafana_password.name
}

output "alertmanager_url" {
  description = "Alertmanager URL (reachable from the allowed CIDRs)."
  value       = "http://${aws_instance.monitoring.public_ip}:9093"
}

output "instance_policy" {
  description = "The monitoring instance role's IAM policy (JSON)."
  value       = data.aws_iam_policy_document.monitoring.json
}

output "user_data" {
  description = "The monitoring host's rendered user-data (no secrets: the password is generated on the host)."
  value       = local.user_data
}

output "instance_id" {
  description = "The monitoring host's instance id."
  value       = aws_instance.monitoring.id
}
