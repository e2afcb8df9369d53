output "alb_dns_name" {
  description = "ALB DNS name."
  value       = aws_lb.this.dns_name
}

output "alb_url" {
  description = "Base URL of the API."
  value       = "${var.certificate_arn != "" ? "https" : "http"}://${aws_lb.this.dns_name}"
}

output "server_security_group_id" {
  description = "Security group of the server instances (Prometheus adds its scrape rule to it)."
  value       = aws_security_group.server.id
}

output "asg_name" {
  description = "Auto Scaling Group name."
  value       = aws_autoscaling_group.server.name
}

output "launch_template_id" {
  description = "Server launch template id (CD's instance refresh DesiredConfiguration)."
  value       = aws_launch_template.server.id
}

output "launch_template_version" {
  description = "Newest launch template version (the one CD rolls out)."
  value       = aws_launch_template.server.latest_version
}

output "rollback_alarm_name" {
  description = "CloudWatch alarm that rolls back a running instance refresh."
  value       = aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name
}

output "server_policy" {
  description = "The server instance role's IAM policy (JSON)."
  value       = data.aws_iam_policy_document.server.json
}

output "serve_access" {
  description = "The `serve` access entry this module was given."
  value       = var.serve_access
}

output "health_check_path" {
  description = "Target group health check path."
  value       = aws_lb_target_group.server.health_check[0].path
}
