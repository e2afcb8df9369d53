variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "name" {
  description = "Name prefix of every resource; the functions are <name>-ingest, -process, -train, -validate, -predict."
  type        = string
  default     = "polarity"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource."
  type        = map(string)
  default     = {}
}

variable "bucket_name" {
  description = "Globally unique name of the data bucket (the log bucket is <bucket_name>-logs)."
  type        = string
  validation {
    # S3 names are at most 63 characters and the log bucket is "<bucket_name>-logs": at most 58 here.
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,56}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-58 lower-case letters, digits or hyphens (\"-logs\" is appended for the log bucket, and S3 allows 63)."
  }
}

variable "registry_table_name" {
  description = "DynamoDB registry table name."
  type        = string
  default     = "polarity-registry"
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.registry_table_name))
    error_message = "registry_table_name must be 3-255 letters, digits, '_', '-' or '.'."
  }
}

variable "deletion_protection" {
  description = "Deletion protection on the registry table and the ALB. Set false and apply before `terraform destroy`."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete non-empty buckets (data loss!)."
  type        = bool
  default     = false
}

variable "quarantine_expiration_days" {
  description = "Days after which quarantined rows are deleted."
  type        = number
  default     = 30
  validation {
    condition     = var.quarantine_expiration_days >= 1 && var.quarantine_expiration_days <= 3650
    error_message = "quarantine_expiration_days must be between 1 and 3650."
  }
}

# --- pipeline --------------------------------------------------------------------------------------------------

variable "lambda_zip_dir" {
  description = "Directory with <crate>/bootstrap.zip from `cargo lambda build --release --arm64 --output-format zip` (empty: ../target/lambda)."
  type        = string
  default     = ""
}

variable "stage_sizing" {
  description = "Per-stage overrides of Lambda { memory (MB), timeout (s) }, keyed by ingest/process/train/validate."
  type        = map(object({ memory = number, timeout = number }))
  default     = {}
  validation {
    condition = alltrue([
      for k, v in var.stage_sizing : contains(["ingest", "process", "train", "validate"], k)
      && v.memory >= 128 && v.memory <= 10240 && v.timeout >= 1 && v.timeout <= 900
    ])
    error_message = "stage_sizing keys must be stages; memory 128-10240 MB, timeout 1-900 s."
  }
}

# Reserved concurrency is opt-in. A new account's concurrency quota can be as low as 10 and Lambda keeps 10 of
# it unreserved, so ANY reservation fails `terraform apply` there (InvalidParameterValueException). Correctness
# does not need one: train writes content-addressed versions and validate promotes through conditional writes.
# Reserve only after raising the quota (Service Quotas -> Lambda -> Concurrent executions); see terraform/README.md ("No reserved concurrency by default").
variable "ingest_process_concurrency" {
  description = "Reserved concurrency of ingest and of process (each). null (default): unreserved."
  type        = number
  default     = null
  validation {
    condition     = var.ingest_process_concurrency == null || try(var.ingest_process_concurrency >= 1 && var.ingest_process_concurrency <= 100, false)
    error_message = "ingest_process_concurrency must be null or between 1 and 100."
  }
}

variable "train_concurrency" {
  description = "Reserved concurrency of train. null (default): unreserved (versions are content-addressed, parallel runs are safe)."
  type        = number
  default     = null
  validation {
    condition     = var.train_concurrency == null || try(var.train_concurrency >= 1 && var.train_concurrency <= 100, false)
    error_message = "train_concurrency must be null or between 1 and 100."
  }
}

variable "validate_concurrency" {
  description = "Reserved concurrency of validate. null (default): unreserved (promotions are conditional writes, parallel runs are safe)."
  type        = number
  default     = null
  validation {
    condition     = var.validate_concurrency == null || try(var.validate_concurrency >= 1 && var.validate_concurrency <= 100, false)
    error_message = "validate_concurrency must be null or between 1 and 100."
  }
}

variable "predict_concurrency" {
  description = "Reserved concurrency of the predict function. null (default): unreserved."
  type        = number
  default     = null
  validation {
    condition     = var.predict_concurrency == null || try(var.predict_concurrency >= 1 && var.predict_concurrency <= 1000, false)
    error_message = "predict_concurrency must be null or between 1 and 1000."
  }
}

variable "predict_url_auth_type" {
  description = "Auth of the predict function URL: AWS_IAM (default; callers sign with SigV4) or NONE (public)."
  type        = string
  default     = "AWS_IAM"
  validation {
    condition     = contains(["AWS_IAM", "NONE"], var.predict_url_auth_type)
    error_message = "predict_url_auth_type must be AWS_IAM or NONE."
  }
}

variable "max_retry_attempts" {
  description = "Async invoke retries of a stage before its event goes to the failure queue."
  type        = number
  default     = 2
  validation {
    condition     = var.max_retry_attempts >= 0 && var.max_retry_attempts <= 2
    error_message = "max_retry_attempts must be 0, 1 or 2 (the Lambda limit)."
  }
}

variable "max_event_age_seconds" {
  description = "Maximum age of a stage's async event before it goes to the failure queue."
  type        = number
  default     = 3600
  validation {
    condition     = var.max_event_age_seconds >= 60 && var.max_event_age_seconds <= 21600
    error_message = "max_event_age_seconds must be between 60 and 21600."
  }
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention (functions, flow logs)."
  type        = number
  default     = 365
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (e.g. 30, 90, 365)."
  }
}

variable "alarm_email" {
  description = "E-mail subscribed to the alarm topic (empty: subscribe something else to the topic output)."
  type        = string
  default     = ""
  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be empty or an e-mail address."
  }
}

# Training past one Lambda (terraform/README.md "Training past one Lambda"). null: the pipeline module's defaults
# (modules/pipeline/variables.tf), where the rule is computed.
variable "train_bytes_per_row" {
  description = "The rows-per-GB rule: peak bytes of a training run per training row (null: the module default, 1024 B = 1 048 576 rows per GiB). The train function's POLARITY_TRAIN_MAX_ROWS = min(memory / this, timeout x train_rows_per_second)."
  type        = number
  default     = null
}

variable "train_rows_per_second" {
  description = "The time rule: training rows vectorised and fitted per second (null: the module default, 30000)."
  type        = number
  default     = null
}

# Like server_version, set by CD (TF_VAR_ or -var) for the image it just pushed; not in a tfvars file.
variable "train_task_image_tag" {
  description = "Tag of the train task image in ECR (<name>-train-task), pushed by CD. Empty (default): no ECS task; the train function trains everything itself, warning above its row limit."
  type        = string
  default     = ""
}

variable "train_task_cpu" {
  description = "CPU units of the train task (Fargate ARM64; null: the module default, 4096 = 4 vCPU; up to 16384)."
  type        = number
  default     = null
}

variable "train_task_memory" {
  description = "Memory of the train task in MiB (null: the module default, 30720 = 30 GB; up to 122880 with 16 vCPU)."
  type        = number
  default     = null
}

# --- network and serving ---------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "VPC CIDR; a /16 (subnets are /24s carved from it)."
  type        = string
  default     = "10.40.0.0/16"
  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && endswith(var.vpc_cidr, "/16")
    error_message = "vpc_cidr must be a valid /16 CIDR."
  }
}

variable "az_count" {
  description = "Availability zones to span (the ALB needs at least 2)."
  type        = number
  default     = 2
  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count must be between 2 and 4."
  }
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway (cheaper) instead of one per AZ (survives losing an AZ)."
  type        = bool
  default     = true
}

# server_version and server_sha256 have no defaults and belong in no tfvars file: CD sets them (TF_VAR_ or -var)
# for the binary it just uploaded. A terraform.tfvars value would beat TF_VAR_ and pin a stale or absent binary.
variable "server_version" {
  description = "Server artifact to run: s3://<bucket>/artifacts/server/<server_version>/polarity-server (uploaded by CD). A change creates a new launch template version; CD rolls it out (terraform/deploy/instance-refresh.sh)."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.server_version))
    error_message = "server_version must be 1-64 letters, digits, '.', '_' or '-' (e.g. a git SHA)."
  }
}

variable "server_sha256" {
  description = "SHA-256 of the server artifact (64 lower-case hex digits); user-data refuses to install a binary that does not match."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.server_sha256))
    error_message = "server_sha256 must be 64 lower-case hex digits (sha256sum of the uploaded polarity-server)."
  }
}

variable "instance_type" {
  description = "Server instance type; must be Graviton (arm64) because the artifact is an aarch64 binary."
  type        = string
  default     = "t4g.small"
  validation {
    condition     = can(regex("^[a-z][0-9]+g[a-z]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must be a Graviton type such as t4g.small, c7g.large or m7gd.xlarge."
  }
}

variable "asg_min_size" {
  description = "Minimum number of server instances."
  type        = number
  default     = 2
  validation {
    condition     = var.asg_min_size >= 1
    error_message = "asg_min_size must be at least 1."
  }
}

variable "asg_max_size" {
  description = "Maximum number of server instances."
  type        = number
  default     = 6
  validation {
    condition     = var.asg_max_size >= 1 && var.asg_max_size <= 100
    error_message = "asg_max_size must be between 1 and 100."
  }
}

variable "asg_desired_capacity" {
  description = "Initial number of server instances (target tracking owns it afterwards)."
  type        = number
  default     = 2
  validation {
    condition     = var.asg_desired_capacity >= 1
    error_message = "asg_desired_capacity must be at least 1."
  }
}

variable "cpu_target_percent" {
  description = "Average CPU the target-tracking policy holds the ASG at."
  type        = number
  default     = 60
  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 10 and 90."
  }
}

variable "certificate_arn" {
  description = "ACM certificate ARN for HTTPS on the ALB (empty: HTTP only; with it, HTTP redirects to HTTPS)."
  type        = string
  default     = ""
  validation {
    condition     = var.certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be empty or an ACM certificate ARN."
  }
}

variable "allowed_ingress_cidrs" {
  description = "CIDRs allowed to call the ALB."
  type        = list(string)
  default     = ["0.0.0.0/0"]
  validation {
    condition     = length(var.allowed_ingress_cidrs) > 0 && alltrue([for c in var.allowed_ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "allowed_ingress_cidrs must be a non-empty list of IPv4 CIDRs."
  }
}

variable "waf_web_acl_arn" {
  description = "Optional WAFv2 web ACL ARN to associate with the ALB."
  type        = string
  default     = ""
}

# --- monitoring ------------------------------------------------------------------------------------------------

variable "monitoring_allowed_cidrs" {
  description = "CIDRs allowed to reach Grafana (3000) and Prometheus (9090), e.g. your office /32."
  type        = list(string)
  validation {
    condition = length(var.monitoring_allowed_cidrs) > 0 && alltrue([
      for c in var.monitoring_allowed_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"
    ])
    error_message = "monitoring_allowed_cidrs must be a non-empty list of IPv4 CIDRs, none of them 0.0.0.0/0."
  }
}

variable "monitoring_instance_type" {
  description = "Graviton instance type of the Prometheus/Grafana host."
  type        = string
  default     = "t4g.small"
  validation {
    condition     = can(regex("^[a-z][0-9]+g[a-z]*\\.[a-z0-9]+$", var.monitoring_instance_type))
    error_message = "monitoring_instance_type must be a Graviton type such as t4g.small."
  }
}

variable "prometheus_image" {
  description = "Prometheus image (keep equal to docker-compose.yml)."
  type        = string
  default     = "prom/prometheus:v2.55.1"
}

variable "grafana_image" {
  description = "Grafana image (keep equal to docker-compose.yml)."
  type        = string
  default     = "grafana/grafana:11.5.2"
}

variable "alertmanager_image" {
  description = "Alertmanager image (keep equal to docker-compose.yml)."
  type        = string
  default     = "prom/alertmanager:v0.28.1"
}

variable "pipeline_settings" {
  description = "Pipeline settings for the stage functions, as the environment variables `polarity pipeline run --help` lists (e.g. { POLARITY_C = \"0.5\", POLARITY_NGRAM = \"1,3\", POLARITY_CLASS_WEIGHT = \"balanced\", POLARITY_GATE_ALPHA = \"0.001\" }). A bad value fails the functions at cold start with a message naming the variable."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.pipeline_settings) : contains(jsondecode(file("${path.module}/settings.json")).settings, k)])
    error_message = "pipeline_settings keys must be pipeline settings: the variables terraform/settings.json lists (`polarity pipeline run --help` explains each)."
  }
}

variable "api_key_parameter" {
  description = "Name of an SSM SecureString parameter (encrypted with the project KMS key) holding the bearer token /predict and /v2/* require; empty: no auth. The instances read it at boot; it never appears in user-data."
  type        = string
  default     = ""
}
