# Training past one Lambda (terraform/README.md, "Training past one Lambda"). The train function takes at most
# local.train_max_rows training rows (POLARITY_TRAIN_MAX_ROWS, the rows-per-GB rule in sizing.tf). Above that, once an
# image is deployed (var.train_task_image_tag, set by CD), it starts the SAME train binary as an ECS Fargate task
# on the same key (POLARITY_TASK_KEY as a container override); the task writes what the function would have.
#
# Always: the ECR repository (CD pushes the image before the first apply that names it). With an image tag: the
# cluster, the task definition (ARM64), its log group, the task role (exactly the train stage's access.json
# entry), the execution role (ECR pull + logs), an egress-only security group, and on the train function's role
# ecs:RunTask on this task definition family only + iam:PassRole of those two roles to ECS tasks only.

locals {
  task_enabled   = var.train_task_image_tag != ""
  task_name      = "${var.name}-train-task"
  task_container = "train"
  task_log_group = "/ecs/${local.task_name}"


  # Fargate's CPU/memory pairs (MiB): cpu => [min, max, step].
  fargate_memory = {
    "1024"  = [2048, 8192, 1024]
    "2048"  = [4096, 16384, 1024]
    "4096"  = [8192, 30720, 1024]
    "8192"  = [16384, 61440, 4096]
    "16384" = [32768, 122880, 8192]
  }
  task_size = local.fargate_memory[tostring(var.train_task_cpu)]

  # ARNs spelled from names (rendered at plan time; the resources below have exactly these names).
  cluster_arn          = "${local.arn_prefix}:ecs:${local.region_account}:cluster/${var.name}-train"
  task_definitions_arn = "${local.arn_prefix}:ecs:${local.region_account}:task-definition/${local.task_name}:*"
  task_role_arn        = "${local.arn_prefix}:iam::${data.aws_caller_identity.current.account_id}:role/${local.task_name}"
  execution_role_arn   = "${local.arn_prefix}:iam::${data.aws_caller_identity.current.account_id}:role/${local.task_name}-execution"
  repository_arn       = "${local.arn_prefix}:ecr:${local.region_account}:repository/${local.task_name}"
  task_log_group_arn   = "${local.arn_prefix}:logs:${local.region_account}:log-group:${local.task_log_group}"
  task_failed_rule_arn = "${local.arn_prefix}:events:${local.region_account}:rule/${local.task_name}-failed"

  # The train function's environment: the limit always (above it without a task it trains anyway and warns),
  # where to start the task once there is an image.
  train_env = merge(local.function_env, { POLARITY_TRAIN_MAX_ROWS = tostring(local.train_max_rows) }, local.task_enabled ? {
    POLARITY_TASK_CLUSTER         = "${var.name}-train"
    POLARITY_TASK_DEFINITION      = local.task_name
    POLARITY_TASK_SUBNETS         = join(",", var.task_subnet_ids)
    POLARITY_TASK_SECURITY_GROUPS = aws_security_group.train_task[0].id
    POLARITY_TASK_CONTAINER       = local.task_container
  } : {})
}

resource "aws_ecr_repository" "train_task" {
  name                 = local.task_name # = local.repository_arn
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_destroy

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "train_task" {
  repository = aws_ecr_repository.train_task.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 30 newest images (rollbacks), expire older ones"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 30 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_ecs_cluster" "train" {
  count = local.task_enabled ? 1 : 0
  name  = "${var.name}-train" # = local.cluster_arn
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "train_task" {
  count             = local.task_enabled ? 1 : 0
  name              = local.task_log_group # = local.task_log_group_arn
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "assume_ecs_tasks" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# The task's own permissions: exactly the train stage's access.json entry, the same document the train
# function's role is built from (main.tf).
resource "aws_iam_role" "train_task" {
  count              = local.task_enabled ? 1 : 0
  name               = local.task_name # = local.task_role_arn
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
}

resource "aws_iam_role_policy" "train_task" {
  count  = local.task_enabled ? 1 : 0
  name   = "train-stage-access"
  role   = aws_iam_role.train_task[0].id
  policy = data.aws_iam_policy_document.data_access["train"].json
}

# What ECS itself needs to start the container: pull the image, write its logs. Nothing else.
resource "aws_iam_role" "train_task_execution" {
  count              = local.task_enabled ? 1 : 0
  name               = "${local.task_name}-execution" # = local.execution_role_arn
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
}

data "aws_iam_policy_document" "train_task_execution" {
  statement {
    sid       = "EcrAuth"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions
  }
  statement {
    sid       = "EcrPull"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [local.repository_arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.task_log_group_arn}:*"]
  }
}

resource "aws_iam_role_policy" "train_task_execution" {
  count  = local.task_enabled ? 1 : 0
  name   = "ecr-pull-and-logs"
  role   = aws_iam_role.train_task_execution[0].id
  policy = data.aws_iam_policy_document.train_task_execution.json
}

# On the train FUNCTION's role: start this task definition family in this cluster, and hand ECS the two task
# roles (and only to ECS tasks).
data "aws_iam_policy_document" "train_dispatch" {
  statement {
    sid       = "RunTrainTask"
    actions   = ["ecs:RunTask"]
    resources = [local.task_definitions_arn]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.cluster_arn]
    }
  }
  statement {
    sid       = "PassTrainTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [local.task_role_arn, local.execution_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "train_dispatch" {
  count  = local.task_enabled ? 1 : 0
  name   = "start-train-task"
  role   = aws_iam_role.stage["train"].id
  policy = data.aws_iam_policy_document.train_dispatch.json
}

# No inbound; HTTPS out: S3 and DynamoDB through the network module's gateway endpoints, ECR, CloudWatch Logs
# and STS through its NAT gateway. No public IP (RunTask assigns none; the subnets are private).
resource "aws_security_group" "train_task" {
  #checkov:skip=CKV2_AWS_5:Attached at RunTask time (awsvpcConfiguration of each train task), not by Terraform.
  count       = local.task_enabled ? 1 : 0
  name        = local.task_name
  description = "Polarity train task: no inbound, HTTPS out"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "train_task_https" {
  count             = local.task_enabled ? 1 : 0
  security_group_id = aws_security_group.train_task[0].id
  description       = "HTTPS to AWS APIs (S3/DynamoDB via gateway endpoints, ECR/Logs/STS via NAT)"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

resource "aws_ecs_task_definition" "train" {
  count                    = local.task_enabled ? 1 : 0
  family                   = local.task_name # = local.task_definitions_arn
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.train_task_cpu)
  memory                   = tostring(var.train_task_memory)
  task_role_arn            = aws_iam_role.train_task[0].arn
  execution_role_arn       = aws_iam_role.train_task_execution[0].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "ARM64"
  }

  # The train function's settings, so the task names the same version; POLARITY_TASK_KEY comes per task as a
  # container override. No limit and no task settings here: a task never starts another.
  container_definitions = jsonencode([{
    name                   = local.task_container
    image                  = "${aws_ecr_repository.train_task.repository_url}:${var.train_task_image_tag}"
    essential              = true
    memory                 = var.train_task_memory # all of the task's (also: moto's RunTask needs a container size)
    readonlyRootFilesystem = true
    environment            = [for k in sort(keys(local.function_env)) : { name = k, value = local.function_env[k] }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = local.task_log_group
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = local.task_container
      }
    }
  }])

  lifecycle {
    precondition {
      condition     = var.vpc_id != "" && length(var.task_subnet_ids) > 0
      error_message = "The train task needs vpc_id and task_subnet_ids (the network module's private subnets)."
    }
    precondition {
      condition = (var.train_task_memory >= local.task_size[0] && var.train_task_memory <= local.task_size[1] &&
      var.train_task_memory % local.task_size[2] == 0)
      error_message = "train_task_memory ${var.train_task_memory} MiB does not fit train_task_cpu ${var.train_task_cpu}: Fargate allows ${local.task_size[0]}-${local.task_size[1]} MiB in steps of ${local.task_size[2]}."
    }
  }

  depends_on = [aws_cloudwatch_log_group.train_task, aws_iam_role_policy.train_task_execution]
}

# A training task that stops with a non-zero exit code (a crash, out of memory: 137) or never starts (image
# pull, capacity) would otherwise leave its upload without a decision and nobody told: EventBridge sends the
# task's state change to the pipeline's alarm topic (whose policy lets exactly this rule publish, main.tf).
resource "aws_cloudwatch_event_rule" "train_task_failed" {
  count       = local.task_enabled ? 1 : 0
  name        = "${local.task_name}-failed" # = local.task_failed_rule_arn
  description = "A ${local.task_name} task stopped with a non-zero exit code or failed to start."
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [local.cluster_arn]
      lastStatus = ["STOPPED"]
      "$or" = [
        { containers = { exitCode = [{ "anything-but" = 0 }] } },
        { stopCode = ["TaskFailedToStart"] },
      ]
    }
  })
}

resource "aws_cloudwatch_event_target" "train_task_failed" {
  count     = local.task_enabled ? 1 : 0
  rule      = aws_cloudwatch_event_rule.train_task_failed[0].name
  target_id = "alarms"
  arn       = aws_sns_topic.alarms.arn
}
