#!/usr/bin/env bash
# Creates the local AWS side of Polarity against any AWS-compatible endpoint (LocalStack in docker-compose,
# moto in tests): the data bucket, the registry table, the failure queue, and the S3 notifications that run
# the pipeline. Idempotent: safe to run again.
#
# Two trigger modes (POLARITY_TRIGGER):
#   lambda  (docker-compose + LocalStack, needs Docker for Lambda): the functions are created from the
#           cargo-lambda zips and S3 invokes them directly, with retries and an SQS on-failure destination,
#           as in AWS.
#   sqs     (no Docker / `cargo lambda watch`): S3 notifies one SQS queue per stage
#           (polarity-<stage>-events) and localstack/relay.py delivers each event to
#           http://127.0.0.1:9009/2015-03-31/functions/polarity-fn-<stage>/invocations.
#
# Environment (defaults in brackets):
#   AWS_ENDPOINT_URL [http://localhost:4566]   AWS_DEFAULT_REGION [us-east-1]
#   POLARITY_BUCKET [polarity-data]  POLARITY_TABLE [polarity-registry]  POLARITY_TRIGGER [lambda]
#   POLARITY_LAMBDA_DIR [/opt/polarity/lambda]  directory of <crate>/bootstrap.zip
#   POLARITY_LAMBDA_ARCH [from uname -m]        x86_64 or arm64; must match how the zips were built
#   POLARITY_FN_ENDPOINT [http://localstack:4566]  AWS endpoint as seen from inside a function container
#   POLARITY_PUSHGATEWAY [http://pushgateway:9091]  where functions push pipeline metrics ("" = off)
set -euo pipefail

ENDPOINT="${AWS_ENDPOINT_URL:-http://localhost:4566}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
BUCKET="${POLARITY_BUCKET:-polarity-data}"
TABLE="${POLARITY_TABLE:-polarity-registry}"
TRIGGER="${POLARITY_TRIGGER:-lambda}"
LAMBDA_DIR="${POLARITY_LAMBDA_DIR:-/opt/polarity/lambda}"
FN_ENDPOINT="${POLARITY_FN_ENDPOINT:-http://localstack:4566}"
PUSHGATEWAY="${POLARITY_PUSHGATEWAY-http://pushgateway:9091}"
case "$(uname -m)" in aarch64 | arm64) default_arch=arm64 ;; *) default_arch=x86_64 ;; esac
ARCH="${POLARITY_LAMBDA_ARCH:-$default_arch}"
FAILURE_QUEUE=polarity-pipeline-failures

# The routing table: the `triggers` of terraform/access.json (generated from shared/pipeline/src/layout.rs; the
# same file builds the AWS notification in terraform/modules/pipeline). docker-compose mounts it next to this
# script; elsewhere it is found relative to the repository.
SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd)"
ACCESS_JSON="${POLARITY_ACCESS_JSON:-}"
if [ -z "$ACCESS_JSON" ]; then
  for candidate in /opt/polarity/access.json "$SCRIPT_DIR/../terraform/access.json"; do
    [ -f "$candidate" ] && { ACCESS_JSON="$candidate"; break; }
  done
fi
[ -f "$ACCESS_JSON" ] || { echo "init.sh: terraform/access.json not found (set POLARITY_ACCESS_JSON)" >&2; exit 1; }
# prefix|suffix|stage|id lines, ids <stage>-<n> as in Terraform.
ROUTES="$(python3 -c '
import json, sys
stages = json.load(open(sys.argv[1]))["stages"]
for stage in sorted(stages):
    for i, t in enumerate(stages[stage]["triggers"]):
        print("|".join([t["prefix"], t["suffix"], stage, "%s-%d" % (stage, i)]))
' "$ACCESS_JSON")"

AWS_BIN="${AWS_CLI:-$(command -v aws || true)}"
if [ -n "$AWS_BIN" ]; then
  aws_() { "$AWS_BIN" --endpoint-url "$ENDPOINT" --output json "$@"; }
elif command -v awslocal >/dev/null; then # LocalStack's wrapper sets the endpoint itself
  aws_() { awslocal --output json "$@"; }
else
  echo "init.sh: neither aws nor awslocal found (set AWS_CLI)" >&2
  exit 1
fi
log() { echo "[polarity-init] $*"; }
# Small JSON helpers (python3 is in the LocalStack image and on every CI runner; jq may not be).
json() { python3 -c "$1" "${@:2}"; }

case "$TRIGGER" in lambda | sqs) ;; *) echo "POLARITY_TRIGGER must be lambda or sqs, not '$TRIGGER'" >&2; exit 2 ;; esac

# --- bucket -------------------------------------------------------------------------------------------------------
if aws_ s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then
  log "bucket $BUCKET exists"
else
  aws_ s3api create-bucket --bucket "$BUCKET" >/dev/null
  log "bucket $BUCKET created"
fi
aws_ s3api put-bucket-versioning --bucket "$BUCKET" --versioning-configuration Status=Enabled

# --- registry table -----------------------------------------------------------------------------------------------
if aws_ dynamodb describe-table --table-name "$TABLE" >/dev/null 2>&1; then
  log "table $TABLE exists"
else
  aws_ dynamodb create-table --table-name "$TABLE" --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
    --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE >/dev/null
  aws_ dynamodb wait table-exists --table-name "$TABLE"
  log "table $TABLE created"
fi

# --- queues ------------------------------------------------------------------------------------------------------
queue_arn() {
  local url
  url="$(aws_ sqs create-queue --queue-name "$1" --attributes "$2" --query QueueUrl --output text)"
  aws_ sqs get-queue-attributes --queue-url "$url" --attribute-names QueueArn --query Attributes.QueueArn --output text
}
FAILURE_ARN="$(queue_arn "$FAILURE_QUEUE" MessageRetentionPeriod=1209600)"
log "failure queue $FAILURE_ARN"

# --- notifications -----------------------------------------------------------------------------------------------
# Builds the NotificationConfiguration from ROUTES; $1 = "Lambda" or "Queue", stdin = "stage arn" lines.
notification_json() {
  json '
import json, sys
kind, routes = sys.argv[1], [l.split("|") for l in sys.argv[2].split() if l]
arns = dict(line.split() for line in sys.stdin if line.strip())
confs = []
for prefix, suffix, stage, rid in routes:
    rules = [{"Name": "prefix", "Value": prefix}] + ([{"Name": "suffix", "Value": suffix}] if suffix else [])
    arn_key = "LambdaFunctionArn" if kind == "Lambda" else "QueueArn"
    confs.append({"Id": rid, arn_key: arns[stage], "Events": ["s3:ObjectCreated:*"],
                  "Filter": {"Key": {"FilterRules": rules}}})
key = "LambdaFunctionConfigurations" if kind == "Lambda" else "QueueConfigurations"
print(json.dumps({key: confs}))
' "$1" "$ROUTES"
}

stages() { for r in $ROUTES; do r="${r%|*}"; echo "${r##*|}"; done | sort -u; }

if [ "$TRIGGER" = sqs ]; then
  targets=""
  for stage in $(stages); do
    arn="$(queue_arn "polarity-$stage-events" VisibilityTimeout=300)"
    targets="$targets$stage $arn"$'\n'
    log "queue polarity-$stage-events"
  done
  aws_ s3api put-bucket-notification-configuration --bucket "$BUCKET" \
    --notification-configuration "$(printf '%s' "$targets" | notification_json Queue)"
  log "notifications: S3 -> SQS (run localstack/relay.py to deliver to cargo lambda watch)"
  exit 0
fi

# --- functions (lambda mode) -------------------------------------------------------------------------------------
ROLE_NAME=polarity-local-lambda
if ! ROLE_ARN="$(aws_ iam get-role --role-name "$ROLE_NAME" --query Role.Arn --output text 2>/dev/null)"; then
  ROLE_ARN="$(aws_ iam create-role --role-name "$ROLE_NAME" --query Role.Arn --output text \
    --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}')"
fi

ENV_JSON="$(json '
import json, sys
v = {"POLARITY_STORE": "s3://" + sys.argv[1], "POLARITY_REGISTRY": "dynamodb://" + sys.argv[2],
     "RUST_LOG": "info", "AWS_ENDPOINT_URL": sys.argv[3]}
if sys.argv[4]:
    v["POLARITY_PUSHGATEWAY"] = sys.argv[4]
print(json.dumps({"Variables": v}))
' "$BUCKET" "$TABLE" "$FN_ENDPOINT" "$PUSHGATEWAY")"

deploy() { # stage memory timeout
  local fn="polarity-$1" zip="$LAMBDA_DIR/polarity-fn-$1/bootstrap.zip"
  [ -f "$zip" ] || { echo "missing $zip: run cargo lambda build --release --output-format zip first" >&2; exit 1; }
  if aws_ lambda get-function --function-name "$fn" >/dev/null 2>&1; then
    aws_ lambda update-function-code --function-name "$fn" --zip-file "fileb://$zip" >/dev/null
    aws_ lambda wait function-updated --function-name "$fn" 2>/dev/null || true
    aws_ lambda update-function-configuration --function-name "$fn" --environment "$ENV_JSON" \
      --memory-size "$2" --timeout "$3" >/dev/null
    log "function $fn updated"
  else
    aws_ lambda create-function --function-name "$fn" --runtime provided.al2023 --handler bootstrap \
      --architectures "$ARCH" --role "$ROLE_ARN" --zip-file "fileb://$zip" --memory-size "$2" --timeout "$3" \
      --environment "$ENV_JSON" >/dev/null
    aws_ lambda wait function-active-v2 --function-name "$fn" 2>/dev/null || true
    log "function $fn created ($ARCH)"
  fi
}

# Same sizing as terraform/modules/pipeline (see the comment there).
deploy ingest 1024 300
deploy process 1024 300
deploy train 2048 900
deploy validate 1024 300
deploy predict 512 10

targets=""
for stage in $(stages); do
  fn="polarity-$stage"
  aws_ lambda put-function-concurrency --function-name "$fn" \
    --reserved-concurrent-executions "$([ "$stage" = train ] || [ "$stage" = validate ] && echo 1 || echo 5)" >/dev/null
  aws_ lambda put-function-event-invoke-config --function-name "$fn" --maximum-retry-attempts 2 \
    --maximum-event-age-in-seconds 3600 \
    --destination-config "{\"OnFailure\":{\"Destination\":\"$FAILURE_ARN\"}}" >/dev/null
  aws_ lambda add-permission --function-name "$fn" --statement-id s3-invoke --action lambda:InvokeFunction \
    --principal s3.amazonaws.com --source-arn "arn:aws:s3:::$BUCKET" >/dev/null 2>&1 || true
  arn="$(aws_ lambda get-function --function-name "$fn" --query Configuration.FunctionArn --output text)"
  targets="$targets$stage $arn"$'\n'
done
aws_ s3api put-bucket-notification-configuration --bucket "$BUCKET" \
  --notification-configuration "$(printf '%s' "$targets" | notification_json Lambda)"
log "notifications: S3 -> Lambda"
