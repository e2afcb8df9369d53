# Serving: ALB (HTTP, or HTTPS with an HTTP redirect when a certificate is given) -> target group with a /health
# health check -> Auto Scaling Group of polarity-server instances in private subnets. No SSH: no key pair, no
# port 22, Session Manager through the instance role.
#
# Health: the target group checks /health (the process is up and serving HTTP), NOT /ready (a model is loaded).
# A fleet waiting for its first model answers /health 200 and /ready 503, so it stays registered and is not
# replaced in a loop; a broken instance (binary missing, crash loop, port closed) fails /health and the ASG
# (health_check_type = ELB) replaces it after the grace period. "No model anywhere" is an alert (Prometheus
# PolarityNoReadyInstance -> Alertmanager -> SNS), not a reason to replace instances.
#
# Rollout (terraform-provider-aws#34189): when Terraform both moves the ASG to a new launch template version AND
# starts the refresh, a failed refresh "rolls back" to the same new version. So Terraform only creates launch
# template versions; the ASG's version is ignored after creation, and CD starts the refresh with the new version
# as its DesiredConfiguration and AutoRollback (terraform/deploy/instance-refresh.sh), waits for it, and fails
# when it rolled back. The ASG moves to the new version only when the refresh succeeds.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

data "aws_ssm_parameter" "al2023_arm64" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

locals {
  https     = var.certificate_arn != ""
  port      = 8080
  ami_id    = var.ami_id != "" ? var.ami_id : data.aws_ssm_parameter.al2023_arm64.insecure_value
  alb_ports = local.https ? [80, 443] : [80]
  alb_ingress = {
    for pair in setproduct(var.allowed_ingress_cidrs, local.alb_ports) : "${pair[0]}-${pair[1]}" => { cidr = pair[0], port = pair[1] }
  }
}

# --- security groups -------------------------------------------------------------------------------------------

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "Polarity ALB: HTTP/HTTPS from allowed CIDRs, to server instances on ${local.port}"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  #checkov:skip=CKV_AWS_260:The ALB is the public API entry point; allowed_ingress_cidrs narrows it when needed.
  for_each          = local.alb_ingress
  security_group_id = aws_security_group.alb.id
  description       = "Clients to the ALB on ${each.value.port}"
  cidr_ipv4         = each.value.cidr
  from_port         = each.value.port
  to_port           = each.value.port
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "alb_to_server" {
  security_group_id            = aws_security_group.alb.id
  description                  = "ALB to server instances"
  referenced_security_group_id = aws_security_group.server.id
  from_port                    = local.port
  to_port                      = local.port
  ip_protocol                  = "tcp"
}

resource "aws_security_group" "server" {
  name        = "${var.name}-server"
  description = "Polarity server instances: ${local.port} from the ALB only (and Prometheus, added by the monitoring module)"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "server_from_alb" {
  security_group_id            = aws_security_group.server.id
  description                  = "ALB to polarity-server"
  referenced_security_group_id = aws_security_group.alb.id
  from_port                    = local.port
  to_port                      = local.port
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "server_https" {
  security_group_id = aws_security_group.server.id
  description       = "HTTPS to AWS APIs (S3/DynamoDB via gateway endpoints, SSM via NAT)"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

# --- load balancer ---------------------------------------------------------------------------------------------

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_76:No WAF is attached by default (see CKV2_AWS_28); the Log4j rule set belongs to whichever web ACL var.waf_web_acl_arn names.
  #checkov:skip=CKV2_AWS_20:The HTTP listener redirects to HTTPS whenever certificate_arn is set; without a certificate there is no HTTPS to redirect to.
  #checkov:skip=CKV2_AWS_28:A WAF web ACL is an account-level choice (cost, rule sets); attach one with var.waf_web_acl_arn.
  name                       = "${var.name}-alb"
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 30

  access_logs {
    bucket  = var.logs_bucket_id
    prefix  = "alb"
    enabled = true
  }
}

resource "aws_wafv2_web_acl_association" "this" {
  count        = var.waf_web_acl_arn == "" ? 0 : 1
  resource_arn = aws_lb.this.arn
  web_acl_arn  = var.waf_web_acl_arn
}

resource "aws_lb_target_group" "server" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the ALB; ALB-to-instance traffic stays inside the VPC between two security groups.
  name                 = "${var.name}-server"
  port                 = local.port
  protocol             = "HTTP"
  vpc_id               = var.vpc_id
  target_type          = "instance"
  deregistration_delay = 30 # < TimeoutStopSec of the unit: in-flight requests drain before SIGTERM ends

  health_check {
    path                = "/health"
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:Plain HTTP forwards only when no certificate_arn is given; with one, this listener redirects to HTTPS.
  #checkov:skip=CKV_AWS_103:TLS policy applies to the HTTPS listener, created when certificate_arn is set.
  #checkov:skip=CKV2_AWS_20:Redirects to HTTPS whenever certificate_arn is set; without a certificate there is no HTTPS to redirect to.
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  dynamic "default_action" {
    for_each = local.https ? [1] : []
    content {
      type = "redirect"
      redirect {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }

  dynamic "default_action" {
    for_each = local.https ? [] : [1]
    content {
      type             = "forward"
      target_group_arn = aws_lb_target_group.server.arn
    }
  }
}

resource "aws_lb_listener" "https" {
  count             = local.https ? 1 : 0
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.server.arn
  }
}

# /metrics is for Prometheus inside the VPC, not for the internet.
resource "aws_lb_listener_rule" "hide_metrics" {
  listener_arn = local.https ? aws_lb_listener.https[0].arn : aws_lb_listener.http.arn
  priority     = 10

  condition {
    path_pattern {
      values = ["/metrics", "/metrics/*"]
    }
  }

  action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "not found"
      status_code  = "404"
    }
  }
}

# --- instances -------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "server" {
  name               = "${var.name}-server"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.server.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

# The `serve` entry of access.json (+ kms:Decrypt), and the server binary the instance installs at boot.
data "aws_iam_policy_document" "server" {
  statement {
    sid       = "Read"
    actions   = ["s3:GetObject"]
    resources = [for p in var.serve_access.get : "${var.bucket_arn}/${p}"]
  }
  statement {
    sid       = "List"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = flatten([for p in var.serve_access.list : [p, "${p}*"]])
    }
  }
  statement {
    sid       = "ReadServerArtifact"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/artifacts/server/*"]
  }
  statement {
    sid       = "BucketKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "Registry"
    actions   = var.serve_access.registry
    resources = [var.registry_table_arn]
  }
  dynamic "statement" {
    for_each = var.api_key_parameter == "" ? [] : [1]
    content {
      sid       = "ApiKey"
      actions   = ["ssm:GetParameter"]
      resources = ["arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter/${trimprefix(var.api_key_parameter, "/")}"]
    }
  }
}

resource "aws_iam_role_policy" "server" {
  name   = "read-models-and-registry"
  role   = aws_iam_role.server.id
  policy = data.aws_iam_policy_document.server.json
}

resource "aws_iam_instance_profile" "server" {
  name = "${var.name}-server"
  role = aws_iam_role.server.name
}

resource "aws_launch_template" "server" {
  name_prefix            = "${var.name}-server-"
  description            = "polarity-server ${var.server_version}"
  image_id               = local.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.server.id]
  update_default_version = true
  ebs_optimized          = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.server.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = 16
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  user_data = base64encode(templatefile("${path.module}/user-data.sh.tftpl", {
    bucket            = var.bucket_id
    artifact_key      = "artifacts/server/${var.server_version}/polarity-server"
    artifact_sha256   = var.server_sha256
    table             = var.registry_table_name
    region            = data.aws_region.current.name
    rust_log          = var.rust_log
    port              = local.port
    api_key_parameter = var.api_key_parameter
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "${var.name}-server", "polarity-role" = "server", "polarity-server-version" = var.server_version }
  }
  tag_specifications {
    resource_type = "volume"
    tags          = { Name = "${var.name}-server" }
  }
}

resource "aws_autoscaling_group" "server" {
  name                = "${var.name}-server"
  vpc_zone_identifier = var.private_subnet_ids
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.desired_capacity
  # Replace instances the ALB finds unhealthy on /health (see the top of this file); the grace period covers
  # boot, the binary download and the server start.
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period
  target_group_arns         = [aws_lb_target_group.server.arn]
  default_instance_warmup   = 60
  enabled_metrics           = ["GroupInServiceInstances", "GroupDesiredCapacity", "GroupTotalInstances"]

  # A numbered version (auto-rollback cannot return to $Latest/$Default). Set at creation; afterwards only a
  # successful instance refresh moves it (CD), hence ignore_changes below.
  launch_template {
    id      = aws_launch_template.server.id
    version = aws_launch_template.server.latest_version
  }

  tag {
    key                 = "polarity-role"
    value               = "server"
    propagate_at_launch = true
  }
  tag {
    key                 = "Name"
    value               = "${var.name}-server"
    propagate_at_launch = true
  }

  lifecycle {
    # desired_capacity: owned by target tracking after creation. launch_template: owned by the instance refresh
    # (terraform-provider-aws#34189, see the top of this file).
    ignore_changes = [desired_capacity, launch_template]
  }
}

resource "aws_autoscaling_policy" "cpu" {
  name                   = "${var.name}-cpu-target"
  autoscaling_group_name = aws_autoscaling_group.server.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = var.cpu_target_percent
  }
}

# Same signal as the target group health check and the ASG: /health.
resource "aws_cloudwatch_metric_alarm" "no_healthy_hosts" {
  alarm_name          = "${var.name}-no-healthy-hosts"
  alarm_description   = "No instance behind the ALB passes /health: the API is down."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  dimensions          = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.server.arn_suffix }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = var.alarm_topic_arn == "" ? [] : [var.alarm_topic_arn]
}

# The instance refresh's rollback trigger (CD passes it as AlarmSpecification): a new instance that fails
# /health for 3 minutes rolls the refresh back to the previous launch template version.
resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  alarm_name          = "${var.name}-unhealthy-hosts"
  alarm_description   = "An instance behind the ALB fails /health (rolls back a running instance refresh)."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.server.arn_suffix }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn == "" ? [] : [var.alarm_topic_arn]
}
