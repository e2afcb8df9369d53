variable "name" {
  description = "Name prefix for serving resources."
  type        = string
}

variable "vpc_id" {
  description = "VPC id."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets for the ALB."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets for the instances."
  type        = list(string)
}

variable "logs_bucket_id" {
  description = "Bucket receiving ALB access logs under alb/."
  type        = string
}

variable "bucket_id" {
  description = "Data bucket (artifacts/server/<version>/polarity-server, models/)."
  type        = string
}

variable "bucket_arn" {
  description = "Data bucket ARN."
  type        = string
}

variable "registry_table_name" {
  description = "Registry table name."
  type        = string
}

variable "registry_table_arn" {
  description = "Registry table ARN."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the data bucket."
  type        = string
}

variable "server_version" {
  description = "Server artifact version: the instances install s3://<bucket>/artifacts/server/<version>/polarity-server."
  type        = string
}

variable "server_sha256" {
  description = "Expected SHA-256 of the server artifact; user-data refuses to install anything else."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.server_sha256))
    error_message = "server_sha256 must be 64 lower-case hex digits."
  }
}

variable "serve_access" {
  description = "The `serve` entry of terraform/access.json: key patterns the server may get, prefixes it may list, registry actions."
  type = object({
    get      = list(string)
    list     = list(string)
    registry = list(string)
  })
}

variable "health_check_grace_period" {
  description = "Seconds after launch before the ASG acts on a failed /health (boot + binary download + start)."
  type        = number
  default     = 180
}

variable "ami_id" {
  description = "AMI override (empty: latest Amazon Linux 2023 arm64 from SSM)."
  type        = string
  default     = ""
}

variable "instance_type" {
  description = "Graviton (arm64) instance type."
  type        = string
}

variable "min_size" {
  description = "ASG minimum."
  type        = number
}

variable "max_size" {
  description = "ASG maximum."
  type        = number
}

variable "desired_capacity" {
  description = "ASG initial desired capacity."
  type        = number
}

variable "cpu_target_percent" {
  description = "Target average CPU for target tracking."
  type        = number
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS (empty: HTTP only)."
  type        = string
  default     = ""
}

variable "allowed_ingress_cidrs" {
  description = "CIDRs allowed to reach the ALB."
  type        = list(string)
}

variable "deletion_protection" {
  description = "ALB deletion protection."
  type        = bool
}

variable "waf_web_acl_arn" {
  description = "Optional WAFv2 web ACL to associate with the ALB."
  type        = string
  default     = ""
}

variable "rust_log" {
  description = "RUST_LOG for the server."
  type        = string
  default     = "info"
}

variable "alarm_topic_arn" {
  description = "SNS topic for the no-healthy-hosts alarm."
  type        = string
  default     = ""
}

variable "api_key_parameter" {
  description = "Name of an SSM SecureString parameter (encrypted with the project KMS key) holding the bearer token /predict and /v2/* require; empty: no auth. The instances read it at boot; it never appears in user-data."
  type        = string
  default     = ""
}
