# Network and monitoring modules, planned with the real provider offline (see pipeline.tftest.hcl).

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

run "network_three_azs" {
  command = plan
  module {
    source = "./modules/network"
  }
  variables {
    name               = "polarity"
    cidr               = "10.40.0.0/16"
    az_count           = 3
    instance_types     = ["t4g.small"]
    single_nat_gateway = false
    kms_key_arn        = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    log_retention_days = 30
  }
  override_data {
    target = data.aws_availability_zones.available
    values = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  override_data {
    target = data.aws_ec2_instance_type_offerings.by_type
    values = { locations = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  assert {
    condition = (
      length(aws_subnet.public) == 3 && length(aws_subnet.private) == 3 && length(aws_nat_gateway.this) == 3 &&
      toset(aws_subnet.private[*].availability_zone) == toset(["eu-west-1a", "eu-west-1b", "eu-west-1c"])
    )
    error_message = "az_count = 3 must give 3 public and 3 private subnets in 3 AZs (and a NAT each when not shared)."
  }
  assert {
    condition     = aws_cloudwatch_log_group.flow.kms_key_id == var.kms_key_arn
    error_message = "Flow logs must be KMS-encrypted."
  }
  assert {
    condition     = alltrue([for s in aws_subnet.public : !s.map_public_ip_on_launch])
    error_message = "Public subnets must not hand out public IPs by default."
  }
}

# a zone that does not offer the instance type is skipped: eu-west-1b lacks it here
run "network_skips_zones_without_the_instance_type" {
  command = plan
  module {
    source = "./modules/network"
  }
  variables {
    name               = "polarity"
    cidr               = "10.40.0.0/16"
    az_count           = 2
    instance_types     = ["c7g.large", "t4g.small"]
    single_nat_gateway = true
    kms_key_arn        = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    log_retention_days = 30
  }
  override_data {
    target = data.aws_availability_zones.available
    values = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  override_data {
    target = data.aws_ec2_instance_type_offerings.by_type
    values = { locations = ["eu-west-1a", "eu-west-1c"] }
  }
  assert {
    condition     = toset(aws_subnet.private[*].availability_zone) == toset(["eu-west-1a", "eu-west-1c"]) && toset(aws_subnet.public[*].availability_zone) == toset(["eu-west-1a", "eu-west-1c"])
    error_message = "Subnets must go only to zones that offer every instance type (not eu-west-1b)."
  }
}

# more zones asked for than offer the type: the plan stops with a message naming the zones
run "network_refuses_too_few_offering_zones" {
  command = plan
  module {
    source = "./modules/network"
  }
  variables {
    name               = "polarity"
    cidr               = "10.40.0.0/16"
    az_count           = 3
    instance_types     = ["c7g.large"]
    single_nat_gateway = true
    kms_key_arn        = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    log_retention_days = 30
  }
  override_data {
    target = data.aws_availability_zones.available
    values = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  override_data {
    target = data.aws_ec2_instance_type_offerings.by_type
    values = { locations = ["eu-west-1a", "eu-west-1c"] }
  }
  expect_failures = [aws_vpc.this]
}

run "monitoring" {
  command = plan
  module {
    source = "./modules/monitoring"
  }
  variables {
    name                     = "polarity"
    vpc_id                   = "vpc-0123456789abcdef0"
    public_subnet_id         = "subnet-0000000000000000a"
    allowed_cidrs            = ["203.0.113.10/32"]
    server_security_group_id = "sg-0123456789abcdef0"
    bucket_id                = "polarity-test-data"
    bucket_arn               = "arn:aws:s3:::polarity-test-data"
    kms_key_arn              = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    monitoring_dir           = "../monitoring"
    instance_type            = "t4g.small"
    prometheus_image         = "prom/prometheus:v2.55.1"
    grafana_image            = "grafana/grafana:11.5.2"
    alertmanager_image       = "prom/alertmanager:v0.28.1"
    alarm_topic_arn          = "arn:aws:sns:eu-west-1:123456789012:polarity-alarms"
  }
  override_data {
    target = data.aws_ssm_parameter.al2023_arm64
    values = { insecure_value = "ami-0123456789abcdef0", value = "ami-0123456789abcdef0" }
  }
  override_data {
    target = data.aws_subnet.monitoring
    values = { availability_zone = "eu-west-1a" }
  }
  override_data {
    target = data.aws_caller_identity.current
    values = { account_id = "123456789012" }
  }

  assert {
    condition = alltrue([
      for r in aws_vpc_security_group_ingress_rule.ui : !(r.from_port <= 22 && r.to_port >= 22) && r.cidr_ipv4 != "0.0.0.0/0"
    ]) && toset([for r in aws_vpc_security_group_ingress_rule.ui : r.from_port]) == toset([3000, 9090, 9093])
    error_message = "Monitoring ingress: Grafana, Prometheus and Alertmanager from the allowed CIDRs only, never port 22."
  }
  assert {
    condition     = aws_instance.monitoring.metadata_options[0].http_tokens == "required" && aws_instance.monitoring.root_block_device[0].encrypted
    error_message = "The monitoring host must require IMDSv2 and encrypt its root volume."
  }
  # An edit under monitoring/ must not replace the host: configs are synced from S3, not embedded in user-data.
  assert {
    condition = (
      !aws_instance.monitoring.user_data_replace_on_change &&
      !strcontains(output.user_data, "scrape_configs") &&
      strcontains(output.user_data, "polarity-monitoring-sync.timer") &&
      strcontains(output.user_data, "polarity-retry aws s3 sync") &&
      strcontains(output.user_data, "retry docker pull")
    )
    error_message = "The monitoring host must fetch its configs from S3 (timer) instead of embedding them in user-data."
  }
  assert {
    condition     = aws_ebs_volume.data.encrypted && aws_ebs_volume.data.kms_key_id == var.kms_key_arn && aws_ebs_volume.data.availability_zone == "eu-west-1a"
    error_message = "Monitoring data must live on a separate encrypted volume in the host's AZ."
  }
  assert {
    condition     = contains(keys(aws_s3_object.config), "alertmanager/alertmanager.aws.yml") && contains(keys(aws_s3_object.config), "prometheus/prometheus.aws.yml")
    error_message = "The Prometheus and Alertmanager configs must be uploaded."
  }
  # Alertmanager publishes to the alarm topic; the Grafana password is written by the host, to this one parameter.
  assert {
    condition = toset(flatten([
      for st in jsondecode(data.aws_iam_policy_document.monitoring.json).Statement : [
        for act in flatten([st.Action]) : [for res in flatten([st.Resource]) : "${act} ${res}"]
      ]
      ])) == toset([
      "ec2:DescribeInstances *", "ec2:DescribeAvailabilityZones *",
      "s3:GetObject ${var.bucket_arn}/ops/monitoring/*", "s3:ListBucket ${var.bucket_arn}",
      "ssm:GetParameter arn:aws:ssm:eu-west-1:123456789012:parameter/polarity/grafana/admin-password",
      "ssm:PutParameter arn:aws:ssm:eu-west-1:123456789012:parameter/polarity/grafana/admin-password",
      "sns:Publish ${var.alarm_topic_arn}",
      "kms:Decrypt ${var.kms_key_arn}", "kms:Encrypt ${var.kms_key_arn}", "kms:GenerateDataKey ${var.kms_key_arn}",
    ])
    error_message = "The monitoring role's permissions changed."
  }
  assert {
    condition     = aws_ssm_parameter.grafana_password.type == "SecureString" && aws_ssm_parameter.grafana_password.key_id == var.kms_key_arn
    error_message = "The Grafana password parameter must be a KMS SecureString."
  }
}
