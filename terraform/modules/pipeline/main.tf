# The S3-triggered pipeline: four Lambda stages, their least-privilege roles, async-invoke settings with an
# SQS on-failure destination (alarmed), the one bucket notification, and the serverless /predict function.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # Who may touch which keys: var.access, the `stages` table of terraform/access.json (generated from
  # shared/pipeline/src/layout.rs; a Rust test keeps file and code equal). Per stage: `get` and `put` are key
  # patterns (IAM resource suffixes), `list` the prefixes the role may list, `registry` the DynamoDB actions,
  # `triggers` the S3 notification filters. Every stage first reads its own output (idempotency check), so
  # its `get` includes the prefixes it writes.
  stages = var.access

  # Reserved concurrency per stage: null (the default) leaves the function in the unreserved pool, which a new
  # account (concurrency quota 10, of which Lambda keeps 10 unreserved) needs; see terraform/README.md ("No reserved concurrency by default").
  concurrency = {
    ingest   = var.ingest_process_concurrency
    process  = var.ingest_process_concurrency
    train    = var.train_concurrency
    validate = var.validate_concurrency
  }

  # One notification per trigger; ids "<stage>-<n>" (train has two triggers).
  triggers = flatten([
    for stage in sort(keys(var.access)) : [
      for i, t in var.access[stage].triggers : {
        id     = "${stage}-${i}"
        stage  = stage
        prefix = t.prefix
        suffix = t.suffix
      }
    ]
  ])


  # ARNs the policies name, spelled from names rather than read from the resources: a policy document that
  # references a resource being created is only rendered at apply time, and terraform/tests compare the
  # rendered documents at plan time. The resources below have exactly these names.
  arn_prefix     = "arn:${data.aws_partition.current.partition}"
  region_account = "${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  log_group_arn  = { for k in concat(keys(var.access), ["predict"]) : k => "${local.arn_prefix}:logs:${local.region_account}:log-group:/aws/lambda/${var.name}-${k}" }
  failures_arn   = "${local.arn_prefix}:sqs:${local.region_account}:${var.name}-pipeline-failures"
  # spelled from the name so that the topic policy renders at plan time
  alarms_topic_arn = "${local.arn_prefix}:sns:${local.region_account}:${var.name}-alarms"
  failures_name    = "${var.name}-pipeline-failures"

  function_env = merge(var.pipeline_settings, {
    POLARITY_STORE    = "s3://${var.bucket_id}"
    POLARITY_REGISTRY = "dynamodb://${var.registry_table_name}"
    RUST_LOG          = var.rust_log
  })
}

# --- logs ------------------------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "fn" {
  for_each          = toset(concat(keys(local.stages), ["predict"]))
  name              = "/aws/lambda/${var.name}-${each.key}" # = local.log_group_arn
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# --- failure destination -------------------------------------------------------------------------------------

resource "aws_sqs_queue" "failures" {
  name                      = local.failures_name
  message_retention_seconds = 1209600 # 14 days, the maximum: time to inspect and replay
  kms_master_key_id         = var.kms_key_arn
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms" # = local.alarms_topic_arn
  kms_master_key_id = var.kms_key_arn
}

# Who may publish: CloudWatch alarms of this account, and (with the train task) the EventBridge rule that reports
# a failed training task; this account's principals keep what SNS's default policy gives them.
data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid = "AccountPrincipals"
    principals {
      type        = "AWS"
      identifiers = ["${local.arn_prefix}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
    actions   = ["sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:AddPermission", "sns:RemovePermission", "sns:DeleteTopic", "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:Publish"]
    resources = [local.alarms_topic_arn]
  }
  statement {
    sid = "CloudWatchAlarms"
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    actions   = ["sns:Publish"]
    resources = [local.alarms_topic_arn]
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["${local.arn_prefix}:cloudwatch:${local.region_account}:alarm:*"]
    }
  }
  dynamic "statement" {
    for_each = local.task_enabled ? [local.task_failed_rule_arn] : []
    content {
      sid = "TrainTaskFailedRule"
      principals {
        type        = "Service"
        identifiers = ["events.amazonaws.com"]
      }
      actions   = ["sns:Publish"]
      resources = [local.alarms_topic_arn]
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [statement.value]
      }
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "failures_queued" {
  alarm_name          = "${var.name}-pipeline-failures-queued"
  alarm_description   = "A pipeline event exhausted its retries or max age and landed in ${aws_sqs_queue.failures.name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.failures.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# StageFailures comes from the functions' Embedded Metric Format lines (namespace Polarity, dimension Stage).
resource "aws_cloudwatch_metric_alarm" "stage_failures" {
  for_each            = local.stages
  alarm_name          = "${var.name}-${each.key}-failures"
  alarm_description   = "The ${each.key} stage reported failures (EMF metric Polarity/StageFailures)."
  namespace           = "Polarity"
  metric_name         = "StageFailures"
  dimensions          = { Stage = each.key }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each            = toset(concat(keys(local.stages), ["predict"]))
  alarm_name          = "${var.name}-${each.key}-errors"
  alarm_description   = "Lambda ${var.name}-${each.key} returned errors (includes timeouts and crashes)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = "${var.name}-${each.key}" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

# --- roles -----------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "stage" {
  for_each           = local.stages
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
}

# Exactly a stage's entry of access.json: GetObject on its `get` patterns (inputs AND its own outputs, read first
# for idempotency), ListBucket under its `list` prefixes (so a missing key is a 404, not a 403), PutObject on its
# `put` patterns, its registry actions, and the bucket key. The stage roles and the train task's role
# (train_task.tf) are built from these documents, so the rule is written once.
data "aws_iam_policy_document" "data_access" {
  for_each = local.stages

  dynamic "statement" {
    for_each = length(each.value.get) > 0 ? [1] : []
    content {
      sid       = "Read"
      actions   = ["s3:GetObject"]
      resources = [for p in each.value.get : "${var.bucket_arn}/${p}"]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.list) > 0 ? [1] : []
    content {
      sid       = "List"
      actions   = ["s3:ListBucket"]
      resources = [var.bucket_arn]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = flatten([for p in each.value.list : [p, "${p}*"]])
      }
    }
  }

  dynamic "statement" {
    for_each = length(each.value.put) > 0 ? [1] : []
    content {
      sid       = "Write"
      actions   = ["s3:PutObject"]
      resources = [for p in each.value.put : "${var.bucket_arn}/${p}"]
    }
  }

  statement {
    sid       = "BucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  dynamic "statement" {
    for_each = length(each.value.registry) > 0 ? [1] : []
    content {
      sid       = "Registry"
      actions   = each.value.registry
      resources = [var.registry_table_arn]
    }
  }
}

data "aws_iam_policy_document" "stage" {
  for_each                = local.stages
  source_policy_documents = [data.aws_iam_policy_document.data_access[each.key].json]

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn[each.key]}:*"]
  }

  statement {
    sid       = "OnFailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [local.failures_arn]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }
}

resource "aws_iam_role_policy" "stage" {
  for_each = local.stages
  name     = "least-privilege"
  role     = aws_iam_role.stage[each.key].id
  policy   = data.aws_iam_policy_document.stage[each.key].json
}

# --- stage functions -------------------------------------------------------------------------------------------

resource "aws_lambda_function" "stage" {
  #checkov:skip=CKV_AWS_117:The stages reach only S3 and DynamoDB through IAM-authenticated public endpoints; a VPC would add NAT cost and cold-start latency for no isolation gain.
  #checkov:skip=CKV_AWS_116:Async failures go to the SQS on-failure destination (aws_lambda_function_event_invoke_config), which supersedes a DLQ and carries the error context.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile in the CD account; artifacts are built and deployed only by the OIDC-authenticated CD workflow.
  for_each = local.stages

  function_name    = "${var.name}-${each.key}"
  role             = aws_iam_role.stage[each.key].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["arm64"]
  filename         = "${var.lambda_zip_dir}/polarity-fn-${each.key}/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.lambda_zip_dir}/polarity-fn-${each.key}/bootstrap.zip")
  memory_size      = local.sizing[each.key].memory
  timeout          = local.sizing[each.key].timeout
  kms_key_arn      = var.kms_key_arn

  reserved_concurrent_executions = local.concurrency[each.key]

  environment {
    # ingest, train and validate also get their limits from the sizing rules (sizing.tf); train, with a task
    # image, where to start the train task (train_task.tf)
    variables = lookup(local.stage_env, each.key, local.function_env)
  }

  dynamic "logging_config" {
    for_each = var.json_logging ? [1] : []
    content {
      log_format            = "JSON"
      log_group             = aws_cloudwatch_log_group.fn[each.key].name
      application_log_level = "INFO"
      # INFO keeps the platform's START/END/REPORT lines (duration, billed time, max memory used),
      # which terraform/README.md (Sizing) sizes the functions from; WARN would drop them
      system_log_level = "INFO"
    }
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_iam_role_policy.stage]
}

resource "aws_lambda_function_event_invoke_config" "stage" {
  for_each                     = local.stages
  function_name                = aws_lambda_function.stage[each.key].function_name
  maximum_retry_attempts       = var.max_retry_attempts
  maximum_event_age_in_seconds = var.max_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures.arn
    }
  }
}

resource "aws_lambda_permission" "s3" {
  for_each       = local.stages
  statement_id   = "AllowS3Invoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.stage[each.key].function_name
  principal      = "s3.amazonaws.com"
  source_arn     = var.bucket_arn
  source_account = data.aws_caller_identity.current.account_id
}

# The ONE notification for the bucket: one block per trigger of access.json (prefix/suffix filters).
resource "aws_s3_bucket_notification" "pipeline" {
  bucket = var.bucket_id

  dynamic "lambda_function" {
    for_each = local.triggers
    content {
      id                  = lambda_function.value.id
      lambda_function_arn = aws_lambda_function.stage[lambda_function.value.stage].arn
      events              = ["s3:ObjectCreated:*"]
      filter_prefix       = lambda_function.value.prefix
      filter_suffix       = lambda_function.value.suffix == "" ? null : lambda_function.value.suffix
    }
  }

  depends_on = [aws_lambda_permission.s3]
}
