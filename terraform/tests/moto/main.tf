# Test root for scripts/check-aws.sh: the modules moto can emulate (encryption, storage, registry, pipeline),
# composed as in ../../main.tf with the same access.json, applied to a moto server on 127.0.0.1. Not a
# deployment: dummy credentials, every endpoint pointed at moto.

terraform {
  required_version = ">= 1.6.0, < 2.0.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "endpoint" {
  description = "moto server URL, e.g. http://127.0.0.1:5000."
  type        = string
}

variable "access_key" {
  description = "Key id of the moto IAM user that applies (moto enforces IAM in check-aws.sh)."
  type        = string
}

variable "secret_key" {
  description = "Secret of that user."
  type        = string
  sensitive   = true
}

variable "lambda_zip_dir" {
  description = "Directory with polarity-fn-<stage>/bootstrap.zip (dummies are fine: moto stores, never runs them)."
  type        = string
}

variable "bucket_name" {
  description = "Data bucket name."
  type        = string
  default     = "polarity-moto-data"
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = var.access_key
  secret_key                  = var.secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    cloudwatch = var.endpoint
    dynamodb   = var.endpoint
    iam        = var.endpoint
    kms        = var.endpoint
    lambda     = var.endpoint
    logs       = var.endpoint
    s3         = var.endpoint
    sns        = var.endpoint
    sqs        = var.endpoint
    sts        = var.endpoint
  }
}

locals {
  access = jsondecode(file("${path.module}/../../access.json"))
}

module "encryption" {
  source = "../../modules/encryption"
  name   = "polarity"
}

module "storage" {
  source        = "../../modules/storage"
  bucket_name   = var.bucket_name
  kms_key_arn   = module.encryption.key_arn
  force_destroy = true
}

module "registry" {
  source              = "../../modules/registry"
  table_name          = "polarity-registry"
  kms_key_arn         = module.encryption.key_arn
  deletion_protection = false
}

module "pipeline" {
  source              = "../../modules/pipeline"
  name                = "polarity"
  bucket_id           = module.storage.bucket_id
  bucket_arn          = module.storage.bucket_arn
  registry_table_name = module.registry.table_name
  registry_table_arn  = module.registry.table_arn
  kms_key_arn         = module.encryption.key_arn
  lambda_zip_dir      = var.lambda_zip_dir
  access              = local.access.stages
  serve_access        = local.access.serve
  log_retention_days  = 365
  json_logging        = false # moto 5 does not return a function's LoggingConfig: it would never converge
}

output "bucket" {
  value = module.storage.bucket_id
}

output "registry_table" {
  value = module.registry.table_name
}

output "stage_role_arns" {
  value = module.pipeline.stage_role_arns
}
