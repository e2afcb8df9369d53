#!/usr/bin/env bash
# One entry point for the infrastructure checks that run offline (no cloud account, no Docker):
#   1. terraform fmt -check -recursive terraform
#   2. checkov on terraform/ (zero failed checks; skips carry reasons inline) and on .github/ workflows
#   3. YAML parse of docker-compose.yml, workflows, dependabot, Prometheus and Grafana provisioning files,
#      and JSON parse of the dashboards
#   4. promtool check config (local + AWS) and promtool check rules; amtool check-config (Alertmanager, local + AWS)
#   5. localstack/tests/test_init.sh: localstack/init.sh + relay.py against moto on 127.0.0.1
#   --panels      also: start polarity-server (built if missing) with a model trained from a test fixture and
#                 run monitoring/check_panels.py (real Prometheus + Pushgateway, every dashboard query)
#   --panels-only only that step
#   --routes      also: cargo test -p polarity-pipeline --test contracts (terraform/access.json, localstack,
#                 monitoring vs the code)
#   --chain       also: localstack/tests/test_chain.sh (upload -> the four real functions under cargo lambda
#                 watch, driven by S3 notifications through relay.py; compiles the functions, minutes cold)
#
# Installs what it needs when missing: Debian packages prometheus (promtool), prometheus-alertmanager (amtool),
# prometheus-pushgateway, curl,
# python3-venv (apt-get, with sudo when not root); Python venvs .venv-tools (checkov) and .venv-moto
# (moto[server], awscli) at the repository root. terraform itself is not packaged by Debian or PyPI: it must be on
# PATH (GitHub Actions: hashicorp/setup-terraform).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

RUN_BASE=1 RUN_PANELS=0 RUN_ROUTES=0 RUN_CHAIN=0
for arg in "$@"; do
  case "$arg" in
    --panels) RUN_PANELS=1 ;;
    --panels-only) RUN_PANELS=1 RUN_BASE=0 ;;
    --routes) RUN_ROUTES=1 ;;
    --chain) RUN_CHAIN=1 ;;
    -h | --help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

CURRENT_STEP="setup"
trap 'echo >&2; echo "check-infra: FAILED in step: $CURRENT_STEP" >&2' ERR
step() { CURRENT_STEP="$1"; echo; echo "=== $1"; }
T0=$SECONDS

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT_UPDATED=0
apt_install() { # package...
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}"
  if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    [ $APT_UPDATED = 1 ] || { $SUDO apt-get update -qq; APT_UPDATED=1; }
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

venv() { # dir check-command pip-args...
  local dir="$1" check="$2"
  shift 2
  if ! [ -x "$dir/bin/python" ] || ! "$dir/bin/python" -c "$check" >/dev/null 2>&1; then
    echo "creating $dir: pip install $*"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  fi
}

step "tools"
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
apt_install prometheus prometheus-alertmanager curl
[ $RUN_PANELS = 1 ] && apt_install prometheus-pushgateway
if [ $RUN_BASE = 1 ]; then
  command -v terraform >/dev/null || {
    echo "terraform is not on PATH (not packaged by Debian or PyPI): install terraform >= 1.6 (CI: hashicorp/setup-terraform)" >&2
    exit 1
  }
  venv .venv-tools "import checkov, yaml" "checkov>=3.2,<4"
  venv .venv-moto "import moto, boto3, awscli" "moto[server]>=5.1,<6" "awscli>=1.40,<2"
  terraform version | head -1
  .venv-tools/bin/checkov --version
fi
promtool --version 2>&1 | head -1

if [ $RUN_BASE = 1 ]; then
  step "terraform fmt"
  terraform fmt -check -recursive -diff terraform
  echo "terraform fmt: clean"

  step "checkov (terraform)"
  .venv-tools/bin/checkov -d terraform --framework terraform --quiet --compact --skip-download

  step "checkov (github_actions)"
  .venv-tools/bin/checkov -d .github --framework github_actions --quiet --compact --skip-download

  step "YAML and JSON parse"
  .venv-tools/bin/python - <<'EOF'
import glob, json, yaml
files = ["docker-compose.yml", ".github/dependabot.yml"] + sorted(glob.glob(".github/workflows/*.yml")) \
    + sorted(glob.glob("monitoring/prometheus/*.yml")) + sorted(glob.glob("monitoring/alertmanager/*.yml")) \
    + sorted(glob.glob("monitoring/grafana/provisioning/*/*.yml"))
for f in files:
    yaml.safe_load(open(f))
dash = sorted(glob.glob("monitoring/grafana/dashboards/*.json"))
for f in dash:
    d = json.load(open(f))
    assert d.get("uid") and d.get("panels"), f
compose = yaml.safe_load(open("docker-compose.yml"))
assert {"localstack", "server", "prometheus", "alertmanager", "grafana", "pushgateway"} <= set(compose["services"]), compose["services"].keys()
no_restart = [n for n, svc in compose["services"].items() if svc.get("restart") != "unless-stopped"]
assert not no_restart, f"services without restart: unless-stopped: {no_restart}"
# CD's apply job: its AWS session must outlast the apply plus the instance-refresh wait, within what the
# bootstrap's apply role allows (terraform/bootstrap/oidc.tf max_session_duration, asserted by its test)
import re
cd = yaml.safe_load(open(".github/workflows/cd.yml"))
creds = [s["with"] for s in cd["jobs"]["apply"]["steps"] if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials")]
wait = int(re.search(r'REFRESH_TIMEOUT_SECONDS:-(\d+)', open("terraform/deploy/instance-refresh.sh").read()).group(1))
allowed = int(re.search(r'resource "aws_iam_role" "apply" [{].*?max_session_duration\s*=\s*(\d+)', open("terraform/bootstrap/oidc.tf").read(), re.S).group(1))
for w in creds:
    d = int(w.get("role-duration-seconds", 3600))
    assert wait + 1800 <= d <= allowed, f"cd.yml apply: role-duration-seconds {d} must cover the {wait} s refresh wait plus 30 min of apply, within the role's {allowed} s"
assert creds, "cd.yml apply job assumes no AWS role"
print(f"parsed {len(files)} YAML files and {len(dash)} dashboards; CD apply session {d} s covers the {wait} s refresh wait (role allows {allowed} s)")
EOF

  step "promtool, amtool"
  promtool check config monitoring/prometheus/prometheus.local.yml
  promtool check config monitoring/prometheus/prometheus.aws.yml
  promtool check rules monitoring/prometheus/alerts.yml
  amtool check-config monitoring/alertmanager/alertmanager.local.yml monitoring/alertmanager/alertmanager.aws.yml

  step "localstack init against moto"
  bash localstack/tests/test_init.sh
fi

if [ $RUN_ROUTES = 1 ]; then
  step "route table test (cargo)"
  cargo test -q -p polarity-pipeline --test contracts --locked
fi

if [ $RUN_CHAIN = 1 ]; then
  step "pipeline chain through relay.py and cargo lambda watch"
  venv .venv-tools "import checkov" "checkov>=3.2,<4"
  [ -x .venv-tools/bin/cargo-lambda ] || .venv-tools/bin/pip install --quiet cargo-lambda
  venv .venv-moto "import moto, boto3, awscli" "moto[server]>=5.1,<6" "awscli>=1.40,<2"
  bash localstack/tests/test_chain.sh
fi

if [ $RUN_PANELS = 1 ]; then
  step "dashboards against a live server"
  if ! [ -x target/debug/polarity-server ] || ! [ -x target/debug/polarity ]; then
    cargo build -q -p polarity-server -p polarity-cli --locked
  fi
  tmp="$(mktemp -d)"
  target/debug/polarity train --data shared/core/tests/fixtures/sst2_dev_head.tsv --out "$tmp/model.plm" >"$tmp/train.log" 2>&1 \
    || { cat "$tmp/train.log"; false; }
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  target/debug/polarity-server --model "$tmp/model.plm" --addr "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
  server_pid=$!
  stop_server() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; rm -rf "$tmp"; }
  trap stop_server EXIT
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fs "http://127.0.0.1:$port/ready" >/dev/null || { cat "$tmp/server.log"; false; }
  python3 monitoring/check_panels.py --server "http://127.0.0.1:$port"
fi

CURRENT_STEP="done"
echo
echo "check-infra: all checks passed in $((SECONDS - T0)) s"
