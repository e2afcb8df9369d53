# The serverless /predict: the server's axum router behind lambda_http, model from the registry's production
# pointer. Exposed through a function URL with IAM auth (callers sign with SigV4) unless told otherwise.

resource "aws_iam_role" "predict" {
  name               = "${var.name}-predict"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
}

data "aws_iam_policy_document" "predict" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn["predict"]}:*"]
  }
  # The `serve` entry of access.json (+ kms:Decrypt for the SSE-KMS objects).
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
    sid       = "BucketKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "Registry"
    actions   = var.serve_access.registry
    resources = [var.registry_table_arn]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }
}

resource "aws_iam_role_policy" "predict" {
  name   = "least-privilege"
  role   = aws_iam_role.predict.id
  policy = data.aws_iam_policy_document.predict.json
}

resource "aws_lambda_function" "predict" {
  #checkov:skip=CKV_AWS_117:Reads S3 and DynamoDB through IAM-authenticated public endpoints; a VPC adds cold-start latency and NAT cost for no isolation gain.
  #checkov:skip=CKV_AWS_116:Invoked synchronously through the function URL; a dead-letter queue only applies to asynchronous invokes.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile in the CD account; artifacts are built and deployed only by the OIDC-authenticated CD workflow.
  function_name    = "${var.name}-predict"
  role             = aws_iam_role.predict.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["arm64"]
  filename         = "${var.lambda_zip_dir}/polarity-fn-predict/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.lambda_zip_dir}/polarity-fn-predict/bootstrap.zip")
  # The model is a few MB and inference is microseconds per text; 512 MB keeps cold start (model load from S3)
  # short. 10 s covers a cold start plus a full batch.
  memory_size = 512
  timeout     = 10
  kms_key_arn = var.kms_key_arn

  reserved_concurrent_executions = var.predict_concurrency

  environment {
    variables = local.function_env
  }

  dynamic "logging_config" {
    for_each = var.json_logging ? [1] : []
    content {
      log_format            = "JSON"
      log_group             = aws_cloudwatch_log_group.fn["predict"].name
      application_log_level = "INFO"
      # INFO keeps the platform's START/END/REPORT lines (duration, billed time, max memory used),
      # which terraform/README.md (Sizing) sizes the functions from; WARN would drop them
      system_log_level = "INFO"
    }
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_iam_role_policy.predict]
}

resource "aws_lambda_function_url" "predict" {
  function_name      = aws_lambda_function.predict.function_name
  authorization_type = var.predict_url_auth_type
}

# With AWS_IAM the caller's own IAM policy must allow lambda:InvokeFunctionUrl and lambda:InvokeFunction on this
# function. With NONE the URL is public and needs a resource policy: since October 2025 a public URL needs BOTH statements: lambda:InvokeFunctionUrl (auth type NONE) and
# lambda:InvokeFunction. AWS's console scopes the second with the condition lambda:InvokedViaFunctionUrl = true;
# provider 5.100 has no argument for that condition, so the second statement also admits direct Invoke calls by
# any AWS principal: the same function with the same input validation as the public URL, nothing more.
resource "aws_lambda_permission" "predict_public_url" {
  count                  = var.predict_url_auth_type == "NONE" ? 1 : 0
  statement_id           = "AllowPublicFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.predict.function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "predict_public_invoke" {
  count         = var.predict_url_auth_type == "NONE" ? 1 : 0
  statement_id  = "AllowPublicFunctionUrlInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.predict.function_name
  principal     = "*"
}
