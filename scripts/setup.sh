#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine with the Rust toolchain (idempotent; re-running is
# cheap): Debian packages (promtool, pushgateway, GNU time, curl, chromium and node for the page tests,
# shellcheck for the servers' user-data), the
# browser driver (scripts/browser, playwright-core from npm, driving the Debian chromium), Python tools in venvs
# under the repository
# (gitignored): .venv-moto (moto server + awscli), .venv-tools (cargo-lambda, checkov), .venv-mlflow (MLflow
# tracking server), .venv-clients (huggingface_hub and tritonclient, the clients server/tests/clients.rs runs), and
# cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
missing=()
for p in prometheus prometheus-pushgateway time curl python3-venv chromium shellcheck; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node may come from another source than Debian (NodeSource's nodejs ships npm and conflicts with Debian's npm
# package), so node and npm are looked for as commands, not as packages.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv() { # dir import-check pip-args...
  local dir="$1" check="$2"
  shift 2
  if ! [ -x "$dir/bin/python" ] || ! "$dir/bin/python" -c "$check" >/dev/null 2>&1; then
    echo "setup: $dir <- pip install $*"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check "$@"
  fi
}
venv .venv-moto "import moto, awscli" "moto[server]" awscli
venv .venv-tools "import checkov; import shutil, sys; sys.exit(shutil.which('cargo-lambda', path='.venv-tools/bin') is None)" checkov cargo-lambda
venv .venv-mlflow "import mlflow" mlflow
venv .venv-clients "import huggingface_hub, tritonclient.http, numpy" huggingface_hub "tritonclient[http]" numpy

if ! [ -d scripts/browser/node_modules/playwright-core ]; then
  echo "setup: scripts/browser <- npm ci"
  (cd scripts/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

rustup show active-toolchain >/dev/null
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked
echo "setup: done"
