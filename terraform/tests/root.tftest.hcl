# The whole root, planned with the real provider offline: defaults, and a non-default variant (HTTPS with a
# certificate, 3 AZs, a WAF web ACL). Module internals are checked by the per-module test files; here: the root
# reads access.json and hands it to the modules, variables validate, and both variants plan.

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
  bucket_name              = "polarity-test-data"
  server_version           = "0123abc"
  server_sha256            = "0000000000000000000000000000000000000000000000000000000000000000"
  monitoring_allowed_cidrs = ["203.0.113.10/32"]
}

override_data {
  target = module.encryption.data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}
override_data {
  target = module.pipeline.data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}
override_data {
  target = module.monitoring.data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}
override_data {
  target = module.serving.data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}
override_data {
  target = module.network.data.aws_availability_zones.available
  values = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
}
override_data {
  target = module.network.data.aws_ec2_instance_type_offerings.by_type
  values = { locations = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
}
override_data {
  target = module.serving.data.aws_ssm_parameter.al2023_arm64
  values = { insecure_value = "ami-0123456789abcdef0", value = "ami-0123456789abcdef0" }
}
override_data {
  target = module.monitoring.data.aws_ssm_parameter.al2023_arm64
  values = { insecure_value = "ami-0123456789abcdef0", value = "ami-0123456789abcdef0" }
}

run "defaults" {
  command = plan

  assert {
    condition     = jsonencode(module.pipeline.access) == jsonencode(jsondecode(file("access.json")).stages) && jsonencode(module.serving.serve_access) == jsonencode(jsondecode(file("access.json")).serve)
    error_message = "The root must pass access.json's stages to the pipeline and its serve entry to the servers."
  }
  assert {
    condition     = module.serving.health_check_path == "/health" && startswith(module.serving.alb_url, "http://")
    error_message = "Defaults: HTTP ALB, /health check."
  }
  assert {
    condition     = length(module.network.public_subnet_ids) == 2 && length(module.network.private_subnet_ids) == 2
    error_message = "Defaults: two AZs."
  }
}

run "https_three_azs_waf" {
  command = plan
  variables {
    certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    waf_web_acl_arn = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/polarity/00000000-0000-0000-0000-000000000000"
    az_count        = 3
  }
  assert {
    condition     = startswith(module.serving.alb_url, "https://") && module.serving.health_check_path == "/health"
    error_message = "With certificate_arn the API is HTTPS."
  }
  assert {
    condition     = length(module.network.public_subnet_ids) == 3 && length(module.network.private_subnet_ids) == 3
    error_message = "az_count = 3 must give three public and three private subnets."
  }
}

run "bucket_name_leaves_room_for_logs_suffix" {
  command = plan
  variables {
    bucket_name = "abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" # 59: "-logs" would make 64
  }
  expect_failures = [var.bucket_name]
}

run "bucket_name_58_is_fine" {
  command = plan
  variables {
    bucket_name = "abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" # 58 + "-logs" = 63
  }
  assert {
    condition     = length(var.bucket_name) == 58
    error_message = "58 characters must be accepted."
  }
}

run "checksum_required" {
  command = plan
  variables {
    server_sha256 = ""
  }
  expect_failures = [var.server_sha256]
}

# With an image tag (CD sets it) the train task plans inside the network module's private subnets; the row
# limits follow the rows-per-GB rule: train function 2048 MiB / 1024 B, task 30720 MiB / 1024 B.
run "train_task" {
  command = plan
  variables {
    train_task_image_tag = "0123abc"
  }
  assert {
    condition     = module.pipeline.train_limits.function_max_rows == 2097152 && module.pipeline.train_limits.task_max_rows == 31457280
    error_message = "Row limits: 2 097 152 for the 2048 MB train function, 31 457 280 for the 30 GB task (1024 B per row)."
  }
  assert {
    condition     = module.pipeline.train_task.family == "polarity-train-task" && module.pipeline.train_task.cluster == "polarity-train" && module.pipeline.train_task.log_group == "/ecs/polarity-train-task"
    error_message = "The train task's family, cluster and log group."
  }
}

run "train_rule_settings" {
  command = plan
  variables {
    train_bytes_per_row   = 128
    train_rows_per_second = 1000
  }
  assert {
    # memory rule 2048 MiB / 128 B = 16 777 216; time rule 900 s x 1000/s = 900 000: the smaller wins
    condition     = module.pipeline.train_limits.function_max_rows == 900000 && module.pipeline.train_limits.task_max_rows == 251658240
    error_message = "POLARITY_TRAIN_MAX_ROWS must be min(memory rule, time rule)."
  }
}
