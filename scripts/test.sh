#!/usr/bin/env bash
# The test command (README): formatting, lints, every test of the workspace (integration tests start real
# moto, Prometheus and MLflow servers on 127.0.0.1), infrastructure checks, Lambda runtime-API invokes.
# scripts/setup.sh installs the tools these start; CI=1 makes a missing tool a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv-tools/bin:$PWD/.venv-moto/bin:$PATH"
export CI="${CI:-1}"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== one dependency feature set for every build (else CI compiles the AWS SDK several times)"
bash scripts/check-features.sh
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --exclude polarity-fuzz --locked --no-fail-fast
else
  cargo test --workspace --exclude polarity-fuzz --locked --no-fail-fast --lib --bins --tests
fi
echo "== fuzz: the readers, the artifact decoder and the S3-event parser, a minute each from fuzz/corpus"
POLARITY_FUZZ_SECONDS="${POLARITY_FUZZ_SECONDS:-60}" cargo test -p polarity-fuzz --locked --test fuzz -- --test-threads 1 --nocapture 2>&1 \
  | grep -E "inputs in|crashed|test result|panicked"
echo "== doc tests"
cargo test --workspace --locked --doc
echo "== infrastructure checks + dashboards against a live server and a real Prometheus"
bash scripts/check-infra.sh --panels
echo "== AWS: terraform validate/test offline, apply to moto twice, stage roles and the pipeline chain under IAM"
bash scripts/check-aws.sh
echo "== Lambda functions through the runtime API (cargo lambda watch + invoke, against moto)"
bash scripts/lambda-invoke-test.sh
echo "== all checks passed"
