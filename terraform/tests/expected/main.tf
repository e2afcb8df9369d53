# Helper module for pipeline.tftest.hcl: the (effect, action, resource) triples each stage role must have,
# computed from access.json alone (no provider, no resources).

variable "access" {
  type = map(object({
    triggers = list(object({ prefix = string, suffix = string }))
    get      = list(string)
    list     = list(string)
    put      = list(string)
    registry = list(string)
  }))
}

variable "bucket_arn" {
  type    = string
  default = "arn:aws:s3:::polarity-test-data"
}

variable "registry_table_arn" {
  type    = string
  default = "arn:aws:dynamodb:eu-west-1:123456789012:table/polarity-registry"
}

variable "kms_key_arn" {
  type    = string
  default = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
}

output "stage_grants" {
  value = {
    for stage, a in var.access : stage => toset(concat(
      [for p in a.get : "Allow s3:GetObject ${var.bucket_arn}/${p}"],
      [for p in a.put : "Allow s3:PutObject ${var.bucket_arn}/${p}"],
      length(a.list) > 0 ? ["Allow s3:ListBucket ${var.bucket_arn}"] : [],
      [for act in a.registry : "Allow ${act} ${var.registry_table_arn}"],
      [
        "Allow kms:Decrypt ${var.kms_key_arn}",
        "Allow kms:GenerateDataKey ${var.kms_key_arn}",
        "Allow sqs:SendMessage arn:aws:sqs:eu-west-1:123456789012:polarity-pipeline-failures",
        "Allow logs:CreateLogStream arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/polarity-${stage}:*",
        "Allow logs:PutLogEvents arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/polarity-${stage}:*",
        "Allow xray:PutTraceSegments *",
        "Allow xray:PutTelemetryRecords *",
      ],
    ))
  }
}
