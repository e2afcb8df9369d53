output "bucket_id" {
  description = "Data bucket name."
  value       = aws_s3_bucket.data.id
}

output "bucket_arn" {
  description = "Data bucket ARN."
  value       = aws_s3_bucket.data.arn
}

output "logs_bucket_id" {
  description = "Log bucket name (S3 access logs under s3/, ALB logs under alb/)."
  value       = aws_s3_bucket.logs.id
}
