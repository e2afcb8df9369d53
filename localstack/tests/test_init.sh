#!/usr/bin/env bash
# Runs localstack/init.sh against a moto server on 127.0.0.1 (no Docker) and checks what it made:
#   1. sqs mode: bucket (versioned), registry table (pk/sk, on-demand), failure queue, and a notification whose
#      filters equal the triggers of terraform/access.json (the table init.sh and Terraform read); then uploads
#      keys and runs relay.py against a fake `cargo lambda watch` endpoint: each stage receives exactly the keys
#      routed to it, in AWS's record shape, and a failing event lands in the failure queue after 3 attempts.
#   2. lambda mode: functions created from zips (runtime, arch, env, reserved concurrency, on-failure
#      destination) and a Lambda notification with the same filters. (moto needs Docker to *invoke* a Lambda,
#      so no upload in this mode.)
# Needs .venv-moto (moto[server], awscli); scripts/check-infra.sh creates it.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${POLARITY_MOTO_VENV:-$ROOT/.venv-moto}"
PY="$VENV/bin/python"
[ -x "$VENV/bin/moto_server" ] && [ -x "$VENV/bin/aws" ] || { echo "need $VENV with moto[server] and awscli" >&2; exit 1; }

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "  ok   $*"; }

MOTO_PORT="$(free_port)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$TMP/moto.log" 2>&1 &
PIDS+=($!)
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_CLI="$VENV/bin/aws" PATH="$VENV/bin:$PATH"
for _ in $(seq 50); do curl -fs "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1 && break; sleep 0.2; done
aws_() { "$AWS_CLI" --endpoint-url "$AWS_ENDPOINT_URL" --output json "$@"; }

BUCKET=polarity-test-data TABLE=polarity-test-registry
export POLARITY_BUCKET=$BUCKET POLARITY_TABLE=$TABLE

# expected filters: the triggers of terraform/access.json, as prefix|suffix|stage|id
expected_routes() {
  "$PY" -c '
import json, sys
stages = json.load(open(sys.argv[1]))["stages"]
for stage in sorted(stages):
    for i, t in enumerate(stages[stage]["triggers"]):
        print("|".join([t["prefix"], t["suffix"], stage, "%s-%d" % (stage, i)]))
' "$ROOT/terraform/access.json"
}

check_notification() { # $1 = LambdaFunctionConfigurations | QueueConfigurations
  aws_ s3api get-bucket-notification-configuration --bucket "$BUCKET" >"$TMP/notif.json"
  "$PY" - "$1" "$TMP/notif.json" "$(expected_routes)" <<'EOF'
import json, sys
kind, path, routes = sys.argv[1], sys.argv[2], sys.argv[3].split()
confs = json.load(open(path)).get(kind, [])
got = []
for c in confs:
    rules = {r["Name"].lower(): r["Value"] for r in c["Filter"]["Key"]["FilterRules"]}
    target = c.get("LambdaFunctionArn") or c.get("QueueArn")
    got.append((rules.get("prefix", ""), rules.get("suffix", ""), target.rsplit(":", 1)[-1], c["Id"]))
    assert c["Events"] == ["s3:ObjectCreated:*"], c
want = []
for r in routes:
    prefix, suffix, stage, rid = r.split("|")
    want.append((prefix, suffix, f"polarity-{stage}-events" if kind == "QueueConfigurations" else f"polarity-{stage}", rid))
assert sorted(got) == sorted(want), f"\n got  {sorted(got)}\n want {sorted(want)}"
EOF
}

echo "== sqs mode (moto on $AWS_ENDPOINT_URL)"
POLARITY_TRIGGER=sqs bash "$ROOT/localstack/init.sh" >"$TMP/init-sqs.log" 2>&1 || { cat "$TMP/init-sqs.log"; fail "init.sh (sqs)"; }
POLARITY_TRIGGER=sqs bash "$ROOT/localstack/init.sh" >>"$TMP/init-sqs.log" 2>&1 || { cat "$TMP/init-sqs.log"; fail "init.sh (sqs) second run"; }
pass "init.sh sqs mode ran twice (idempotent)"

[ "$(aws_ s3api get-bucket-versioning --bucket "$BUCKET" --query Status --output text)" = Enabled ] || fail "bucket versioning"
pass "bucket $BUCKET exists, versioned"
aws_ dynamodb describe-table --table-name "$TABLE" >"$TMP/table.json"
"$PY" - "$TMP/table.json" <<'EOF' || fail "table schema"
import json, sys
t = json.load(open(sys.argv[1]))["Table"]
assert {(k["AttributeName"], k["KeyType"]) for k in t["KeySchema"]} == {("pk", "HASH"), ("sk", "RANGE")}, t["KeySchema"]
assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
EOF
pass "table $TABLE: pk HASH, sk RANGE, PAY_PER_REQUEST"
aws_ sqs get-queue-url --queue-name polarity-pipeline-failures >/dev/null || fail "failure queue"
check_notification QueueConfigurations || fail "sqs notification filters"
pass "notification: QueueConfigurations equal access.json's triggers (ids <stage>-<n>)"

# --- relay against a fake cargo-lambda-watch endpoint ---
FAKE_PORT="$(free_port)"
"$PY" - "$FAKE_PORT" "$TMP/invocations.jsonl" >"$TMP/fake.log" 2>&1 <<'EOF' &
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port, out = int(sys.argv[1]), sys.argv[2]
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        fn = self.path.split("/")[3]
        with open(out, "a") as f:
            f.write(json.dumps({"function": fn, "event": body}) + "\n")
        failing = any("fail" in r["s3"]["object"]["key"] for r in body["Records"])
        self.send_response(500 if failing else 200)
        self.end_headers()
        self.wfile.write(b'{"errorType":"Boom","errorMessage":"fails on purpose"}' if failing else b'{"ok":true}')
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
PIDS+=($!)
for _ in $(seq 50); do "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $FAKE_PORT), 1)" 2>/dev/null && break; sleep 0.1; done

echo x >"$TMP/obj"
for key in "incoming/my file.csv" "raw/d1/rows.jsonl" "raw/d1/manifest.json" "processed/d1/manifest.json" \
  "datasets/sst2.json" "datasets/notes.txt" "models/v1/model.plm" "models/v1/manifest.json" "decisions/v1.json" "quarantine/d1/manifest.json" \
  "incoming/fail.csv"; do
  aws_ s3api put-object --bucket "$BUCKET" --key "$key" --body "$TMP/obj" >/dev/null
done
"$PY" "$ROOT/localstack/relay.py" --endpoint "$AWS_ENDPOINT_URL" \
  --invoke-base "http://127.0.0.1:$FAKE_PORT/2015-03-31/functions" --retry-delay 0 --exit-when-idle 3 \
  >"$TMP/relay.log" 2>&1 || { cat "$TMP/relay.log"; fail "relay.py"; }

"$PY" - "$TMP/invocations.jsonl" <<'EOF' || { cat "$TMP/relay.log"; fail "relay deliveries"; }
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
seen = {}
for c in calls:
    for r in c["event"]["Records"]:
        for field in ("userIdentity", "requestParameters", "responseElements", "eventSource", "awsRegion"):
            assert field in r, (field, r)
        assert r["eventSource"] == "aws:s3" and r["eventName"].startswith("ObjectCreated:"), r
        seen.setdefault(c["function"], []).append(r["s3"]["object"]["key"])
want = {
    "polarity-fn-ingest": ["incoming/my+file.csv"] + ["incoming/fail.csv"] * 3,
    "polarity-fn-process": ["raw/d1/manifest.json"],
    "polarity-fn-train": ["processed/d1/manifest.json", "datasets/sst2.json"],
    "polarity-fn-validate": ["models/v1/manifest.json"],
}
assert {k: sorted(v) for k, v in seen.items()} == {k: sorted(v) for k, v in want.items()}, seen
EOF
pass "relay: each stage got exactly its routed keys (AWS record shape, key encoded as AWS does)"

aws_ sqs receive-message --queue-url "$(aws_ sqs get-queue-url --queue-name polarity-pipeline-failures --query QueueUrl --output text)" \
  --max-number-of-messages 10 >"$TMP/failures.json"
"$PY" - "$TMP/failures.json" <<'EOF' || fail "failure queue contents"
import json, sys
msgs = json.load(open(sys.argv[1])).get("Messages", [])
assert len(msgs) == 1, msgs
m = json.loads(msgs[0]["Body"])
assert m["function"] == "polarity-fn-ingest" and m["attempts"] == 3 and "Boom" in m["error"], m
assert m["event"]["Records"][0]["s3"]["object"]["key"] == "incoming/fail.csv"
EOF
pass "relay: failing event retried twice, then sent to polarity-pipeline-failures"

echo "== lambda mode (functions from zips; moto records them, invoking would need Docker)"
curl -fs -XPOST "$AWS_ENDPOINT_URL/moto-api/reset" >/dev/null
mkdir -p "$TMP/lambda"
for fn in ingest process train validate predict; do
  mkdir -p "$TMP/lambda/polarity-fn-$fn"
  printf '#!/bin/sh\nexit 0\n' >"$TMP/bootstrap"
  "$PY" -c "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w'); z.write(sys.argv[2],'bootstrap'); z.close()" \
    "$TMP/lambda/polarity-fn-$fn/bootstrap.zip" "$TMP/bootstrap"
done
POLARITY_TRIGGER=lambda POLARITY_LAMBDA_DIR="$TMP/lambda" POLARITY_LAMBDA_ARCH=arm64 \
  POLARITY_FN_ENDPOINT=http://localstack:4566 POLARITY_PUSHGATEWAY=http://pushgateway:9091 \
  bash "$ROOT/localstack/init.sh" >"$TMP/init-lambda.log" 2>&1 || { cat "$TMP/init-lambda.log"; fail "init.sh (lambda)"; }
pass "init.sh lambda mode ran"
for fn in ingest process train validate predict; do
  aws_ lambda get-function --function-name "polarity-$fn" >"$TMP/fn.json" || fail "function polarity-$fn"
  "$PY" - "$TMP/fn.json" "$BUCKET" "$TABLE" <<'EOF' || fail "function polarity-$fn config"
import json, sys
f = json.load(open(sys.argv[1]))
c = f["Configuration"]
assert c["Runtime"] == "provided.al2023" and c["Handler"] == "bootstrap" and c["Architectures"] == ["arm64"], c
env = c["Environment"]["Variables"]
assert env["POLARITY_STORE"] == f"s3://{sys.argv[2]}" and env["POLARITY_REGISTRY"] == f"dynamodb://{sys.argv[3]}", env
assert env["AWS_ENDPOINT_URL"] == "http://localstack:4566" and env["POLARITY_PUSHGATEWAY"] == "http://pushgateway:9091", env
name = c["FunctionName"]
if name != "polarity-predict":
    want = 1 if name in ("polarity-train", "polarity-validate") else 5
    assert f.get("Concurrency", {}).get("ReservedConcurrentExecutions") == want, (name, f.get("Concurrency"))
EOF
done
pass "5 functions: provided.al2023, arm64, env wired; reserved concurrency 1 for train/validate"
for fn in ingest process train validate; do
  aws_ lambda get-function-event-invoke-config --function-name "polarity-$fn" >"$TMP/eic.json" || fail "invoke config polarity-$fn"
  "$PY" -c "
import json,sys; c=json.load(open(sys.argv[1]))
assert c['MaximumRetryAttempts']==2 and c['MaximumEventAgeInSeconds']==3600, c
assert c['DestinationConfig']['OnFailure']['Destination'].endswith(':polarity-pipeline-failures'), c" "$TMP/eic.json" || fail "invoke config polarity-$fn"
done
pass "async invoke config: 2 retries, 1 h max age, on-failure -> polarity-pipeline-failures"
check_notification LambdaFunctionConfigurations || fail "lambda notification filters"
pass "notification: LambdaFunctionConfigurations equal access.json's triggers"
echo "localstack init tests: all passed"
