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
    condition     = alltrue([for k in keys(var.pipeline_settings) : contains(jsondecode(file("${path.module}/../../settings.json")).settings, k)])
    error_message = "pipeline_settings keys must be pipeline settings: the variables terraform/settings.json lists (`polarity pipeline run --help` explains each)."
  }
}

# --- training past one Lambda (train_task.tf) -------------------------------------------------------------------

variable "train_bytes_per_row" {
  description = "The rows-per-GB rule: peak memory of a training run per training row, in bytes (1024 B = 1 048 576 rows per GiB: the train stage peaked at 723 B per training row on SST-2-length texts, ~55 characters; longer texts need more). POLARITY_TRAIN_MAX_ROWS of the train function = min(memory / this, timeout x train_rows_per_second)."
  type        = number
  default     = 1024
  nullable    = false
  validation {
    condition     = var.train_bytes_per_row >= 16 && var.train_bytes_per_row <= 1048576
    error_message = "train_bytes_per_row must be between 16 and 1048576."
  }
}

variable "upload_bytes_per_byte" {
  description = "The upload rule: peak memory of the ingest and process functions per byte of a (decompressed) upload (measured 6.7-7.3 for ingest, 9.4-11.1 for process; bench/results/stage-memory.md). The ingest function's POLARITY_MAX_UPLOAD_BYTES = min(the setting, the smaller of their memories / this)."
  type        = number
  default     = 12
  nullable    = false
  validation {
    condition     = var.upload_bytes_per_byte >= 1 && var.upload_bytes_per_byte <= 1024
    error_message = "upload_bytes_per_byte must be between 1 and 1024."
  }
}

variable "validate_bytes_per_row" {
  description = "The validate rule: peak memory of the validate function per held-out row (measured 480-525 B on SST-2-length texts; bench/results/stage-memory.md). Validate's default memory holds the held-out rows of the largest training run; its POLARITY_VALIDATE_MAX_ROWS = memory / this."
  type        = number
  default     = 768
  nullable    = false
  validation {
    condition     = var.validate_bytes_per_row >= 16 && var.validate_bytes_per_row <= 1048576
    error_message = "validate_bytes_per_row must be between 16 and 1048576."
  }
}

variable "train_rows_per_second" {
  description = "The time rule: training rows vectorised and fitted per second (the train stage did 39 000/s on 2 vCPUs; a 2 GB Lambda has ~1.2). POLARITY_TRAIN_MAX_ROWS of the train function is at most its timeout times this."
  type        = number
  default     = 30000
  nullable    = false
  validation {
    condition     = var.train_rows_per_second >= 1
    error_message = "train_rows_per_second must be at least 1."
  }
}

variable "train_task_image_tag" {
  description = "Tag of the train task image in the module's ECR repository (<name>-train-task), pushed by CD. Empty: no task; the train function trains in process even above POLARITY_TRAIN_MAX_ROWS (with a warning)."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = var.train_task_image_tag == "" || can(regex("^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$", var.train_task_image_tag))
    error_message = "train_task_image_tag must be empty or a Docker tag (letters, digits, '_', '.', '-'; at most 128)."
  }
}

variable "train_task_cpu" {
  description = "CPU units of the train task (Fargate, ARM64): 1024, 2048, 4096 (default, 4 vCPU), 8192 or 16384."
  type        = number
  default     = 4096
  nullable    = false
  validation {
    condition     = contains([1024, 2048, 4096, 8192, 16384], var.train_task_cpu)
    error_message = "train_task_cpu must be 1024, 2048, 4096, 8192 or 16384 (1-16 vCPU)."
  }
}

variable "train_task_memory" {
  description = "Memory of the train task in MiB (default 30720 = 30 GB); must fit the CPU (Fargate: 1 vCPU 2-8 GB, 2 vCPU 4-16 GB, 4 vCPU 8-30 GB in 1 GB steps; 8 vCPU 16-60 GB in 4 GB steps; 16 vCPU 32-120 GB in 8 GB steps)."
  type        = number
  default     = 30720
  nullable    = false
  validation {
    condition     = var.train_task_memory >= 2048 && var.train_task_memory <= 122880 && var.train_task_memory % 1024 == 0
    error_message = "train_task_memory must be 2048-122880 MiB (2-120 GB) in whole GB."
  }
}

variable "vpc_id" {
  description = "VPC of the train task's security group (needed with train_task_image_tag)."
  type        = string
  default     = ""
}

variable "task_subnet_ids" {
  description = "Subnets the train task runs in: private subnets with a NAT gateway (ECR, Logs) and the S3/DynamoDB gateway endpoints; no public IP is assigned."
  type        = list(string)
  default     = []
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the train task's ECR repository with its images."
  type        = bool
  default     = false
}
