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
