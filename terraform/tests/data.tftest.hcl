# Storage, registry and encryption modules, planned with the real provider offline (see pipeline.tftest.hcl):
# encryption at rest, TLS-only bucket policies, log delivery admitted, lifecycle.

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

# A Region opened after August 2022 (ALB logs come from the log-delivery service principal only).
provider "aws" {
  alias                       = "zurich"
  region                      = "eu-central-2"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

run "storage" {
  command = plan
  module {
    source = "./modules/storage"
  }
  variables {
    bucket_name = "polarity-test-data"
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  }
  override_resource {
    target          = aws_s3_bucket.data
    override_during = plan
    values          = { id = "polarity-test-data", arn = "arn:aws:s3:::polarity-test-data" }
  }
  override_resource {
    target          = aws_s3_bucket.logs
    override_during = plan
    values          = { id = "polarity-test-data-logs", arn = "arn:aws:s3:::polarity-test-data-logs" }
  }

  assert {
    condition = (
      one(one(aws_s3_bucket_server_side_encryption_configuration.data.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" &&
      one(one(aws_s3_bucket_server_side_encryption_configuration.data.rule).apply_server_side_encryption_by_default).kms_master_key_id == var.kms_key_arn
    )
    error_message = "The data bucket must default to SSE-KMS with the project key."
  }
  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.logs.rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "The log bucket must be encrypted (SSE-S3: ALB log delivery cannot use KMS)."
  }
  assert {
    condition = alltrue([
      for b in [aws_s3_bucket_public_access_block.data, aws_s3_bucket_public_access_block.logs] :
      b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets
    ])
    error_message = "Both buckets must block public access."
  }
  assert {
    condition = alltrue([
      for p in [aws_s3_bucket_policy.data.policy, aws_s3_bucket_policy.logs.policy] : anytrue([
        for st in jsondecode(p).Statement :
        st.Effect == "Deny" && try(st.Principal == { AWS = "*" } && st.Condition.Bool["aws:SecureTransport"] == "false", false)
      ])
    ])
    error_message = "Both buckets must deny non-TLS access (Principal {AWS: *}, the moto-safe spelling of *)."
  }
  assert {
    condition = toset([
      for st in jsondecode(aws_s3_bucket_policy.logs.policy).Statement : st.Sid if st.Effect == "Allow"
    ]) == toset(["S3ServerAccessLogs", "AlbAccessLogs", "AlbAccessLogsDelivery"])
    error_message = "The log bucket policy must admit S3 server access logs and ALB log delivery."
  }
  assert {
    condition = one([
      for st in jsondecode(aws_s3_bucket_policy.logs.policy).Statement : st.Principal.AWS if st.Sid == "AlbAccessLogs"
    ]) == "arn:aws:iam::156460612806:root"
    error_message = "In eu-west-1, ALB logs are delivered by that Region's Elastic Load Balancing account."
  }
  assert {
    condition     = aws_s3_bucket_logging.data.target_bucket == "polarity-test-data-logs" && aws_s3_bucket_versioning.data.versioning_configuration[0].status == "Enabled"
    error_message = "The data bucket must be versioned and log to <bucket>-logs."
  }
}

run "storage_in_a_region_opened_after_2022" {
  command   = plan
  providers = { aws = aws.zurich }
  module {
    source = "./modules/storage"
  }
  variables {
    bucket_name = "polarity-test-data"
    kms_key_arn = "arn:aws:kms:eu-central-2:123456789012:key/00000000-0000-0000-0000-000000000000"
  }
  override_resource {
    target          = aws_s3_bucket.data
    override_during = plan
    values          = { id = "polarity-test-data", arn = "arn:aws:s3:::polarity-test-data" }
  }
  override_resource {
    target          = aws_s3_bucket.logs
    override_during = plan
    values          = { id = "polarity-test-data-logs", arn = "arn:aws:s3:::polarity-test-data-logs" }
  }
  assert {
    condition = toset([
      for st in jsondecode(aws_s3_bucket_policy.logs.policy).Statement : st.Sid if st.Effect == "Allow"
    ]) == toset(["S3ServerAccessLogs", "AlbAccessLogsDelivery"])
    error_message = "A Region opened after August 2022 plans, and admits ALB logs through the log-delivery service principal only."
  }
}

run "registry" {
  command = plan
  module {
    source = "./modules/registry"
  }
  variables {
    table_name  = "polarity-registry"
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  }
  assert {
    condition = (
      aws_dynamodb_table.registry.server_side_encryption[0].enabled &&
      aws_dynamodb_table.registry.server_side_encryption[0].kms_key_arn == var.kms_key_arn &&
      aws_dynamodb_table.registry.point_in_time_recovery[0].enabled &&
      aws_dynamodb_table.registry.deletion_protection_enabled
    )
    error_message = "The registry table must be KMS-encrypted with PITR and deletion protection."
  }
}

run "encryption" {
  command = plan
  module {
    source = "./modules/encryption"
  }
  variables {
    name = "polarity"
  }
  override_data {
    target = data.aws_caller_identity.current
    values = { account_id = "123456789012" }
  }
  assert {
    condition     = aws_kms_key.this.enable_key_rotation && aws_kms_key.this.deletion_window_in_days == 30
    error_message = "The project key must rotate."
  }
}
