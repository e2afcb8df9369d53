# Test root for scripts/check-aws.sh: every module (encryption, storage, registry, pipeline, and the serving
# side: network, servers behind the ALB, monitoring host), composed as in ../../main.tf with the same
# access.json, applied to a moto server on 127.0.0.1. Not a
# deployment: dummy credentials, every endpoint pointed at moto. The train task (ECS, ECR) runs in a bare VPC
# and two subnets made here (the network module's NAT, flow logs and endpoints add nothing to what is checked).

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

variable "server_sha256" {
  description = "SHA-256 of the polarity-server binary check-aws.sh uploads as the artifact the user-data installs."
  type        = string
  default     = "0000000000000000000000000000000000000000000000000000000000000000"
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
    cloudwatch  = var.endpoint
    dynamodb    = var.endpoint
    autoscaling = var.endpoint
    ec2         = var.endpoint
    elbv2       = var.endpoint
    ssm         = var.endpoint
    ecr         = var.endpoint
    ecs         = var.endpoint
    events      = var.endpoint
    iam         = var.endpoint
    kms         = var.endpoint
    lambda      = var.endpoint
    logs        = var.endpoint
    s3          = var.endpoint
    sns         = var.endpoint
    sqs         = var.endpoint
    sts         = var.endpoint
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

resource "aws_vpc" "train" {
  #checkov:skip=CKV2_AWS_11:Test VPC inside a local moto server; the deployed network module has flow logs.
  #checkov:skip=CKV2_AWS_12:Test VPC inside a local moto server; the deployed network module closes its default group.
  cidr_block           = "10.40.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true # as the network module's; moto's RunTask (awsvpc) also crashes without it
}

resource "aws_subnet" "train" {
  count      = 2
  vpc_id     = aws_vpc.train.id
  cidr_block = "10.40.${100 + count.index}.0/24"
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
  # the train task: moto stores the task definition and records RunTask calls (it runs no container)
  train_task_image_tag = "moto"
  vpc_id               = aws_vpc.train.id
  task_subnet_ids      = aws_subnet.train[*].id
  force_destroy        = true
}

# --- the serving side: network, servers behind the ALB, monitoring host ------------------------------------
module "network" {
  source             = "../../modules/network"
  name               = "polarity"
  cidr               = "10.50.0.0/16"
  az_count           = 2
  instance_types     = ["t4g.small"]
  single_nat_gateway = true
  kms_key_arn        = module.encryption.key_arn
  log_retention_days = 365
}

module "serving" {
  #checkov:skip=CKV_AWS_150:Test root inside a local moto server: the ALB must be deletable (the deployed root turns protection on).
  source                = "../../modules/serving"
  name                  = "polarity"
  vpc_id                = module.network.vpc_id
  public_subnet_ids     = module.network.public_subnet_ids
  private_subnet_ids    = module.network.private_subnet_ids
  logs_bucket_id        = module.storage.logs_bucket_id
  bucket_id             = module.storage.bucket_id
  bucket_arn            = module.storage.bucket_arn
  registry_table_name   = module.registry.table_name
  registry_table_arn    = module.registry.table_arn
  serve_access          = local.access.serve
  kms_key_arn           = module.encryption.key_arn
  server_version        = "moto"
  server_sha256         = var.server_sha256
  instance_type         = "t4g.small"
  min_size              = 1
  max_size              = 2
  desired_capacity      = 1
  cpu_target_percent    = 60
  certificate_arn       = ""
  allowed_ingress_cidrs = ["0.0.0.0/0"]
  deletion_protection   = false
  waf_web_acl_arn       = ""
  alarm_topic_arn       = module.pipeline.alarm_topic_arn
  api_key_parameter     = aws_ssm_parameter.api_key.name
}

resource "aws_ssm_parameter" "api_key" {
  name   = "/polarity/api-key"
  type   = "SecureString"
  value  = "moto-api-key-0123456789"
  key_id = module.encryption.key_arn
}

module "monitoring" {
  #checkov:skip=CKV_AWS_126:Test root inside a local moto server, which does not implement MonitorInstances (the deployed root keeps detailed monitoring on).
  source                   = "../../modules/monitoring"
  name                     = "polarity"
  vpc_id                   = module.network.vpc_id
  public_subnet_id         = module.network.public_subnet_ids[0]
  allowed_cidrs            = ["203.0.113.10/32"]
  server_security_group_id = module.serving.server_security_group_id
  bucket_id                = aws_s3_bucket.ops.id
  bucket_arn               = aws_s3_bucket.ops.arn
  kms_key_arn              = module.encryption.key_arn
  monitoring_dir           = "${path.root}/../../../monitoring"
  instance_type            = "t4g.small"
  prometheus_image         = "prom/prometheus:v2.55.1"
  grafana_image            = "grafana/grafana:11.5.2"
  alertmanager_image       = "prom/alertmanager:v0.28.1"
  alarm_topic_arn          = module.pipeline.alarm_topic_arn
  detailed_monitoring      = false # moto does not implement MonitorInstances (the provider would retry forever)
}

# The monitoring host's configuration goes to a bucket of its own here: moto evaluates only StringEquals
# conditions, so the data bucket's TLS-only policy (Deny unless aws:SecureTransport) denies every request to
# moto's plain-HTTP endpoint, and Terraform could neither upload nor refresh the objects.
resource "aws_s3_bucket" "ops" {
  #checkov:skip=CKV2_AWS_62:Test bucket inside a local moto server.
  #checkov:skip=CKV_AWS_144:Test bucket inside a local moto server.
  #checkov:skip=CKV_AWS_145:Test bucket inside a local moto server.
  #checkov:skip=CKV_AWS_18:Test bucket inside a local moto server.
  #checkov:skip=CKV_AWS_21:Test bucket inside a local moto server.
  #checkov:skip=CKV2_AWS_61:Test bucket inside a local moto server.
  #checkov:skip=CKV2_AWS_6:Test bucket inside a local moto server.
  bucket        = "polarity-moto-ops"
  force_destroy = true
}

output "alb_dns_name" {
  value = module.serving.alb_dns_name
}

output "launch_template_id" {
  value = module.serving.launch_template_id
}

output "monitoring_instance_id" {
  value = module.monitoring.instance_id
}

output "api_key_parameter" {
  value = aws_ssm_parameter.api_key.name
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

output "train_task" {
  value = module.pipeline.train_task
}

output "function_names" {
  value = module.pipeline.function_names
}
