# GitHub Actions -> AWS without long-lived keys: the account's OIDC provider for token.actions.githubusercontent.com
# and the two roles CD assumes (vars.AWS_PLAN_ROLE_ARN, vars.AWS_APPLY_ROLE_ARN in the repository settings).
#   plan:  pull requests of var.github_repo and pushes to var.github_branch; read-only (AWS ReadOnlyAccess) plus
#          the state bucket/lock table: enough for `terraform plan`.
#   apply: only jobs running in the GitHub environment var.github_environment (required reviewers); deploys the
#          main root: PowerUserAccess (everything but IAM/Organizations) plus IAM limited to roles and instance
#          profiles named <name>-*.

data "aws_partition" "current" {}

locals {
  oidc_host   = "token.actions.githubusercontent.com"
  account_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}"
  # The provider's ARN is fixed by its URL (spelled out so the trust policies render at plan time; the roles
  # depend on the provider resource for ordering).
  oidc_arn = "${local.account_arn}:oidc-provider/${local.oidc_host}"
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_github_oidc_provider ? 1 : 0
  url            = "https://${local.oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
  # AWS validates GitHub's certificate through its own trust store; the thumbprint is kept for older tooling.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1"]
}

data "aws_iam_policy_document" "trust_plan" {
  #checkov:skip=CKV_AWS_358:sub is pinned to repo:<var.github_repo>:... (validated as owner/name, tested in bootstrap/tests); checkov cannot resolve the variable and reads an unsafe claim.
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.oidc_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = ["repo:${var.github_repo}:pull_request", "repo:${var.github_repo}:ref:refs/heads/${var.github_branch}"]
    }
  }
}

data "aws_iam_policy_document" "trust_apply" {
  #checkov:skip=CKV_AWS_358:sub is pinned to repo:<var.github_repo>:... (validated as owner/name, tested in bootstrap/tests); checkov cannot resolve the variable and reads an unsafe claim.
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.oidc_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = ["repo:${var.github_repo}:environment:${var.github_environment}"]
    }
  }
}

resource "aws_iam_role" "plan" {
  name                 = "${var.name}-github-plan"
  assume_role_policy   = data.aws_iam_policy_document.trust_plan.json
  max_session_duration = 3600
  depends_on           = [aws_iam_openid_connect_provider.github]
}

resource "aws_iam_role" "apply" {
  name                 = "${var.name}-github-apply"
  assume_role_policy   = data.aws_iam_policy_document.trust_apply.json
  max_session_duration = 7200 # apply + instance refresh wait
  depends_on           = [aws_iam_openid_connect_provider.github]
}

resource "aws_iam_role_policy_attachment" "plan_read_only" {
  role       = aws_iam_role.plan.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/ReadOnlyAccess"
}

resource "aws_iam_role_policy_attachment" "apply_power_user" {
  role       = aws_iam_role.apply.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/PowerUserAccess"
}

# Both roles: the state object, its lock and the state key.
data "aws_iam_policy_document" "state" {
  statement {
    sid       = "StateObjects"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.state.arn}/polarity/*"]
  }
  statement {
    sid       = "StateBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]
  }
  statement {
    sid       = "StateLock"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"]
    resources = [aws_dynamodb_table.lock.arn]
  }
  statement {
    sid       = "StateKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.state.arn]
  }
}

resource "aws_iam_role_policy" "plan_state" {
  name   = "terraform-state"
  role   = aws_iam_role.plan.id
  policy = data.aws_iam_policy_document.state.json
}

resource "aws_iam_role_policy" "apply_state" {
  name   = "terraform-state"
  role   = aws_iam_role.apply.id
  policy = data.aws_iam_policy_document.state.json
}

# `terraform plan` refreshes the Grafana password parameter (SecureString), which needs kms:Decrypt through SSM,
# and the functions, whose environments are encrypted with the project's key: Lambda returns a function's
# environment to a caller only if it may decrypt it through Lambda (otherwise every plan shows all five
# functions' environments changing). ReadOnlyAccess has no kms:Decrypt.
data "aws_iam_policy_document" "plan_ssm_decrypt" {
  statement {
    sid       = "DecryptViaSsmAndLambda"
    actions   = ["kms:Decrypt"]
    resources = ["arn:${data.aws_partition.current.partition}:kms:${var.region}:${data.aws_caller_identity.current.account_id}:key/*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${var.region}.amazonaws.com", "lambda.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "plan_ssm_decrypt" {
  name   = "ssm-decrypt"
  role   = aws_iam_role.plan.id
  policy = data.aws_iam_policy_document.plan_ssm_decrypt.json
}

# PowerUserAccess has no IAM: the main root creates roles, their policies and instance profiles named <name>-*
# (stages, predict, server, monitoring, flow logs) and passes them to Lambda, EC2 and VPC flow logs.
data "aws_iam_policy_document" "apply_iam" {
  statement {
    sid = "ProjectRoles"
    actions = [
      "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy",
      "iam:TagRole", "iam:UntagRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
      "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy",
      "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:ListInstanceProfilesForRole", "iam:PassRole",
    ]
    resources = ["${local.account_arn}:role/${var.name}-*"]
  }
  statement {
    sid = "ProjectInstanceProfiles"
    actions = [
      "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:GetInstanceProfile",
      "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile",
    ]
    resources = ["${local.account_arn}:instance-profile/${var.name}-*"]
  }
  statement {
    sid       = "ServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["${local.account_arn}:role/aws-service-role/*"]
    condition {
      test     = "StringLike"
      variable = "iam:AWSServiceName"
      values   = ["autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "apply_iam" {
  name   = "project-iam"
  role   = aws_iam_role.apply.id
  policy = data.aws_iam_policy_document.apply_iam.json
}
