variable "region" {
  description = "AWS region for the state bucket and lock table (use the same region as the main root)."
  type        = string
  default     = "eu-west-1"
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "state_bucket_name" {
  description = "Globally unique name of the S3 bucket holding Terraform state."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be a valid S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)."
  }
}

variable "lock_table_name" {
  description = "Name of the DynamoDB table used for Terraform state locking."
  type        = string
  default     = "polarity-tfstate-lock"
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.lock_table_name))
    error_message = "lock_table_name must be 3-255 characters of letters, digits, '_', '-' or '.'."
  }
}

# --- GitHub OIDC: the roles CD assumes (.github/workflows/cd.yml) ----------------------------------------------

variable "github_repo" {
  description = "GitHub repository (owner/name) whose workflows may assume the CD roles."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repo))
    error_message = "github_repo must look like owner/name."
  }
}

variable "github_branch" {
  description = "Branch whose pushes may assume the plan role (pull requests of the repository may too)."
  type        = string
  default     = "main"
}

variable "github_environment" {
  description = "GitHub environment (with required reviewers) whose jobs may assume the apply role."
  type        = string
  default     = "production"
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (false: one exists already; it is looked up by URL)."
  type        = bool
  default     = true
}

variable "name" {
  description = "Name prefix of the main root's resources (var.name there): the apply role may manage IAM roles and instance profiles named <name>-* only."
  type        = string
  default     = "polarity"
}
