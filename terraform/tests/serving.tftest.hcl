# The serving module, planned with the real provider offline (see pipeline.tftest.hcl): health checks, IMDSv2,
# no SSH, the server role = access.json's `serve` entry, HTTP and HTTPS(+WAF) variants.

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
  name                  = "polarity"
  vpc_id                = "vpc-0123456789abcdef0"
  public_subnet_ids     = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
  private_subnet_ids    = ["subnet-0000000000000000c", "subnet-0000000000000000d"]
  logs_bucket_id        = "polarity-test-data-logs"
  bucket_id             = "polarity-test-data"
  bucket_arn            = "arn:aws:s3:::polarity-test-data"
  registry_table_name   = "polarity-registry"
  registry_table_arn    = "arn:aws:dynamodb:eu-west-1:123456789012:table/polarity-registry"
  serve_access          = jsondecode(file("access.json")).serve
  kms_key_arn           = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  server_version        = "0123abc"
  server_sha256         = "0000000000000000000000000000000000000000000000000000000000000000"
  instance_type         = "t4g.small"
  min_size              = 2
  max_size              = 6
  desired_capacity      = 2
  cpu_target_percent    = 60
  allowed_ingress_cidrs = ["0.0.0.0/0"]
  deletion_protection   = true
  alarm_topic_arn       = "arn:aws:sns:eu-west-1:123456789012:polarity-alarms"
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "123456789012", arn = "arn:aws:iam::123456789012:user/test", user_id = "TEST" }
}

override_data {
  target = data.aws_ssm_parameter.al2023_arm64
  values = { insecure_value = "ami-0123456789abcdef0", value = "ami-0123456789abcdef0" }
}

run "http_defaults" {
  command = plan
  module {
    source = "./modules/serving"
  }

  # /health, not /ready: a fleet waiting for its first model (/ready 503) must stay in service.
  assert {
    condition = (
      aws_lb_target_group.server.health_check[0].path == "/health" &&
      aws_lb_target_group.server.health_check[0].port == "traffic-port" &&
      aws_lb_target_group.server.port == 8080 &&
      aws_lb_target_group.server.health_check[0].matcher == "200"
    )
    error_message = "The target group must check GET /health on the server port (8080)."
  }

  # A broken instance (fails /health) is replaced: ELB health checks with a grace period.
  assert {
    condition     = aws_autoscaling_group.server.health_check_type == "ELB" && aws_autoscaling_group.server.health_check_grace_period >= 60
    error_message = "The ASG must use the ELB (/health) check with a grace period."
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.no_healthy_hosts.metric_name == "HealthyHostCount" &&
      aws_cloudwatch_metric_alarm.no_healthy_hosts.alarm_actions == toset([var.alarm_topic_arn])
    )
    error_message = "The no-healthy-host alarm must watch the same target group health and notify the topic."
  }

  # Terraform creates launch template versions; the instance refresh (CD) moves the ASG (provider issue #34189).
  assert {
    condition     = length(aws_autoscaling_group.server.instance_refresh) == 0
    error_message = "The ASG must not start instance refreshes itself (a failed one would 'roll back' to the new version)."
  }

  assert {
    condition = (
      aws_launch_template.server.metadata_options[0].http_tokens == "required" &&
      aws_launch_template.server.metadata_options[0].http_endpoint == "enabled" &&
      aws_launch_template.server.key_name == null
    )
    error_message = "Instances must require IMDSv2 and have no key pair."
  }
  assert {
    condition     = alltrue([for b in aws_launch_template.server.block_device_mappings : b.ebs[0].encrypted == "true"])
    error_message = "Instance volumes must be encrypted."
  }

  # No port 22, and instances reachable from the ALB only.
  assert {
    condition = alltrue([
      for r in concat(values(aws_vpc_security_group_ingress_rule.alb), [aws_vpc_security_group_ingress_rule.server_from_alb]) :
      !(r.from_port <= 22 && r.to_port >= 22) && r.ip_protocol == "tcp"
    ])
    error_message = "An ingress rule opens port 22."
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.alb : r.from_port]) == toset([80])
    error_message = "Without a certificate the ALB listens on 80 only."
  }

  # The server role: access.json's `serve` entry, the server artifact, kms:Decrypt. Nothing else.
  assert {
    condition = toset(flatten([
      for st in jsondecode(data.aws_iam_policy_document.server.json).Statement : [
        for act in flatten([st.Action]) : [for res in flatten([st.Resource]) : "${st.Effect} ${act} ${res}"]
      ]
      ])) == toset(concat(
      [for p in var.serve_access.get : "Allow s3:GetObject ${var.bucket_arn}/${p}"],
      [for act in var.serve_access.registry : "Allow ${act} ${var.registry_table_arn}"],
      [
        "Allow s3:ListBucket ${var.bucket_arn}",
        "Allow s3:GetObject ${var.bucket_arn}/artifacts/server/*",
        "Allow kms:Decrypt ${var.kms_key_arn}",
      ],
    ))
    error_message = "The server policy differs from access.json's `serve` entry (+ artifact read, kms:Decrypt)."
  }
  assert {
    condition = alltrue([
      for st in jsondecode(data.aws_iam_policy_document.server.json).Statement :
      toset(flatten([st.Condition.StringLike["s3:prefix"]])) == toset(flatten([for p in var.serve_access.list : [p, "${p}*"]]))
      if contains(flatten([st.Action]), "s3:ListBucket")
    ])
    error_message = "The server's ListBucket condition differs from access.json's `serve.list`."
  }

  # user-data verifies the artifact checksum (and refuses an empty one) and retries the download.
  assert {
    condition = (
      strcontains(base64decode(aws_launch_template.server.user_data), "expected_sha256='${var.server_sha256}'") &&
      strcontains(base64decode(aws_launch_template.server.user_data), "sha256sum --check --strict") &&
      strcontains(base64decode(aws_launch_template.server.user_data), "retry aws s3 cp")
    )
    error_message = "user-data must check the SHA-256 and retry the download."
  }

  assert {
    condition     = length(aws_lb_listener.https) == 0 && length(aws_wafv2_web_acl_association.this) == 0
    error_message = "No HTTPS listener or WAF association without certificate_arn / waf_web_acl_arn."
  }
  assert {
    condition     = aws_lb.this.access_logs[0].enabled && aws_lb.this.access_logs[0].bucket == var.logs_bucket_id && aws_lb.this.drop_invalid_header_fields
    error_message = "ALB access logs must be on."
  }
}

run "https_waf" {
  command = plan
  module {
    source = "./modules/serving"
  }
  variables {
    certificate_arn       = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    waf_web_acl_arn       = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/polarity/00000000-0000-0000-0000-000000000000"
    allowed_ingress_cidrs = ["198.51.100.0/24", "203.0.113.0/24"]
    private_subnet_ids    = ["subnet-0000000000000000c", "subnet-0000000000000000d", "subnet-0000000000000000e"]
  }

  assert {
    condition = (
      aws_lb_listener.https[0].port == 443 &&
      aws_lb_listener.https[0].certificate_arn == var.certificate_arn &&
      startswith(aws_lb_listener.https[0].ssl_policy, "ELBSecurityPolicy-TLS13") &&
      aws_lb_listener.http.default_action[0].type == "redirect"
    )
    error_message = "With a certificate: HTTPS on 443 (TLS 1.3 policy) and HTTP redirecting to it."
  }
  assert {
    condition     = aws_wafv2_web_acl_association.this[0].web_acl_arn == var.waf_web_acl_arn
    error_message = "The WAF web ACL must be associated with the ALB."
  }
  assert {
    condition = toset([for r in aws_vpc_security_group_ingress_rule.alb : "${r.cidr_ipv4}:${r.from_port}"]) == toset([
      "198.51.100.0/24:80", "198.51.100.0/24:443", "203.0.113.0/24:80", "203.0.113.0/24:443",
    ])
    error_message = "The ALB must admit exactly the allowed CIDRs on 80 and 443."
  }
  assert {
    condition     = aws_autoscaling_group.server.vpc_zone_identifier == toset(var.private_subnet_ids)
    error_message = "The ASG must span every private subnet."
  }
  assert {
    condition     = aws_lb_target_group.server.health_check[0].path == "/health"
    error_message = "HTTPS does not change the health check."
  }
}

run "empty_checksum_is_rejected" {
  command = plan
  module {
    source = "./modules/serving"
  }
  variables {
    server_sha256 = ""
  }
  expect_failures = [var.server_sha256]
}

# With an API key parameter: the instance role may read exactly that parameter, user-data names it (never a
# key) and hands it to the service through a root-only environment file. Without one: no SSM read at all.
run "api_key_from_ssm" {
  command = plan
  module {
    source = "./modules/serving"
  }
  variables {
    api_key_parameter = "/polarity/api-key"
  }
  assert {
    condition = contains(flatten([
      for st in jsondecode(data.aws_iam_policy_document.server.json).Statement : [
        for a in flatten([st.Action]) : "${a} ${join(",", flatten([st.Resource]))}"
      ]
    ]), "ssm:GetParameter arn:aws:ssm:eu-west-1:123456789012:parameter/polarity/api-key")
    error_message = "the instance role must read the API key parameter"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.server.user_data), "--name \"/polarity/api-key\"") && strcontains(base64decode(aws_launch_template.server.user_data), "EnvironmentFile=-/etc/polarity/server.env")
    error_message = "user-data must fetch the key by name into the service's environment file"
  }
}

run "no_api_key_no_ssm_read" {
  command = plan
  module {
    source = "./modules/serving"
  }
  assert {
    condition     = !strcontains(data.aws_iam_policy_document.server.json, "ssm:GetParameter")
    error_message = "without api_key_parameter the instance role reads no parameter"
  }
}
