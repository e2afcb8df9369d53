variable "bucket_name" {
  description = "Name of the data bucket (the log bucket is named <bucket_name>-logs)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for default bucket encryption."
  type        = string
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete non-empty buckets."
  type        = bool
  default     = false
}

variable "quarantine_expiration_days" {
  description = "Days after which quarantined rows are deleted."
  type        = number
  default     = 30
}

variable "incoming_expiration_days" {
  description = "Days after which raw uploads under incoming/ are deleted (raw/ keeps the canonical copy)."
  type        = number
  default     = 90
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which overwritten or deleted object versions are removed."
  type        = number
  default     = 90
}

variable "log_expiration_days" {
  description = "Days after which S3 and ALB access logs are deleted."
  type        = number
  default     = 365
}
