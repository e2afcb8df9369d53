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

  # JSON logs at INFO, platform lines included: START/END/REPORT (duration, max memory) size the functions.
  assert {
    condition = alltrue([
      for f in concat(values(aws_lambda_function.stage), [aws_lambda_function.predict]) :
      f.logging_config[0].log_format == "JSON" && f.logging_config[0].application_log_level == "INFO" && f.logging_config[0].system_log_level == "INFO"
    ])
    error_message = "Every function must log JSON at INFO with the platform's START/END/REPORT lines (system_log_level INFO)."
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

# --- training past one Lambda (modules/pipeline/train_task.tf) ----------------------------------------------------

# Without an image tag: the row limit reaches the train function only, and nothing can start a task.
run "train_limit_without_a_task" {
  command = plan
  module {
    source = "./modules/pipeline"
  }
  assert {
    # the rows-per-GB rule at the defaults: 2048 MiB / 1024 B = 2 097 152 rows (the time rule, 900 s x 30 000/s,
    # allows 270 000 000)
    condition = (
      aws_lambda_function.stage["train"].environment[0].variables["POLARITY_TRAIN_MAX_ROWS"] == "2097152" &&
      alltrue([for k, f in aws_lambda_function.stage : !contains(keys(f.environment[0].variables), "POLARITY_TRAIN_MAX_ROWS") if k != "train"]) &&
      length([for k in keys(aws_lambda_function.stage["train"].environment[0].variables) : k if startswith(k, "POLARITY_TASK_")]) == 0
    )
    error_message = "Without a task image only the train function gets POLARITY_TRAIN_MAX_ROWS (2097152 at 2048 MB / 1024 B per row), and no POLARITY_TASK_* settings."
  }
  assert {
    condition     = length(aws_ecs_task_definition.train) == 0 && length(aws_iam_role_policy.train_dispatch) == 0 && length(aws_iam_role.train_task) == 0
    error_message = "Without a task image there is no task definition, task role or RunTask permission."
  }
  override_resource {
    target          = aws_sns_topic.alarms
    override_during = plan
    values          = { arn = "arn:aws:sns:eu-west-1:123456789012:polarity-alarms" }
  }
  assert {
    condition     = length(aws_cloudwatch_event_rule.train_task_failed) == 0
    error_message = "Without a task image there is no failed-task rule."
  }
  assert {
    condition     = !strcontains(data.aws_iam_policy_document.alarms_topic.json, "events.amazonaws.com") && strcontains(data.aws_iam_policy_document.alarms_topic.json, "cloudwatch.amazonaws.com")
    error_message = "Without a task image EventBridge may not publish to the alarm topic; CloudWatch alarms may."
  }
  assert {
    condition = (
      aws_ecr_repository.train_task.image_tag_mutability == "IMMUTABLE" &&
      aws_ecr_repository.train_task.image_scanning_configuration[0].scan_on_push &&
      aws_ecr_repository.train_task.encryption_configuration[0].encryption_type == "KMS" &&
      aws_ecr_repository.train_task.encryption_configuration[0].kms_key == var.kms_key_arn
    )
    error_message = "The train task repository must exist before the first image (CD pushes to it), with immutable tags, scan on push and the project KMS key."
  }
}

# --- sizing rules (modules/pipeline/sizing.tf) ------------------------------------------------------------------

# At the defaults: ingest's upload limit from the upload rule (2048 MiB / 12 B per byte), validate's memory from
# the held-out rows of the largest training run (the train function's 2 097 152 rows x 0.2 / 0.8 = 524 288 rows
# x 768 B = 384 MB, so Lambda's 1024 MB floor) and its row limit (1024 MiB / 768 B).
run "sizing_rules_at_the_defaults" {
  command = plan
  module {
    source = "./modules/pipeline"
  }
  assert {
    condition = (
      aws_lambda_function.stage["ingest"].environment[0].variables["POLARITY_MAX_UPLOAD_BYTES"] == "178956970" &&
      aws_lambda_function.stage["ingest"].memory_size == 2048 && aws_lambda_function.stage["process"].memory_size == 2048 &&
      aws_lambda_function.stage["validate"].memory_size == 1024 &&
      aws_lambda_function.stage["validate"].environment[0].variables["POLARITY_VALIDATE_MAX_ROWS"] == "1398101" &&
      alltrue([for k, f in aws_lambda_function.stage : !contains(keys(f.environment[0].variables), "POLARITY_MAX_UPLOAD_BYTES") if k != "ingest"]) &&
      alltrue([for k, f in aws_lambda_function.stage : !contains(keys(f.environment[0].variables), "POLARITY_VALIDATE_MAX_ROWS") if k != "validate"])
    )
    error_message = "Ingest gets POLARITY_MAX_UPLOAD_BYTES 178956970 (2048 MiB / 12 B), validate 1024 MB and POLARITY_VALIDATE_MAX_ROWS 1398101 (1024 MiB / 768 B); no other function gets either."
  }
}

# With the train task (30 GB: 31 457 280 training rows), validate is sized for its held-out rows: 7 864 320 x 768 B
# = 5760 MB, and holds exactly them.
run "validate_sized_for_the_train_task" {
  command = plan
  module {
    source = "./modules/pipeline"
  }
  variables {
    train_task_image_tag = "0123abc"
    vpc_id               = "vpc-0123456789abcdef0"
    task_subnet_ids      = ["subnet-0a"]
  }
  assert {
    condition = (
      aws_lambda_function.stage["validate"].memory_size == 5760 &&
      aws_lambda_function.stage["validate"].environment[0].variables["POLARITY_VALIDATE_MAX_ROWS"] == "7864320"
    )
    error_message = "Validate must be sized for the held-out rows of the train task's largest run: 5760 MB, 7864320 rows."
  }
}

# A user's upload limit above what ingest/process memory holds is capped (and the check says so); one below is kept;
# a stage_sizing override of validate wins over the computed memory.
run "upload_limit_above_memory_is_capped" {
  command = plan
  module {
    source = "./modules/pipeline"
  }
  variables {
    pipeline_settings = { POLARITY_MAX_UPLOAD_BYTES = "1073741824" }
    stage_sizing      = { validate = { memory = 2048, timeout = 120 } }
  }
  assert {
    condition = (
      aws_lambda_function.stage["ingest"].environment[0].variables["POLARITY_MAX_UPLOAD_BYTES"] == "178956970" &&
      aws_lambda_function.stage["validate"].memory_size == 2048 && aws_lambda_function.stage["validate"].timeout == 120
    )
    error_message = "A POLARITY_MAX_UPLOAD_BYTES above the upload rule is capped to it; stage_sizing.validate wins."
  }
  expect_failures = [check.upload_limit_within_memory]
}

run "upload_limit_below_memory_is_kept" {
  command = plan
  module {
    source = "./modules/pipeline"
  }
  variables {
    pipeline_settings = { POLARITY_MAX_UPLOAD_BYTES = "1000000" }
  }
  assert {
    condition     = aws_lambda_function.stage["ingest"].environment[0].variables["POLARITY_MAX_UPLOAD_BYTES"] == "1000000"
    error_message = "A POLARITY_MAX_UPLOAD_BYTES below the upload rule is the ingest function's limit."
  }
}

run "train_task" {
  command = plan
  module {
    source = "./modules/pipeline"
  }
  variables {
    train_task_image_tag = "0123abc"
    vpc_id               = "vpc-0123456789abcdef0"
    task_subnet_ids      = ["subnet-0a", "subnet-0b"]
  }
  override_resource {
    target          = aws_ecr_repository.train_task
    override_during = plan
    values          = { repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/polarity-train-task" }
  }
  override_resource {
    target          = aws_security_group.train_task
    override_during = plan
    values          = { id = "sg-0123456789abcdef0" }
  }
  override_resource {
    target          = aws_sns_topic.alarms
    override_during = plan
    values          = { arn = "arn:aws:sns:eu-west-1:123456789012:polarity-alarms" }
  }

  # A task that exits non-zero or never starts reaches the alarm topic, and only that rule may publish there.
  assert {
    condition = (
      jsondecode(aws_cloudwatch_event_rule.train_task_failed[0].event_pattern).detail.clusterArn == ["arn:aws:ecs:eu-west-1:123456789012:cluster/polarity-train"] &&
      jsondecode(aws_cloudwatch_event_rule.train_task_failed[0].event_pattern).detail.lastStatus == ["STOPPED"] &&
      jsondecode(aws_cloudwatch_event_rule.train_task_failed[0].event_pattern).detail["$or"][0].containers.exitCode == [{ "anything-but" = 0 }] &&
      jsondecode(aws_cloudwatch_event_rule.train_task_failed[0].event_pattern).detail["$or"][1].stopCode == ["TaskFailedToStart"] &&
      aws_cloudwatch_event_target.train_task_failed[0].arn == "arn:aws:sns:eu-west-1:123456789012:polarity-alarms"
    )
    error_message = "The failed-task rule must match STOPPED tasks of the train cluster with a non-zero exit code or that failed to start, and target the alarm topic."
  }
  assert {
    condition = one([
      for st in jsondecode(aws_sns_topic_policy.alarms.policy).Statement : st
      if try(st.Principal.Service, "") == "events.amazonaws.com"
      ]).Condition.ArnEquals["aws:SourceArn"] == "arn:aws:events:eu-west-1:123456789012:rule/polarity-train-task-failed" && (
      aws_cloudwatch_event_rule.train_task_failed[0].name == "polarity-train-task-failed"
    )
    error_message = "EventBridge may publish to the alarm topic only from the failed-task rule (whose ARN the policy spells from its name)."
  }

  # The train function knows where to start the task.
  assert {
    condition = (
      aws_lambda_function.stage["train"].environment[0].variables["POLARITY_TASK_CLUSTER"] == "polarity-train" &&
      aws_lambda_function.stage["train"].environment[0].variables["POLARITY_TASK_DEFINITION"] == "polarity-train-task" &&
      aws_lambda_function.stage["train"].environment[0].variables["POLARITY_TASK_SUBNETS"] == "subnet-0a,subnet-0b" &&
      aws_lambda_function.stage["train"].environment[0].variables["POLARITY_TASK_SECURITY_GROUPS"] == "sg-0123456789abcdef0" &&
      aws_lambda_function.stage["train"].environment[0].variables["POLARITY_TASK_CONTAINER"] == "train" &&
      aws_lambda_function.stage["train"].environment[0].variables["POLARITY_TRAIN_MAX_ROWS"] == "2097152"
    )
    error_message = "The train function's POLARITY_TASK_* settings do not name the cluster, family, subnets, security group and container."
  }

  # On the train function's role: RunTask on this task definition family only (any revision), in this cluster
  # only; PassRole on exactly the two task roles, only to ECS tasks. Nothing else.
  assert {
    condition = toset(flatten([
      for st in jsondecode(data.aws_iam_policy_document.train_dispatch.json).Statement : [
        for act in flatten([st.Action]) : [for res in flatten([st.Resource]) : "${st.Effect} ${act} ${res}"]
      ]
      ])) == toset([
      "Allow ecs:RunTask arn:aws:ecs:eu-west-1:123456789012:task-definition/polarity-train-task:*",
      "Allow iam:PassRole arn:aws:iam::123456789012:role/polarity-train-task",
      "Allow iam:PassRole arn:aws:iam::123456789012:role/polarity-train-task-execution",
    ])
    error_message = "The train function's task permissions must be ecs:RunTask on the polarity-train-task family and iam:PassRole on the two task roles, nothing more: ${data.aws_iam_policy_document.train_dispatch.json}"
  }
  assert {
    condition = alltrue([
      for st in jsondecode(data.aws_iam_policy_document.train_dispatch.json).Statement :
      contains(flatten([st.Action]), "iam:PassRole")
      ? try(st.Condition, null) == { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      : try(st.Condition, null) == { ArnEquals = { "ecs:cluster" = "arn:aws:ecs:eu-west-1:123456789012:cluster/polarity-train" } }
    ])
    error_message = "PassRole needs the condition iam:PassedToService = ecs-tasks.amazonaws.com, RunTask ecs:cluster = the train cluster."
  }
  assert {
    condition     = length(aws_iam_role_policy.train_dispatch) == 1 && jsondecode(aws_iam_role_policy.train_dispatch[0].policy) == jsondecode(data.aws_iam_policy_document.train_dispatch.json)
    error_message = "The task permissions must be attached to the train function's role."
  }

  # The task role: exactly the train stage's S3, registry and KMS grants of access.json (no logs, queue or X-Ray:
  # the execution role writes the logs).
  assert {
    condition = toset(flatten([
      for st in jsondecode(aws_iam_role_policy.train_task[0].policy).Statement : [
        for act in flatten([st.Action]) : [for res in flatten([st.Resource]) : "${st.Effect} ${act} ${res}"]
      ]
    ])) == toset([for g in run.expected.stage_grants["train"] : g if length(regexall("^Allow (s3|dynamodb|kms):", g)) > 0])
    error_message = "The train task role must have exactly the train stage's access.json entry."
  }

  # The execution role: pull from this repository and write this log group, nothing else.
  assert {
    condition = toset(flatten([
      for st in jsondecode(aws_iam_role_policy.train_task_execution[0].policy).Statement : [
        for act in flatten([st.Action]) : [for res in flatten([st.Resource]) : "${act} ${res}"]
      ]
      ])) == toset([
      "ecr:GetAuthorizationToken *",
      "ecr:BatchCheckLayerAvailability arn:aws:ecr:eu-west-1:123456789012:repository/polarity-train-task",
      "ecr:GetDownloadUrlForLayer arn:aws:ecr:eu-west-1:123456789012:repository/polarity-train-task",
      "ecr:BatchGetImage arn:aws:ecr:eu-west-1:123456789012:repository/polarity-train-task",
      "logs:CreateLogStream arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/polarity-train-task:*",
      "logs:PutLogEvents arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/polarity-train-task:*",
    ])
    error_message = "The execution role must only pull the train image and write its logs."
  }

  # The task definition: Fargate ARM64, 4 vCPU / 30 GB by default, the image CD pushed, the functions'
  # settings (same version names) without the limit or task settings, read-only root, encrypted logs.
  assert {
    condition = (
      aws_ecs_task_definition.train[0].cpu == "4096" && aws_ecs_task_definition.train[0].memory == "30720" &&
      aws_ecs_task_definition.train[0].runtime_platform[0].cpu_architecture == "ARM64" &&
      aws_ecs_task_definition.train[0].network_mode == "awsvpc" &&
      toset(aws_ecs_task_definition.train[0].requires_compatibilities) == toset(["FARGATE"])
    )
    error_message = "The train task must be Fargate ARM64 (awsvpc), 4096 CPU units / 30720 MiB by default."
  }
  assert {
    condition = (
      jsondecode(aws_ecs_task_definition.train[0].container_definitions)[0].image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/polarity-train-task:0123abc" &&
      jsondecode(aws_ecs_task_definition.train[0].container_definitions)[0].name == "train" &&
      jsondecode(aws_ecs_task_definition.train[0].container_definitions)[0].readonlyRootFilesystem &&
      contains([for e in jsondecode(aws_ecs_task_definition.train[0].container_definitions)[0].environment : e.name], "POLARITY_STORE") &&
      length([for e in jsondecode(aws_ecs_task_definition.train[0].container_definitions)[0].environment : e if e.name == "POLARITY_TRAIN_MAX_ROWS" || startswith(e.name, "POLARITY_TASK_")]) == 0 &&
      jsondecode(aws_ecs_task_definition.train[0].container_definitions)[0].logConfiguration.options["awslogs-group"] == "/ecs/polarity-train-task"
    )
    error_message = "The train container must run the pushed image with the functions' settings (no limit, no task settings), a read-only root and the task log group."
  }
  assert {
    condition     = aws_cloudwatch_log_group.train_task[0].kms_key_id == var.kms_key_arn && aws_cloudwatch_log_group.train_task[0].retention_in_days == var.log_retention_days
    error_message = "The train task log group must be KMS-encrypted with the module's retention."
  }
  assert {
    condition     = length(aws_vpc_security_group_egress_rule.train_task_https) == 1 && aws_vpc_security_group_egress_rule.train_task_https[0].from_port == 443 && aws_vpc_security_group_egress_rule.train_task_https[0].to_port == 443
    error_message = "The train task security group allows HTTPS out and nothing in."
  }
}

# Fargate's largest size plans; larger ones, and memory that does not fit the CPU, are refused.
run "train_task_16_vcpu_120_gb" {
  command = plan
  module {
    source = "./modules/pipeline"
  }
  variables {
    train_task_image_tag = "0123abc"
    vpc_id               = "vpc-0123456789abcdef0"
    task_subnet_ids      = ["subnet-0a"]
    train_task_cpu       = 16384
    train_task_memory    = 122880
  }
  assert {
    condition     = aws_ecs_task_definition.train[0].cpu == "16384" && aws_ecs_task_definition.train[0].memory == "122880"
    error_message = "16 vCPU / 120 GB is Fargate's largest task."
  }
  # such a task trains 125 829 120 rows; their 31 457 280 held-out rows are more than the largest validate Lambda
  # (10240 MB at 768 B) holds, 13 981 013: the plan warns (there is no validate task; terraform/README.md)
  expect_failures = [check.validate_holds_the_largest_training_run]
}

run "train_task_over_120_gb" {
  command = plan
  module {
    source = "./modules/pipeline"
  }
  variables {
    train_task_cpu    = 16384
    train_task_memory = 131072
  }
  expect_failures = [var.train_task_memory]
}

run "train_task_over_16_vcpu" {
  command = plan
  module {
    source = "./modules/pipeline"
  }
  variables {
    train_task_cpu = 32768
  }
  expect_failures = [var.train_task_cpu]
}

run "train_task_memory_must_fit_the_cpu" {
  command = plan
  module {
    source = "./modules/pipeline"
  }
  variables {
    train_task_image_tag = "0123abc"
    vpc_id               = "vpc-0123456789abcdef0"
    task_subnet_ids      = ["subnet-0a"]
    train_task_cpu       = 4096
    train_task_memory    = 32768
  }
  expect_failures = [aws_ecs_task_definition.train]
}
