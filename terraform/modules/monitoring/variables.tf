variable "name" {
  description = "Name prefix."
  type        = string
}

variable "vpc_id" {
  description = "VPC id."
  type        = string
}

variable "public_subnet_id" {
  description = "Public subnet for the monitoring host."
  type        = string
}

variable "allowed_cidrs" {
  description = "CIDRs allowed to reach Grafana (3000) and Prometheus (9090)."
  type        = list(string)
}

variable "server_security_group_id" {
  description = "Security group of the server instances (scrape target)."
  type        = string
}

variable "bucket_id" {
  description = "Data bucket (configs go under ops/monitoring/)."
  type        = string
}

variable "bucket_arn" {
  description = "Data bucket ARN."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the bucket and of the Grafana password parameter."
  type        = string
}

variable "monitoring_dir" {
  description = "Path to the repository's monitoring/ directory."
  type        = string
}

variable "instance_type" {
  description = "Graviton instance type of the monitoring host."
  type        = string
}

variable "prometheus_image" {
  description = "Prometheus container image (same as docker-compose.yml)."
  type        = string
}

variable "grafana_image" {
  description = "Grafana container image (same as docker-compose.yml)."
  type        = string
}

variable "alertmanager_image" {
  description = "Alertmanager container image (same as docker-compose.yml)."
  type        = string
}

variable "alarm_topic_arn" {
  description = "SNS topic Alertmanager publishes Prometheus alerts to (the CloudWatch alarms' topic)."
  type        = string
}

variable "data_volume_size" {
  description = "GiB of the EBS volume holding the Prometheus TSDB, Alertmanager and Grafana data."
  type        = number
  default     = 20
}

variable "detailed_monitoring" {
  description = "1-minute CloudWatch metrics for the host (EC2 detailed monitoring)."
  type        = bool
  default     = true
}
