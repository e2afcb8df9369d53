#!/usr/bin/env bash
# Runs the four pipeline functions through the Lambda runtime API emulator (`cargo lambda watch`) against a
# moto server (S3 + DynamoDB) on 127.0.0.1, and invokes each with its shipped fixture event in pipeline
# order: ingest → process → train → validate. Fails unless the last one promotes the model.
#
# Needs: .venv-tools with cargo-lambda (python3 -m venv .venv-tools && .venv-tools/bin/pip install cargo-lambda)
#        .venv-moto with moto[server] (python3 -m venv .venv-moto && .venv-moto/bin/pip install "moto[server]")
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/.venv-tools/bin:$PATH"
MOTO_BIN=${MOTO_SERVER:-$ROOT/.venv-moto/bin/moto_server}
MOTO_PY=$(dirname "$MOTO_BIN")/python
command -v cargo-lambda >/dev/null || { echo "cargo-lambda not found (install it into .venv-tools)" >&2; exit 1; }
[ -x "$MOTO_BIN" ] || { echo "moto_server not found at $MOTO_BIN" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 never opened" >&2; return 1; }
MOTO_PORT=$(free_port)
WATCH_PORT=$(free_port)
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -- -"$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export POLARITY_STORE=s3://polarity-data POLARITY_REGISTRY=dynamodb://polarity-registry

echo "== building (the CLI; then the functions exactly as \`cargo lambda watch\` will: \`cargo run --bin <fn>\` at the root)"
cargo build -p polarity-cli
cargo build --bin polarity-fn-ingest --bin polarity-fn-process --bin polarity-fn-train --bin polarity-fn-validate

echo "== moto on 127.0.0.1:$MOTO_PORT"
setsid "$MOTO_BIN" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
wait_port "$MOTO_PORT"
target/debug/polarity init --store "$POLARITY_STORE" --registry "$POLARITY_REGISTRY"

echo "== cargo lambda watch on 127.0.0.1:$WATCH_PORT"
setsid cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$WATCH_PORT" \
  --env-var AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" --env-var AWS_ACCESS_KEY_ID=testing \
  --env-var AWS_SECRET_ACCESS_KEY=testing --env-var AWS_REGION=us-east-1 \
  --env-var POLARITY_STORE="$POLARITY_STORE" --env-var POLARITY_REGISTRY="$POLARITY_REGISTRY" \
  >"$WORK/watch.log" 2>&1 &
PIDS+=($!)
wait_port "$WATCH_PORT"

echo "== upload examples/reviews.csv as 'incoming/my reviews.csv'"
"$MOTO_PY" - <<PY
import boto3
s3 = boto3.client("s3", endpoint_url="$AWS_ENDPOINT_URL", region_name="us-east-1")
s3.upload_file("examples/reviews.csv", "polarity-data", "incoming/my reviews.csv")
PY
T0=$(date +%s.%N)
for f in ingest process train validate; do
  echo "== invoke polarity-fn-$f with functions/events/$f/put.json"
  S=$(date +%s.%N)
  cargo lambda invoke "polarity-fn-$f" -A 127.0.0.1 -P "$WATCH_PORT" --data-file "functions/events/$f/put.json" \
    | tee "$WORK/$f.json"
  echo; python3 -c "print(f'   {$(date +%s.%N) - $S:.2f} s')"
  grep -q '"outcomes":\[{' "$WORK/$f.json" || { echo "no outcome from $f"; tail -50 "$WORK/watch.log"; exit 1; }
done
T1=$(date +%s.%N)
grep -q '"promoted":true' "$WORK/validate.json" || { echo "validate did not promote"; exit 1; }
target/debug/polarity registry list --store "$POLARITY_STORE" --registry "$POLARITY_REGISTRY"
python3 -c "print(f'upload to promotion through the Lambda runtime API: {$T1 - $T0:.2f} s (after warm-up builds)')"
echo "OK"
