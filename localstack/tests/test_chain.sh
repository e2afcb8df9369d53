#!/usr/bin/env bash
# End to end in `sqs` mode, no Docker: moto (S3 + DynamoDB + SQS) on 127.0.0.1, localstack/init.sh, the four
# real pipeline functions under `cargo lambda watch`, and localstack/relay.py between them. Uploads
# examples/reviews.csv to incoming/ and waits until the chain ingest -> process -> train -> validate has
# written a decision, driven only by S3 notifications (nobody invokes a stage by hand).
#
# Needs: .venv-moto (moto[server], awscli), .venv-tools with cargo-lambda, and the functions built
# (`cargo build -p polarity-functions`;
# otherwise the first invoke compiles them). Run by `scripts/check-infra.sh --chain`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv-moto"
PY="$VENV/bin/python"
export PATH="$ROOT/.venv-tools/bin:$VENV/bin:$PATH"
command -v cargo-lambda >/dev/null || { echo "cargo-lambda not found (pip install cargo-lambda into .venv-tools)" >&2; exit 1; }
[ -f examples/reviews.csv ] || { echo "examples/reviews.csv missing" >&2; exit 1; }

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -- -"$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.2; done; return 1; }

MOTO_PORT="$(free_port)" WATCH_PORT="$(free_port)"
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_CLI="$VENV/bin/aws"
export POLARITY_BUCKET=polarity-data POLARITY_TABLE=polarity-registry POLARITY_TRIGGER=sqs

echo "== building the functions (each package on its own, as cargo lambda watch runs them)"
for f in ingest process train validate; do nice cargo build -q -p "polarity-fn-$f"; done

setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$TMP/moto.log" 2>&1 &
PIDS+=($!)
wait_port "$MOTO_PORT"
bash localstack/init.sh >"$TMP/init.log" 2>&1 || { cat "$TMP/init.log"; exit 1; }
echo "== moto on $AWS_ENDPOINT_URL, init.sh (sqs mode) done"

setsid cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$WATCH_PORT" \
  --env-var AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" --env-var AWS_ACCESS_KEY_ID=test \
  --env-var AWS_SECRET_ACCESS_KEY=test --env-var AWS_REGION=us-east-1 \
  --env-var POLARITY_STORE=s3://polarity-data --env-var POLARITY_REGISTRY=dynamodb://polarity-registry \
  >"$TMP/watch.log" 2>&1 &
PIDS+=($!)
wait_port "$WATCH_PORT"
echo "== cargo lambda watch on 127.0.0.1:$WATCH_PORT"

setsid "$PY" localstack/relay.py --endpoint "$AWS_ENDPOINT_URL" \
  --invoke-base "http://127.0.0.1:$WATCH_PORT/2015-03-31/functions" --retry-delay 2 >"$TMP/relay.log" 2>&1 &
PIDS+=($!)

"$VENV/bin/aws" --endpoint-url "$AWS_ENDPOINT_URL" s3 cp --quiet examples/reviews.csv "s3://polarity-data/incoming/my reviews.csv"
echo "== uploaded examples/reviews.csv as 'incoming/my reviews.csv'; waiting for decisions/"
T0=$SECONDS
while true; do
  keys="$("$VENV/bin/aws" --endpoint-url "$AWS_ENDPOINT_URL" s3 ls --recursive s3://polarity-data/decisions/ 2>/dev/null || true)"
  [ -n "$keys" ] && break
  if [ $((SECONDS - T0)) -gt 600 ]; then
    echo "no decision after 600 s"; echo "--- relay"; cat "$TMP/relay.log"; echo "--- watch"; tail -60 "$TMP/watch.log"; exit 1
  fi
  sleep 2
done
echo "$keys"
echo "--- relay log"
cat "$TMP/relay.log"
for stage in ingest process train validate; do
  grep -q "polarity-fn-$stage <- .* ok" "$TMP/relay.log" || { echo "stage $stage was not relayed successfully"; exit 1; }
done
grep -q "failed" "$TMP/relay.log" && { echo "a relayed invoke failed (see above)"; exit 1; }
echo "chain test: upload -> ingest -> process -> train -> validate in $((SECONDS - T0)) s, driven by S3 notifications"
