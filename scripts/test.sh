#!/usr/bin/env bash
# The test command (README): formatting, lints, every test of the workspace. Installs nothing; see
# scripts/setup.sh (called by .ci/run) for the tools the integration tests start (moto, promtool, …).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv-tools/bin:$PWD/.venv-moto/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast --lib --bins --tests
fi
echo "== doc tests"
cargo test --workspace --locked --doc
for extra in scripts/check-infra.sh scripts/lambda-invoke-test.sh; do
  if [ -x "$extra" ]; then
    echo "== $extra"
    bash "$extra"
  fi
done
echo "== all checks passed"
