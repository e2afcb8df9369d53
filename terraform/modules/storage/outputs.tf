output "bucket_id" {
  description = "Data bucket name."
  value       = aws_s3_bucket.data.id
}

output "bucket_arn" {
  description = "Data bucket ARN."
  value       = aws_s3_bucket.data.arn
}

output "logs_bucket_id" {
  description = "Log bucket name (S3 access logs under s3/, ALB logs under alb/). Known only once the bucket policy that admits ALB log delivery (and the ownership controls) exist, so the ALB's access_logs setting waits for them."
  value       = aws_s3_bucket.logs.id
  depends_on  = [aws_s3_bucket_policy.logs, aws_s3_bucket_ownership_controls.logs]
}
