# The data bucket (pipeline prefixes, model artifacts, server binaries, monitoring configs) and a log bucket
# for S3 server access logs and ALB access logs.
#
# Prefixes (routing in shared/core/src/routing.rs): incoming/ raw/ quarantine/ processed/ models/ decisions/,
# plus artifacts/ (server binaries, uploaded by CD) and ops/ (monitoring configs, uploaded by Terraform).

data "aws_region" "current" {}

locals {
  # ALB access-log delivery: Regions opened before August 2022 deliver as the Region's Elastic Load Balancing
  # account (AWS's documented list, below); later Regions as the logdelivery.elasticloadbalancing.amazonaws.com
  # service principal, which every Region accepts. The provider's aws_elb_service_account data source fails
  # the plan in the newer Regions ("unsupported AWS Region"), so the list lives here.
  elb_log_accounts = {
    "us-east-1"      = "127311923021"
    "us-east-2"      = "033677994240"
    "us-west-1"      = "027434742980"
    "us-west-2"      = "797873946194"
    "af-south-1"     = "098369216593"
    "ap-east-1"      = "754344448648"
    "ap-southeast-3" = "589379963580"
    "ap-south-1"     = "718504428378"
    "ap-northeast-3" = "383597477331"
    "ap-northeast-2" = "600734575887"
    "ap-southeast-1" = "114774131450"
    "ap-southeast-2" = "783225319266"
    "ap-northeast-1" = "582318560864"
    "ca-central-1"   = "985666609251"
    "eu-central-1"   = "054676820928"
    "eu-west-1"      = "156460612806"
    "eu-west-2"      = "652711504416"
    "eu-south-1"     = "635631232127"
    "eu-west-3"      = "009996457667"
    "eu-north-1"     = "897822967062"
    "me-south-1"     = "076674570225"
    "sa-east-1"      = "507241528517"
    "us-gov-west-1"  = "048591011584"
    "us-gov-east-1"  = "190560391635"
    "cn-north-1"     = "638102146993"
    "cn-northwest-1" = "037604701340"
  }
  elb_log_account = lookup(local.elb_log_accounts, data.aws_region.current.name, null)
  alb_log_account_statement = local.elb_log_account == null ? [] : [{
    Sid       = "AlbAccessLogs"
    Effect    = "Allow"
    Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${local.elb_log_account}:root" }
    Action    = "s3:PutObject"
    Resource  = "${aws_s3_bucket.logs.arn}/alb/*"
  }]
}

data "aws_partition" "current" {}

resource "aws_s3_bucket" "data" {
  #checkov:skip=CKV2_AWS_62:Event notifications are configured by aws_s3_bucket_notification.pipeline in modules/pipeline, which checkov cannot link across modules.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a DR decision per account; versioning + lifecycle cover accidental deletes.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_versioning" "data" {
  bucket = aws_s3_bucket.data.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  bucket                  = aws_s3_bucket.data.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# Principal {"AWS": "*"} instead of the plain string "*" in the Deny statements: the two are equivalent in AWS
# (every principal, anonymous included), but moto 5.x's S3 answers 500 (which the provider retries forever) to a
# policy with Principal "*" on a bucket with access logging, and scripts/check-aws.sh applies this module to moto.
resource "aws_s3_bucket_policy" "data" {
  bucket = aws_s3_bucket.data.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = { AWS = "*" }
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.data.arn, "${aws_s3_bucket.data.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.data]
}

# S3 checks the target bucket when logging is configured: its policy must already admit logging.s3.amazonaws.com
# (else InvalidTargetBucketForLogging), and bucket-owner-enforced ownership must be in place.
resource "aws_s3_bucket_logging" "data" {
  bucket        = aws_s3_bucket.data.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${var.bucket_name}/"
  depends_on    = [aws_s3_bucket_policy.logs, aws_s3_bucket_ownership_controls.logs]
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  bucket = aws_s3_bucket.data.id

  rule {
    id     = "expire-quarantine"
    status = "Enabled"
    filter {
      prefix = "quarantine/"
    }
    expiration {
      days = var.quarantine_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
  }

  rule {
    id     = "expire-uploads"
    status = "Enabled"
    filter {
      prefix = "incoming/"
    }
    expiration {
      days = var.incoming_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
  }

  # Model artifacts and server binaries are immutable and referenced by the registry: keep current versions
  # (a rollback may need any of them) but drop overwritten/deleted versions after a grace period.
  rule {
    id     = "old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# --- log bucket ----------------------------------------------------------------------------------------------

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_145:ALB access-log delivery supports only SSE-S3 (AES256), not SSE-KMS.
  #checkov:skip=CKV_AWS_18:This is the access-log target; logging it to itself would loop.
  #checkov:skip=CKV_AWS_144:Access logs are not replicated; they expire after log_expiration_days.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the log bucket.
  bucket        = "${var.bucket_name}-logs"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = { AWS = "*" } # = "*"; see the data bucket's policy
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "S3ServerAccessLogs"
        Effect    = "Allow"
        Principal = { Service = "logging.s3.amazonaws.com" }
        Action    = "s3:PutObject"
        # exactly the data bucket's target prefix + "*" (moto, like a strict reader, requires this form)
        Resource  = "${aws_s3_bucket.logs.arn}/s3/${var.bucket_name}/*"
        Condition = { ArnLike = { "aws:SourceArn" = aws_s3_bucket.data.arn } }
      },
      {
        Sid       = "AlbAccessLogsDelivery"
        Effect    = "Allow"
        Principal = { Service = "logdelivery.elasticloadbalancing.amazonaws.com" }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.logs.arn}/alb/*"
      },
    ], local.alb_log_account_statement)
  })
  depends_on = [aws_s3_bucket_public_access_block.logs]
}
