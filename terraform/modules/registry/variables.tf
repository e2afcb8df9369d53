variable "table_name" {
  description = "Registry table name."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for table encryption."
  type        = string
}

variable "deletion_protection" {
  description = "Protect the table from deletion (turn off before `terraform destroy`)."
  type        = bool
  default     = true
}
