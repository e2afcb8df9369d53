# The bootstrap root, planned with the real provider offline (dummy keys, account lookup overridden): state
# bucket/table/key protections and the GitHub OIDC roles CD assumes, scoped to one repository.

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
  state_bucket_name = "polarity-tfstate-123456789012"
  github_repo       = "example-org/polarity"
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

run "defaults" {
  command = plan

  assert {
    condition     = aws_iam_openid_connect_provider.github[0].url == "https://token.actions.githubusercontent.com" && aws_iam_openid_connect_provider.github[0].client_id_list == toset(["sts.amazonaws.com"])
    error_message = "The GitHub OIDC provider must be created for sts.amazonaws.com."
  }

  # plan: pull requests of this repository and pushes to main; apply: only the production environment.
  assert {
    condition = (
      one(jsondecode(data.aws_iam_policy_document.trust_plan.json).Statement).Condition.StringEquals["token.actions.githubusercontent.com:sub"] == ["repo:example-org/polarity:pull_request", "repo:example-org/polarity:ref:refs/heads/main"] &&
      one(jsondecode(data.aws_iam_policy_document.trust_plan.json).Statement).Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com" &&
      one(jsondecode(data.aws_iam_policy_document.trust_plan.json).Statement).Principal.Federated == "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    )
    error_message = "The plan role must trust only this repository's pull requests and main-branch pushes."
  }
  assert {
    condition = (
      one(jsondecode(data.aws_iam_policy_document.trust_apply.json).Statement).Condition.StringEquals["token.actions.githubusercontent.com:sub"] == "repo:example-org/polarity:environment:production" &&
      one(jsondecode(data.aws_iam_policy_document.trust_apply.json).Statement).Action == "sts:AssumeRoleWithWebIdentity"
    )
    error_message = "The apply role must trust only jobs in this repository's production environment."
  }
  assert {
    condition     = aws_iam_role_policy_attachment.plan_read_only.policy_arn == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    error_message = "The plan role is read-only."
  }
  # plan refreshes SSM SecureStrings and the functions' KMS-encrypted environments: decrypt through both
  # services, and only through them
  assert {
    condition = toset(flatten([
      one(jsondecode(data.aws_iam_policy_document.plan_ssm_decrypt.json).Statement).Condition.StringEquals["kms:ViaService"]
    ])) == toset(["ssm.eu-west-1.amazonaws.com", "lambda.eu-west-1.amazonaws.com"])
    error_message = "The plan role must decrypt through SSM and Lambda (the functions' environments), nothing else."
  }
  # CD's apply job waits up to REFRESH_TIMEOUT_SECONDS (3600) for the instance refresh after the apply: its
  # session (role-duration-seconds in cd.yml, checked by scripts/check-infra.sh) needs the role to allow 2 h
  assert {
    condition     = aws_iam_role.apply.max_session_duration == 7200 && aws_iam_role.plan.max_session_duration == 3600
    error_message = "The apply role must allow 2-hour sessions (apply + instance refresh), the plan role 1 hour."
  }
  # The apply role's IAM is limited to the project's own roles and instance profiles.
  assert {
    condition = alltrue([
      for st in jsondecode(data.aws_iam_policy_document.apply_iam.json).Statement : alltrue([
        for r in flatten([st.Resource]) : endswith(r, ":role/polarity-*") || endswith(r, ":instance-profile/polarity-*") || endswith(r, ":role/aws-service-role/*")
      ])
    ])
    error_message = "The apply role may manage only roles/instance profiles named polarity-*."
  }
  assert {
    condition = (
      one(one(aws_s3_bucket_server_side_encryption_configuration.state.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" &&
      aws_dynamodb_table.lock.server_side_encryption[0].enabled &&
      aws_kms_key.state.enable_key_rotation
    )
    error_message = "State bucket and lock table must be KMS-encrypted with a rotating key."
  }
}

run "existing_oidc_provider" {
  command = plan
  variables {
    create_github_oidc_provider = false
    github_environment          = "prod"
    github_branch               = "release"
  }
  assert {
    condition = (
      length(aws_iam_openid_connect_provider.github) == 0 &&
      one(jsondecode(data.aws_iam_policy_document.trust_apply.json).Statement).Condition.StringEquals["token.actions.githubusercontent.com:sub"] == "repo:example-org/polarity:environment:prod" &&
      contains(one(jsondecode(data.aws_iam_policy_document.trust_plan.json).Statement).Condition.StringEquals["token.actions.githubusercontent.com:sub"], "repo:example-org/polarity:ref:refs/heads/release")
    )
    error_message = "With an existing provider nothing is created and the conditions follow the variables."
  }
}

run "repo_must_be_owner_slash_name" {
  command = plan
  variables {
    github_repo = "polarity"
  }
  expect_failures = [var.github_repo]
}
