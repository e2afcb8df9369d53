variable "name" {
  description = "Name prefix: functions are <name>-ingest, <name>-process, <name>-train, <name>-validate, <name>-predict."
  type        = string
}

variable "bucket_id" {
  description = "Data bucket name."
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
  description = "KMS key for logs, environment variables, the failure queue and the alarm topic."
  type        = string
}

variable "lambda_zip_dir" {
  description = "Directory holding <crate>/bootstrap.zip from `cargo lambda build --release --arm64 --output-format zip`."
  type        = string
}

variable "stage_sizing" {
  description = "Per-stage overrides of { memory (MB), timeout (s) }, keyed by stage name."
  type        = map(object({ memory = number, timeout = number }))
  default     = {}
}

variable "ingest_process_concurrency" {
  description = "Reserved concurrency of the ingest and process stages (train and validate are fixed at 1)."
  type        = number
  default     = 5
}

variable "predict_concurrency" {
  description = "Reserved concurrency of the predict function."
  type        = number
  default     = 20
}

variable "predict_url_auth_type" {
  description = "Function URL auth for predict: AWS_IAM (SigV4-signed callers) or NONE (public)."
  type        = string
  default     = "AWS_IAM"
}

variable "max_retry_attempts" {
  description = "Async invoke retries before the event goes to the failure queue (0-2)."
  type        = number
  default     = 2
}

variable "max_event_age_seconds" {
  description = "Maximum age of an async event before it goes to the failure queue (60-21600)."
  type        = number
  default     = 3600
}

variable "log_retention_days" {
  description = "CloudWatch log retention for the functions."
  type        = number
}

variable "rust_log" {
  description = "RUST_LOG filter for every function."
  type        = string
  default     = "info"
}

variable "alarm_email" {
  description = "E-mail subscribed to the alarm topic (empty: none)."
  type        = string
  default     = ""
}
