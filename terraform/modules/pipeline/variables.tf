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

variable "access" {
  description = "The `stages` table of terraform/access.json: per stage, S3 key patterns it may get/put, prefixes it may list, registry actions, notification triggers."
  type = map(object({
    triggers = list(object({ prefix = string, suffix = string }))
    get      = list(string)
    list     = list(string)
    put      = list(string)
    registry = list(string)
  }))
  validation {
    condition     = sort(keys(var.access)) == sort(["ingest", "process", "train", "validate"])
    error_message = "access must have exactly the stages ingest, process, train, validate."
  }
}

variable "serve_access" {
  description = "The `serve` entry of terraform/access.json (the predict function's reads and registry actions)."
  type = object({
    get      = list(string)
    list     = list(string)
    registry = list(string)
  })
}

variable "ingest_process_concurrency" {
  description = "Reserved concurrency of ingest and process each (null: unreserved)."
  type        = number
  default     = null
}

variable "train_concurrency" {
  description = "Reserved concurrency of train (null: unreserved; versions are content-addressed, so parallel runs are safe)."
  type        = number
  default     = null
}

variable "validate_concurrency" {
  description = "Reserved concurrency of validate (null: unreserved; promotions are conditional writes, so parallel runs are safe)."
  type        = number
  default     = null
}

variable "predict_concurrency" {
  description = "Reserved concurrency of the predict function (null: unreserved)."
  type        = number
  default     = null
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

variable "json_logging" {
  description = "JSON logs into the module's log groups (logging_config). Only the moto test root turns it off: moto 5 does not return LoggingConfig, so every plan would show a change."
  type        = bool
  default     = true
}

variable "pipeline_settings" {
  description = "Pipeline settings for the stage functions, as the environment variables `polarity pipeline run --help` lists (e.g. { POLARITY_C = \"0.5\", POLARITY_NGRAM = \"1,3\", POLARITY_CLASS_WEIGHT = \"balanced\", POLARITY_GATE_ALPHA = \"0.001\" }). A bad value fails the functions at cold start with a message naming the variable."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.pipeline_settings) : contains(["POLARITY_TEST_FRACTION", "POLARITY_TRAIN_MODE", "POLARITY_PROMOTE_MARGIN", "POLARITY_PROMOTE_FLOOR", "POLARITY_MAX_RECALL_DROP", "POLARITY_PROMOTE_ALPHA", "POLARITY_GATE", "POLARITY_GATE_MARGIN", "POLARITY_GATE_ALPHA", "POLARITY_MAX_FEATURES", "POLARITY_NGRAM", "POLARITY_MIN_DF", "POLARITY_MAX_DF", "POLARITY_MIN_TOKEN_CHARS", "POLARITY_SUBLINEAR_TF", "POLARITY_C", "POLARITY_CLASS_WEIGHT", "POLARITY_MAX_ITER", "POLARITY_TOL", "POLARITY_GIT_SHA", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "POLARITY_MLFLOW_TIMEOUT"], k)])
    error_message = "pipeline_settings keys must be pipeline settings (see `polarity pipeline run --help`): POLARITY_TEST_FRACTION, POLARITY_TRAIN_MODE, POLARITY_PROMOTE_MARGIN, POLARITY_PROMOTE_FLOOR, POLARITY_MAX_RECALL_DROP, POLARITY_PROMOTE_ALPHA, POLARITY_GATE, POLARITY_GATE_MARGIN, POLARITY_GATE_ALPHA, POLARITY_MAX_FEATURES, POLARITY_NGRAM, POLARITY_MIN_DF, POLARITY_MAX_DF, POLARITY_MIN_TOKEN_CHARS, POLARITY_SUBLINEAR_TF, POLARITY_C, POLARITY_CLASS_WEIGHT, POLARITY_MAX_ITER, POLARITY_TOL, POLARITY_GIT_SHA, MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME, POLARITY_MLFLOW_TIMEOUT."
  }
}
