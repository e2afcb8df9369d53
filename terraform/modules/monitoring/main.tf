# Prometheus (EC2 service discovery of the server ASG by its polarity-role=server tag), Alertmanager (-> the
# alarm SNS topic) and Grafana on one small instance, reachable only from var.allowed_cidrs, provisioned with the
# files docker-compose uses.
#
# Configs are NOT embedded in user-data: Terraform uploads monitoring/ to s3://<bucket>/ops/monitoring/, and the
# host syncs them at boot and every 5 minutes (systemd timer), reloading Prometheus/Alertmanager and restarting
# Grafana when something changed. An edit under monitoring/ therefore updates the host in place; the TSDB,
# Alertmanager silences and Grafana state live on a separate EBS volume that survives even a replaced host.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

data "aws_ssm_parameter" "al2023_arm64" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

locals {
  prefix = "ops/monitoring/"
  files = setunion(
    fileset(var.monitoring_dir, "prometheus/*.yml"),
    fileset(var.monitoring_dir, "alertmanager/*.yml"),
    fileset(var.monitoring_dir, "grafana/**/*.{yml,yaml,json}"),
  )
  password_placeholder = "generated-on-first-boot"
  data_device          = "/dev/sdf" # AL2023's udev rules link the NVMe device of this EBS attachment here
  # Spelled from its name (the parameter below) so the role policy renders at plan time (terraform/tests).
  password_parameter_name = "/${var.name}/grafana/admin-password"
  password_parameter_arn  = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter${local.password_parameter_name}"
}

resource "aws_s3_object" "config" {
  for_each = local.files
  bucket   = var.bucket_id
  key      = "${local.prefix}${each.value}"
  source   = "${var.monitoring_dir}/${each.value}"
  # SSE-KMS objects have no MD5 etag; source_hash still re-uploads on change.
  source_hash = filemd5("${var.monitoring_dir}/${each.value}")
}

# Grafana's admin password: the monitoring host generates it on first boot and writes it here (it may overwrite
# only this parameter, and only while it holds the placeholder), so the password is in neither the Terraform
# state nor user-data, and no provider besides hashicorp/aws is needed.
resource "aws_ssm_parameter" "grafana_password" {
  name   = local.password_parameter_name
  type   = "SecureString"
  key_id = var.kms_key_arn
  value  = local.password_placeholder

  lifecycle {
    ignore_changes = [value] # set by the host
  }
}

locals {
  user_data = templatefile("${path.module}/user-data.sh.tftpl", {
    bucket                     = var.bucket_id
    region                     = data.aws_region.current.name
    prefix                     = local.prefix
    alarm_topic_arn            = var.alarm_topic_arn
    grafana_password_parameter = aws_ssm_parameter.grafana_password.name
    password_placeholder       = local.password_placeholder
    kms_key_arn                = var.kms_key_arn
    data_device                = local.data_device
    prometheus_image           = var.prometheus_image
    alertmanager_image         = var.alertmanager_image
    grafana_image              = var.grafana_image
  })
}

# --- network ---------------------------------------------------------------------------------------------------

resource "aws_security_group" "monitoring" {
  name        = "${var.name}-monitoring"
  description = "Prometheus and Grafana: UI ports from allowed CIDRs only" # (and Alertmanager; kept: a new description replaces the group)
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "ui" {
  for_each = {
    for pair in setproduct(var.allowed_cidrs, [3000, 9090, 9093]) : "${pair[0]}-${pair[1]}" => { cidr = pair[0], port = pair[1] }
  }
  security_group_id = aws_security_group.monitoring.id
  description       = "${lookup({ 3000 = "Grafana", 9090 = "Prometheus", 9093 = "Alertmanager" }, each.value.port)} from operators"
  cidr_ipv4         = each.value.cidr
  from_port         = each.value.port
  to_port           = each.value.port
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.monitoring.id
  description       = "HTTPS to AWS APIs and container registries"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "scrape" {
  security_group_id            = aws_security_group.monitoring.id
  description                  = "Prometheus scrapes polarity-server /metrics"
  referenced_security_group_id = var.server_security_group_id
  from_port                    = 8080
  to_port                      = 8080
  ip_protocol                  = "tcp"
}

# The one exception to "servers reachable only from the ALB": Prometheus, on the server port, from this group.
resource "aws_vpc_security_group_ingress_rule" "server_from_prometheus" {
  security_group_id            = var.server_security_group_id
  description                  = "Prometheus scrape of /metrics"
  referenced_security_group_id = aws_security_group.monitoring.id
  from_port                    = 8080
  to_port                      = 8080
  ip_protocol                  = "tcp"
}

# --- instance --------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name               = "${var.name}-monitoring"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "monitoring" {
  statement {
    sid       = "Ec2ServiceDiscovery"
    actions   = ["ec2:DescribeInstances", "ec2:DescribeAvailabilityZones"]
    resources = ["*"] # Describe* actions have no resource-level permissions
  }
  statement {
    sid       = "ReadConfigs"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/${local.prefix}*"]
  }
  statement {
    sid       = "ListConfigs"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.prefix}*"]
    }
  }
  statement {
    sid       = "GrafanaPassword"
    actions   = ["ssm:GetParameter", "ssm:PutParameter"]
    resources = [local.password_parameter_arn]
  }
  # Alertmanager's sns_configs (SigV4 with this role) publish to the alarm topic, which is KMS-encrypted.
  statement {
    sid       = "AlertsToSns"
    actions   = ["sns:Publish"]
    resources = [var.alarm_topic_arn]
  }
  # Decrypt: configs (SSE-KMS) and the password; Encrypt/GenerateDataKey: writing the SecureString password and
  # publishing to the encrypted topic.
  statement {
    sid       = "Key"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "monitoring" {
  name   = "discovery-and-configs"
  role   = aws_iam_role.monitoring.id
  policy = data.aws_iam_policy_document.monitoring.json
}

resource "aws_iam_instance_profile" "monitoring" {
  name = "${var.name}-monitoring"
  role = aws_iam_role.monitoring.name
}

resource "aws_instance" "monitoring" {
  #checkov:skip=CKV_AWS_88:Operators reach Grafana/Prometheus directly; the security group admits only var.monitoring_allowed_cidrs.
  ami                         = data.aws_ssm_parameter.al2023_arm64.insecure_value
  instance_type               = var.instance_type
  subnet_id                   = var.public_subnet_id
  vpc_security_group_ids      = [aws_security_group.monitoring.id]
  iam_instance_profile        = aws_iam_instance_profile.monitoring.name
  associate_public_ip_address = true
  ebs_optimized               = true
  monitoring                  = var.detailed_monitoring
  # user-data holds no configs (they are synced from S3), so it changes only when this template does; such a
  # change must not destroy the host silently. Re-run it with `terraform apply -replace=...` (the data volume
  # survives).
  user_data_replace_on_change = false

  user_data = local.user_data

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2 # Prometheus and Alertmanager run in containers and need IMDS (EC2 discovery, SigV4)
  }

  root_block_device {
    volume_size = 16
    volume_type = "gp3"
    encrypted   = true
  }

  tags = { Name = "${var.name}-monitoring" }

  lifecycle {
    ignore_changes = [ami] # a newer AL2023 must not replace the host on every plan
  }

  depends_on = [aws_s3_object.config]
}

# Prometheus TSDB, Alertmanager state and Grafana's database: kept apart from the instance so that replacing
# the host keeps them. Same AZ as the host's subnet.
data "aws_subnet" "monitoring" {
  id = var.public_subnet_id
}

resource "aws_ebs_volume" "data" {
  #checkov:skip=CKV2_AWS_9:Prometheus data is a 30-day metrics window rebuilt by scraping; no AWS Backup plan is kept for it.
  availability_zone = data.aws_subnet.monitoring.availability_zone
  size              = var.data_volume_size
  type              = "gp3"
  encrypted         = true
  kms_key_id        = var.kms_key_arn
  tags              = { Name = "${var.name}-monitoring-data" }
}

resource "aws_volume_attachment" "data" {
  device_name = local.data_device
  volume_id   = aws_ebs_volume.data.id
  instance_id = aws_instance.monitoring.id
}
