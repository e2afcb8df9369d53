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
