# Polarity on AWS. One module per concern:
#   encryption  the project KMS key
#   storage     data bucket (pipeline prefixes, artifacts, monitoring configs) and access-log bucket
#   registry    DynamoDB model registry
#   pipeline    S3-triggered Lambda stages, their notification, failure queue, alarms, serverless /predict,
#               the ECS Fargate train task for datasets above one Lambda (in the network's private subnets)
#   network     VPC, subnets, NAT, gateway endpoints, flow logs
#   serving     ALB -> target group (health check /health) -> ASG of polarity-server instances
#   monitoring  Prometheus (EC2 discovery) + Alertmanager (-> SNS) + Grafana, provisioned from ../monitoring
#
# Who may read/list/write which keys, and which events trigger which stage, is ONE table: access.json, generated
# from the Rust code (shared/pipeline/src/layout.rs) and kept equal to it by a Rust test. Do not edit it by hand.

locals {
  access = jsondecode(file("${path.module}/access.json"))
}

module "encryption" {
  source = "./modules/encryption"
  name   = var.name
}

module "storage" {
  source                     = "./modules/storage"
  bucket_name                = var.bucket_name
  kms_key_arn                = module.encryption.key_arn
  force_destroy              = var.force_destroy
  quarantine_expiration_days = var.quarantine_expiration_days
}

module "registry" {
  source              = "./modules/registry"
  table_name          = var.registry_table_name
  kms_key_arn         = module.encryption.key_arn
  deletion_protection = var.deletion_protection
}

module "pipeline" {
  source                     = "./modules/pipeline"
  name                       = var.name
  bucket_id                  = module.storage.bucket_id
  bucket_arn                 = module.storage.bucket_arn
  registry_table_name        = module.registry.table_name
  registry_table_arn         = module.registry.table_arn
  kms_key_arn                = module.encryption.key_arn
  lambda_zip_dir             = var.lambda_zip_dir != "" ? var.lambda_zip_dir : "${path.root}/../target/lambda"
  stage_sizing               = var.stage_sizing
  access                     = local.access.stages
  serve_access               = local.access.serve
  ingest_process_concurrency = var.ingest_process_concurrency
  train_concurrency          = var.train_concurrency
  validate_concurrency       = var.validate_concurrency
  predict_concurrency        = var.predict_concurrency
  predict_url_auth_type      = var.predict_url_auth_type
  max_retry_attempts         = var.max_retry_attempts
  max_event_age_seconds      = var.max_event_age_seconds
  log_retention_days         = var.log_retention_days
  alarm_email                = var.alarm_email
  pipeline_settings          = var.pipeline_settings
  train_bytes_per_row        = var.train_bytes_per_row
  train_rows_per_second      = var.train_rows_per_second
  train_task_image_tag       = var.train_task_image_tag
  train_task_cpu             = var.train_task_cpu
  train_task_memory          = var.train_task_memory
  vpc_id                     = module.network.vpc_id
  task_subnet_ids            = module.network.private_subnet_ids
  force_destroy              = var.force_destroy
}

module "network" {
  source             = "./modules/network"
  name               = var.name
  cidr               = var.vpc_cidr
  az_count           = var.az_count
  instance_types     = distinct([var.instance_type, var.monitoring_instance_type])
  single_nat_gateway = var.single_nat_gateway
  kms_key_arn        = module.encryption.key_arn
  log_retention_days = var.log_retention_days
}

module "serving" {
  source                = "./modules/serving"
  name                  = var.name
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
  server_version        = var.server_version
  server_sha256         = var.server_sha256
  instance_type         = var.instance_type
  min_size              = var.asg_min_size
  max_size              = var.asg_max_size
  desired_capacity      = var.asg_desired_capacity
  cpu_target_percent    = var.cpu_target_percent
  certificate_arn       = var.certificate_arn
  allowed_ingress_cidrs = var.allowed_ingress_cidrs
  deletion_protection   = var.deletion_protection
  waf_web_acl_arn       = var.waf_web_acl_arn
  alarm_topic_arn       = module.pipeline.alarm_topic_arn
  api_key_parameter     = var.api_key_parameter
}

module "monitoring" {
  source                   = "./modules/monitoring"
  name                     = var.name
  vpc_id                   = module.network.vpc_id
  public_subnet_id         = module.network.public_subnet_ids[0]
  allowed_cidrs            = var.monitoring_allowed_cidrs
  server_security_group_id = module.serving.server_security_group_id
  bucket_id                = module.storage.bucket_id
  bucket_arn               = module.storage.bucket_arn
  kms_key_arn              = module.encryption.key_arn
  monitoring_dir           = "${path.root}/../monitoring"
  instance_type            = var.monitoring_instance_type
  prometheus_image         = var.prometheus_image
  grafana_image            = var.grafana_image
  alertmanager_image       = var.alertmanager_image
  alarm_topic_arn          = module.pipeline.alarm_topic_arn
}
