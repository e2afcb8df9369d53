# The pipeline module against terraform/access.json, planned with the REAL provider (offline: dummy keys, no
# account lookup) so that IAM policy documents are rendered for real; under mock_provider they would be random
# strings. API-backed data sources and the computed ARNs the policies embed are overridden.
# Run by scripts/check-aws.sh: `terraform test -var lambda_zip_dir=<dir with dummy bootstrap.zip files>`.

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

variables {
  name                = "polarity"
  bucket_id           = "polarity-test-data"
  bucket_arn          = "arn:aws:s3:::polarity-test-data"
  registry_table_name = "polarity-registry"
  registry_table_arn  = "arn:aws:dynamodb:eu-west-1:123456789012:table/polarity-registry"
  kms_key_arn         = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  log_retention_days  = 30
  access              = jsondecode(file("access.json")).stages
  serve_access        = jsondecode(file("access.json")).serve
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "123456789012", arn = "arn:aws:iam::123456789012:user/test", user_id = "TEST" }
}

# What each stage role must be allowed, from access.json alone (a run of the tiny helper module in
# tests/expected, so the assertions below can name it twice without repeating it).
run "expected" {
  command = apply
  module {
    source = "./tests/expected"
  }
  variables {
    access = jsondecode(file("access.json")).stages
  }
}

run "defaults" {
  command = plan
  module {
    source = "./modules/pipeline"
  }

  # Every (effect, action, resource) triple of each stage policy is exactly what access.json grants, plus the
  # fixed non-data permissions (logs, KMS, failure queue, X-Ray). Nothing more, nothing less; the message names
  # the stage and the triples that are missing or extra.
  assert {
    condition = alltrue([
      for stage, a in var.access :
      toset(flatten([
        for st in jsondecode(data.aws_iam_policy_document.stage[stage].json).Statement : [
          for act in flatten([st.Action]) : [for res in flatten([st.Resource]) : "${st.Effect} ${act} ${res}"]
        ]
      ])) == toset(run.expected.stage_grants[stage])
    ])
    error_message = "Stage policies differ from access.json: ${jsonencode({
      for stage, a in var.access : stage => {
        missing = setsubtract(run.expected.stage_grants[stage], flatten([
          for st in jsondecode(data.aws_iam_policy_document.stage[stage].json).Statement : [
            for act in flatten([st.Action]) : [for res in flatten([st.Resource]) : "${st.Effect} ${act} ${res}"]
          ]
        ]))
        extra = setsubtract(flatten([
          for st in jsondecode(data.aws_iam_policy_document.stage[stage].json).Statement : [
            for act in flatten([st.Action]) : [for res in flatten([st.Resource]) : "${st.Effect} ${act} ${res}"]
          ]
        ]), run.expected.stage_grants[stage])
      }
    })}"
  }

  # ListBucket only under the stage's `list` prefixes (condition s3:prefix = prefix and prefix*).
  assert {
    condition = alltrue([
      for stage, a in var.access : alltrue([
        for st in jsondecode(data.aws_iam_policy_document.stage[stage].json).Statement :
        toset(flatten([st.Condition.StringLike["s3:prefix"]])) == toset(flatten([for p in a.list : [p, "${p}*"]]))
        if contains(flatten([st.Action]), "s3:ListBucket")
      ])
    ])
    error_message = "A stage's ListBucket condition differs from its access.json `list` prefixes."
  }

  # No wildcard actions anywhere (X-Ray's resource "*" is the only wildcard resource: it has no resource ARNs).
  assert {
    condition = alltrue(flatten([
      for stage, _ in var.access : [
        for st in jsondecode(data.aws_iam_policy_document.stage[stage].json).Statement : [
          for act in flatten([st.Action]) : !strcontains(act, "*") && (startswith(act, "xray:") || !contains(flatten([st.Resource]), "*"))
        ]
      ]
    ]))
    error_message = "A stage policy uses a wildcard action, or a wildcard resource outside X-Ray."
  }

  # The predict role: the `serve` entry (+ kms:Decrypt), logs, X-Ray.
  assert {
    condition = toset(flatten([
      for st in jsondecode(data.aws_iam_policy_document.predict.json).Statement : [
        for act in flatten([st.Action]) : [for res in flatten([st.Resource]) : "${act} ${res}"]
      ]
      ])) == toset(concat(
      [for p in var.serve_access.get : "s3:GetObject ${var.bucket_arn}/${p}"],
      ["s3:ListBucket ${var.bucket_arn}", "kms:Decrypt ${var.kms_key_arn}"],
      [for act in var.serve_access.registry : "${act} ${var.registry_table_arn}"],
      [
        "logs:CreateLogStream arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/polarity-predict:*",
        "logs:PutLogEvents arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/polarity-predict:*",
        "xray:PutTraceSegments *",
        "xray:PutTelemetryRecords *",
      ],
    ))
    error_message = "The predict policy differs from access.json's `serve` entry."
  }

  # The notification: one lambda_function block per trigger of access.json, unique ids, right function.
  assert {
    condition = toset([
      for lf in aws_s3_bucket_notification.pipeline.lambda_function :
      "${lf.id}|${lf.filter_prefix == null ? "" : lf.filter_prefix}|${lf.filter_suffix == null ? "" : lf.filter_suffix}|${join(",", lf.events)}"
      ]) == toset(flatten([
        for stage, a in var.access : [
          for i, t in a.triggers : "${stage}-${i}|${t.prefix}|${t.suffix}|s3:ObjectCreated:*"
        ]
    ]))
    error_message = "The bucket notification filters differ from access.json's triggers."
  }

  assert {
    condition     = length(aws_s3_bucket_notification.pipeline.lambda_function) == length(flatten([for a in var.access : a.triggers]))
    error_message = "Notification ids are not unique per trigger."
  }

  # Reserved concurrency is opt-in: nothing reserved by default (a new account can reserve none).
  assert {
    condition = alltrue([
      for f in concat(values(aws_lambda_function.stage), [aws_lambda_function.predict]) : f.reserved_concurrent_executions == -1
    ])
    error_message = "A function reserves concurrency by default; a new account (quota 10, 10 kept unreserved) cannot apply that."
  }

  # Encryption at rest: log groups, failure queue, alarm topic, function environments.
  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.fn : g.kms_key_id == var.kms_key_arn])
    error_message = "A function log group is not KMS-encrypted."
  }
  assert {
    condition     = aws_sqs_queue.failures.kms_master_key_id == var.kms_key_arn && aws_sns_topic.alarms.kms_master_key_id == var.kms_key_arn
    error_message = "The failure queue or the alarm topic is not KMS-encrypted."
  }
  assert {
    condition     = alltrue([for f in concat(values(aws_lambda_function.stage), [aws_lambda_function.predict]) : f.kms_key_arn == var.kms_key_arn])
    error_message = "A function's environment is not encrypted with the project key."
  }

  # AWS_IAM by default: no public permissions.
  assert {
    condition     = aws_lambda_function_url.predict.authorization_type == "AWS_IAM" && length(aws_lambda_permission.predict_public_url) == 0 && length(aws_lambda_permission.predict_public_invoke) == 0
    error_message = "The predict URL must default to AWS_IAM without public permissions."
  }
}

run "public_predict_url_and_reserved_concurrency" {
  command = plan
  module {
    source = "./modules/pipeline"
  }
  variables {
    predict_url_auth_type = "NONE"
    train_concurrency     = 1
    validate_concurrency  = 1
    predict_concurrency   = 5
  }

  # Since October 2025 a public function URL needs lambda:InvokeFunctionUrl AND lambda:InvokeFunction.
  assert {
    condition = (
      aws_lambda_permission.predict_public_url[0].action == "lambda:InvokeFunctionUrl" &&
      aws_lambda_permission.predict_public_url[0].function_url_auth_type == "NONE" &&
      aws_lambda_permission.predict_public_url[0].principal == "*" &&
      aws_lambda_permission.predict_public_invoke[0].action == "lambda:InvokeFunction" &&
      aws_lambda_permission.predict_public_invoke[0].principal == "*"
    )
    error_message = "A public (NONE) predict URL needs both InvokeFunctionUrl and InvokeFunction permissions."
  }

  assert {
    condition = (
      aws_lambda_function.stage["train"].reserved_concurrent_executions == 1 &&
      aws_lambda_function.stage["validate"].reserved_concurrent_executions == 1 &&
      aws_lambda_function.stage["ingest"].reserved_concurrent_executions == -1 &&
      aws_lambda_function.predict.reserved_concurrent_executions == 5
    )
    error_message = "Opt-in reserved concurrency is not passed through."
  }
}

# Pipeline settings reach every stage function's environment; the backends stay Terraform's; an unknown
# key is refused at plan time.
run "pipeline_settings" {
  command = plan
  module {
    source = "./modules/pipeline"
  }
  variables {
    pipeline_settings = { POLARITY_C = "0.5", POLARITY_CLASS_WEIGHT = "balanced", POLARITY_GATE_ALPHA = "0.001" }
  }
  assert {
    condition = alltrue([
      for k, f in aws_lambda_function.stage :
      f.environment[0].variables["POLARITY_C"] == "0.5" && f.environment[0].variables["POLARITY_CLASS_WEIGHT"] == "balanced"
      && f.environment[0].variables["POLARITY_STORE"] == "s3://polarity-test-data"
    ])
    error_message = "pipeline_settings did not reach every stage function"
  }
}

run "unknown_pipeline_setting" {
  command = plan
  module {
    source = "./modules/pipeline"
  }
  variables {
    pipeline_settings = { POLARITY_STOER = "s3://elsewhere" }
  }
  expect_failures = [var.pipeline_settings]
}
