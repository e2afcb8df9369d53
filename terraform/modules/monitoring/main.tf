# Prometheus (EC2 service discovery of the server ASG by its polarity-role=server tag) and Grafana on one
# small instance, reachable only from var.allowed_cidrs, provisioned with the files docker-compose uses.

data "aws_partition" "current" {}
data "aws_region" "current" {}

data "aws_ssm_parameter" "al2023_arm64" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

locals {
  prefix = "ops/monitoring/"
  files = setunion(
    fileset(var.monitoring_dir, "prometheus/*.yml"),
    fileset(var.monitoring_dir, "grafana/**/*.{yml,yaml,json}"),
  )
  config_digest = sha256(join(",", [for f in sort(tolist(local.files)) : filesha256("${var.monitoring_dir}/${f}")]))
}

resource "aws_s3_object" "config" {
  for_each = local.files
  bucket   = var.bucket_id
  key      = "${local.prefix}${each.value}"
  source   = "${var.monitoring_dir}/${each.value}"
  # SSE-KMS objects have no MD5 etag; source_hash still re-uploads on change.
  source_hash = filemd5("${var.monitoring_dir}/${each.value}")
}

resource "random_password" "grafana" {
  length  = 32
  special = false
}

resource "aws_ssm_parameter" "grafana_password" {
  name   = "/${var.name}/grafana/admin-password"
  type   = "SecureString"
  key_id = var.kms_key_arn
  value  = random_password.grafana.result
}

# --- network ---------------------------------------------------------------------------------------------------

resource "aws_security_group" "monitoring" {
  name        = "${var.name}-monitoring"
  description = "Prometheus and Grafana: UI ports from allowed CIDRs only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "ui" {
  for_each = {
    for pair in setproduct(var.allowed_cidrs, [3000, 9090]) : "${pair[0]}-${pair[1]}" => { cidr = pair[0], port = pair[1] }
  }
  security_group_id = aws_security_group.monitoring.id
  description       = each.value.port == 3000 ? "Grafana from operators" : "Prometheus from operators"
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
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.grafana_password.arn]
  }
  statement {
    sid       = "Decrypt"
    actions   = ["kms:Decrypt"]
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
  monitoring                  = true
  user_data_replace_on_change = true

  user_data = templatefile("${path.module}/user-data.sh.tftpl", {
    bucket                     = var.bucket_id
    region                     = data.aws_region.current.name
    prefix                     = local.prefix
    config_digest              = local.config_digest
    grafana_password_parameter = aws_ssm_parameter.grafana_password.name
    prometheus_image           = var.prometheus_image
    grafana_image              = var.grafana_image
  })

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2 # Prometheus runs in a container and needs IMDS for EC2 discovery
  }

  root_block_device {
    volume_size = 30
    volume_type = "gp3"
    encrypted   = true
  }

  tags = { Name = "${var.name}-monitoring" }

  lifecycle {
    ignore_changes = [ami] # a newer AL2023 must not replace the host (and its TSDB) on every plan
  }

  depends_on = [aws_s3_object.config]
}
