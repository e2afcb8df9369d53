#!/usr/bin/env bash
# The AWS deployment checked offline (no account, no registry): one summary line per step.
#   1. terraform init (offline, from the provider mirror) + validate + test, for terraform/ and
#      terraform/bootstrap/. The tests (terraform/tests/*.tftest.hcl, terraform/bootstrap/tests/) plan with the
#      real provider and dummy credentials: each stage's IAM policy is exactly its terraform/access.json entry,
#      notifications = its triggers, health checks, no port 22, IMDSv2, encryption, reserved concurrency, the
#      HTTPS/3-AZ/WAF variant, the GitHub OIDC roles.
#   2. terraform apply of terraform/tests/moto (every module: encryption, storage, registry, pipeline, network,
#      serving, monitoring) to a moto
#      server on 127.0.0.1, then a second `terraform plan` must find nothing to change (but the attributes moto
#      stores differently from AWS, each listed in terraform/tests/moto/plan_diff.py).
#   3. IAM enforced in moto: each stage's Terraform-created role, assumed through STS, may touch exactly the keys
#      and registry actions access.json gives it (terraform/tests/moto/iam_check.py access).
#   4. The pipeline chain under those roles: ingest -> process -> train -> validate with
#      `target/debug/polarity pipeline stage`, ending with a production model in the registry (skipped with a
#      message while the CLI has no `pipeline stage` subcommand).
#   5. Training past one Lambda (iam_check.py dispatch): train under the train function's role, with its
#      Terraform environment and POLARITY_TRAIN_MAX_ROWS=10, must call RunTask once (moto records the task, with
#      POLARITY_TASK_KEY as container override) and not again for a redelivered event; the task entry point
#      (`target/debug/polarity-fn-train`, POLARITY_TASK_KEY) under the train task role then writes the manifest.
#      Skipped with a message when that binary is not built.
# Nothing is written into the repository: Terraform runs in copies under a temporary directory.
# The provider mirror: a directory `registry.terraform.io` (hashicorp/aws 5.100.0), found with
# `find / -maxdepth 3`; TF_PLUGIN_MIRROR overrides. Without it the script says so and skips, or fails when CI=1.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
T0=$SECONDS
SUMMARY=()
CURRENT_STEP=setup
summary() { SUMMARY+=("$1"); echo "check-aws: $1"; }
trap 'echo "check-aws: FAILED in step: $CURRENT_STEP" >&2' ERR

ci() { [ "${CI:-}" = 1 ] || [ "${CI:-}" = true ]; }
skip_or_fail() { # message
  if ci; then
    echo "check-aws: $1 (CI=$CI: failing)" >&2
    exit 1
  fi
  echo "check-aws: SKIPPED: $1"
  exit 0
}

export TF_CLI_CONFIG_FILE=/dev/null TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 # no ~/.terraformrc, no network
command -v terraform >/dev/null || skip_or_fail "terraform is not on PATH"
if [ -n "${TF_PLUGIN_MIRROR:-}" ]; then
  MIRROR="$TF_PLUGIN_MIRROR"
else
  MIRROR="$(find / -maxdepth 3 -type d -name registry.terraform.io -not -path '*/.terraform/*' 2>/dev/null | head -1 || true)"
  MIRROR="${MIRROR%/registry.terraform.io}"
fi
[ -n "$MIRROR" ] && [ -d "$MIRROR/registry.terraform.io/hashicorp/aws" ] ||
  skip_or_fail "no offline provider mirror (a registry.terraform.io/hashicorp/aws directory) found; set TF_PLUGIN_MIRROR"
echo "check-aws: terraform $(terraform version | head -1 | awk '{print $2}'), provider mirror $MIRROR"

WORK="$(mktemp -d)"
MOTO_PID=""
cleanup() {
  if [ -n "$MOTO_PID" ]; then
    kill -- "-$MOTO_PID" 2>/dev/null || kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Terraform in copies: the main root reads ../monitoring, the tests ../target/lambda via lambda_zip_dir.
cp -r terraform monitoring "$WORK/"
rm -rf "$WORK/terraform/.terraform" "$WORK/terraform/bootstrap/.terraform" "$WORK"/terraform/*.tfstate*
ZIPS="$WORK/lambda"
for fn in ingest process train validate predict; do # dummy zips (the real ones come from cargo lambda)
  mkdir -p "$ZIPS/polarity-fn-$fn"
  python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w"); z.writestr("bootstrap", "#!/bin/sh\n"); z.close()' \
    "$ZIPS/polarity-fn-$fn/bootstrap.zip"
done

tf() { # dir data-dir args...: terraform in a copied root, quietly unless it fails
  local dir="$1" data="$2"
  shift 2
  local log="$WORK/tf-$(basename "$data")-$1.log"
  if ! (cd "$dir" && TF_DATA_DIR="$data" terraform "$@" -no-color >"$log" 2>&1); then
    cat "$log" >&2
    return 1
  fi
}
tests_passed() { grep -Eo '[0-9]+ passed, [0-9]+ failed' "$1" | tail -1; }

for root in terraform terraform/bootstrap; do
  CURRENT_STEP="terraform $root"
  t=$SECONDS
  data="$WORK/.tf-$(echo "$root" | tr / -)"
  tf "$WORK/$root" "$data" init -backend=false -input=false -plugin-dir="$MIRROR"
  tf "$WORK/$root" "$data" validate
  tf "$WORK/$root" "$data" test -var "lambda_zip_dir=$ZIPS"
  summary "ok   $root: init (offline) + validate + test: $(tests_passed "$WORK/tf-$(basename "$data")-test.log") ($((SECONDS - t)) s)"
done

# --- moto ---------------------------------------------------------------------------------------------------
CURRENT_STEP="moto setup"
VENV="$ROOT/.venv-moto"
if ! [ -x "$VENV/bin/moto_server" ] || ! "$VENV/bin/python" -c "import boto3, awscli" 2>/dev/null; then
  echo "check-aws: creating $VENV (moto[server], awscli)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]>=5.1,<6" "awscli>=1.40,<2"
fi
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ENDPOINT="http://127.0.0.1:$PORT"
# No IAM enforcement yet (INITIAL_NO_AUTH_ACTION_COUNT unset = infinite): Terraform applies with dummy keys;
# enforcement is switched on afterwards through moto's /moto-api/reset-auth.
# AWS's managed policies (the servers attach AmazonSSMManagedInstanceCore) exist in moto only when asked for.
MOTO_IAM_LOAD_MANAGED_POLICIES=true setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 100); do curl -fs "$ENDPOINT/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$ENDPOINT/moto-api/" >/dev/null || { cat "$WORK/moto.log" >&2; exit 1; }
aws_admin() { AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$VENV/bin/aws" --endpoint-url "$ENDPOINT" --region us-east-1 "$@"; }
# The user that applies and, once IAM is enforced, acts as the account's administrator.
aws_admin iam create-user --user-name admin >/dev/null
aws_admin iam put-user-policy --user-name admin --policy-name admin \
  --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
aws_admin iam create-access-key --user-name admin --query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text >"$WORK/admin"
read -r ADMIN_KEY ADMIN_SECRET <"$WORK/admin"
summary "ok   moto $("$VENV/bin/python" -c 'import moto; print(moto.__version__)') on $ENDPOINT"

CURRENT_STEP="terraform apply to moto"
t=$SECONDS
MOTO_ROOT="$WORK/terraform/tests/moto"
MDATA="$WORK/.tf-moto"
# the server binary the launch template's user-data will install (its checksum is baked into the user-data)
SERVER_BIN="${POLARITY_SERVER_BIN:-$ROOT/target/debug/polarity-server}"
[ -x "$SERVER_BIN" ] || (cd "$ROOT" && cargo build -q -p polarity-server --locked)
cat >"$WORK/moto.tfvars" <<EOF
endpoint       = "$ENDPOINT"
access_key     = "$ADMIN_KEY"
secret_key     = "$ADMIN_SECRET"
lambda_zip_dir = "$ZIPS"
server_sha256  = "$(sha256sum "$SERVER_BIN" | cut -d' ' -f1)"
EOF
tf "$MOTO_ROOT" "$MDATA" init -backend=false -input=false -plugin-dir="$MIRROR"
tf "$MOTO_ROOT" "$MDATA" apply -auto-approve -input=false -var-file="$WORK/moto.tfvars" -state="$WORK/moto.tfstate"
resources="$(cd "$MOTO_ROOT" && TF_DATA_DIR="$MDATA" terraform state list -state="$WORK/moto.tfstate" | wc -l)"
summary "ok   terraform apply to moto: $resources resources (encryption, storage, registry, pipeline with the train task; network, servers behind the ALB, monitoring host) ($((SECONDS - t)) s)"

CURRENT_STEP="second plan (idempotency)"
t=$SECONDS
tf "$MOTO_ROOT" "$MDATA" plan -input=false -var-file="$WORK/moto.tfvars" -state="$WORK/moto.tfstate" -out="$WORK/plan2.bin"
# nothing may change but the attributes moto stores differently from AWS (each listed in plan_diff.py)
if ! (cd "$MOTO_ROOT" && TF_DATA_DIR="$MDATA" terraform show -json "$WORK/plan2.bin") \
  | python3 "$MOTO_ROOT/plan_diff.py" >"$WORK/plan2.txt"; then
  cat "$WORK/plan2.txt"
  (cd "$MOTO_ROOT" && TF_DATA_DIR="$MDATA" terraform show -no-color "$WORK/plan2.bin") >&2
  echo "check-aws: the second plan changes something: the configuration does not converge" >&2
  exit 1
fi
summary "ok   $(tail -1 "$WORK/plan2.txt") ($((SECONDS - t)) s)"

CURRENT_STEP="the servers' user-data booted offline"
t=$SECONDS
mout() { (cd "$MOTO_ROOT" && TF_DATA_DIR="$MDATA" terraform output -state="$WORK/moto.tfstate" -raw "$1"); }
"$VENV/bin/python" terraform/tests/moto/boot_check.py --endpoint "$ENDPOINT" --admin "$WORK/admin" \
  --aws "$VENV/bin/aws" --launch-template "$(mout launch_template_id)" --bucket "$(mout bucket)" \
  --table "$(mout registry_table)" --binary "$SERVER_BIN" --api-key-parameter "$(mout api_key_parameter)" \
  --expect-key moto-api-key-0123456789 --monitoring-instance "$(mout monitoring_instance_id)" | tee "$WORK/boot.log"
summary "ok   the servers' user-data (from the applied launch template) passes shellcheck and boots in a sandbox against moto and an IMDSv2 stand-in: /health 200; a corrupted artifact stops it at the checksum ($((SECONDS - t)) s)"

CURRENT_STEP="IAM: stage roles vs access.json"
t=$SECONDS
curl -fsS -XPOST -H 'Content-Type: text/plain' --data-binary 0 "$ENDPOINT/moto-api/reset-auth" >/dev/null # enforce from now on
ROLES="$(cd "$MOTO_ROOT" && TF_DATA_DIR="$MDATA" terraform output -state="$WORK/moto.tfstate" -json stage_role_arns)"
BUCKET="$(cd "$MOTO_ROOT" && TF_DATA_DIR="$MDATA" terraform output -state="$WORK/moto.tfstate" -raw bucket)"
TABLE="$(cd "$MOTO_ROOT" && TF_DATA_DIR="$MDATA" terraform output -state="$WORK/moto.tfstate" -raw registry_table)"
TRAIN_TASK="$(cd "$MOTO_ROOT" && TF_DATA_DIR="$MDATA" terraform output -state="$WORK/moto.tfstate" -json train_task)"
# The train function's environment as Terraform set it (moto's Lambda rejects signed calls once IAM is enforced).
TRAIN_ENV="$(cd "$MOTO_ROOT" && TF_DATA_DIR="$MDATA" terraform show -json "$WORK/moto.tfstate" | python3 -c '
import json, sys
def walk(m):
    yield from m.get("resources", [])
    for c in m.get("child_modules", []):
        yield from walk(c)
state = json.load(sys.stdin)["values"]["root_module"]
print(json.dumps(next(r["values"]["environment"][0]["variables"] for r in walk(state)
                      if r["address"] == "module.pipeline.aws_lambda_function.stage[\"train\"]")))')"
check() { "$VENV/bin/python" terraform/tests/moto/iam_check.py "$1" --endpoint "$ENDPOINT" --bucket "$BUCKET" \
  --table "$TABLE" --roles "$ROLES" --admin "$WORK/admin" --access terraform/access.json \
  --cli "${POLARITY_CLI:-$ROOT/target/debug/polarity}" --example examples/reviews.csv \
  --train-task "$TRAIN_TASK" --train-env "$TRAIN_ENV" --task-bin "${POLARITY_TRAIN_BIN:-$ROOT/target/debug/polarity-fn-train}"; }
check access | tee "$WORK/access.log"
summary "ok   IAM enforced: $(grep -Eo '[0-9]+ allow/deny probes' "$WORK/access.log") of the 4 stage roles and the train task role matched access.json; RunTask only for train ($((SECONDS - t)) s)"

CURRENT_STEP="pipeline chain under the stage roles"
t=$SECONDS
check chain | tee "$WORK/chain.log"
if grep -q SKIP "$WORK/chain.log"; then
  summary "SKIP pipeline chain under the stage roles: $(sed -n 's/.*SKIP chain: //p' "$WORK/chain.log")"
else
  summary "ok   pipeline chain ingest -> process -> train -> validate under the stage roles: production model registered ($((SECONDS - t)) s)"
fi

CURRENT_STEP="training past one Lambda: RunTask under the train role, the task entry point under the task role"
t=$SECONDS
check dispatch | tee "$WORK/dispatch.log"
if grep -q SKIP "$WORK/dispatch.log"; then
  summary "SKIP training past one Lambda: $(sed -n 's/.*SKIP dispatch: //p' "$WORK/dispatch.log")"
else
  summary "ok   training past one Lambda: above POLARITY_TRAIN_MAX_ROWS train started one ECS task (none for the redelivered event), the task entry point under the task role wrote the manifest ($((SECONDS - t)) s)"
fi

CURRENT_STEP=done
echo
echo "check-aws summary:"
printf '  %s\n' "${SUMMARY[@]}"
echo "check-aws: all checks passed in $((SECONDS - T0)) s"
