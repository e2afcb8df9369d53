output "backend_config" {
  description = "Contents for terraform/backend.hcl (main root): `terraform init -backend-config=backend.hcl`."
  value       = <<-EOT
    bucket         = "${aws_s3_bucket.state.id}"
    key            = "polarity/main.tfstate"
    region         = "${var.region}"
    dynamodb_table = "${aws_dynamodb_table.lock.name}"
    encrypt        = true
    kms_key_id     = "${aws_kms_key.state.arn}"
  EOT
}

output "plan_role_arn" {
  description = "Set as the repository variable AWS_PLAN_ROLE_ARN."
  value       = aws_iam_role.plan.arn
}

output "apply_role_arn" {
  description = "Set as the repository variable AWS_APPLY_ROLE_ARN."
  value       = aws_iam_role.apply.arn
}
