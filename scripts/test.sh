#!/usr/bin/env bash
# The test command (README): formatting, lints, every test of the workspace (integration tests start real
# moto, Prometheus and MLflow servers on 127.0.0.1), infrastructure checks, Lambda runtime-API invokes.
# scripts/setup.sh installs the tools these start. The tests that need one (moto, MLflow, promtool, node,
# Chromium, the TEI/KServe client libraries) are #[ignore]d with that reason, so a bare `cargo test` lists them
# as skipped; this command runs them too (--run-ignored all), and a missing tool fails them. CI=1 makes the
# shell checks below fail instead of skip on a missing tool.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv-tools/bin:$PWD/.venv-moto/bin:$PATH"
export CI="${CI:-1}"
T0=$(date +%s); LAST=$T0
step() { # prints how long the previous step took, then the next step's title
  local now; now=$(date +%s)
  [ "$LAST" = "$T0" ] || echo "   (took $((now - LAST)) s)"
  LAST=$now
  echo "== $*"
}

step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "polarity-pipeline without the ECS client (the CLI's and the server's build): clippy and its dispatch tests"
cargo clippy -p polarity-pipeline --all-targets --locked -- -D warnings
cargo test -p polarity-pipeline --lib --locked -- dispatch::
step "one dependency feature set for every build (else CI compiles the AWS SDK several times)"
bash scripts/check-features.sh
# The fuzz targets (the readers, the artifact decoder, the S3-event parser) run among the tests, 20 s each from
# fuzz/corpus: in the same build (a separate `cargo test -p polarity-fuzz` recompiled for minutes).
export POLARITY_FUZZ_SECONDS="${POLARITY_FUZZ_SECONDS:-20}"
step "tests (and the fuzz targets, ${POLARITY_FUZZ_SECONDS} s each)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast --run-ignored all
else
  cargo test --workspace --locked --no-fail-fast --lib --bins --tests -- --include-ignored
fi
step "doc tests"
cargo test --workspace --locked --doc
step "infrastructure checks + dashboards against a live server and a real Prometheus"
bash scripts/check-infra.sh --panels
step "AWS: terraform validate/test offline, apply to moto twice, stage roles and the pipeline chain under IAM"
bash scripts/check-aws.sh
step "Lambda functions through the runtime API (cargo lambda watch + invoke, against moto)"
bash scripts/lambda-invoke-test.sh
step "all checks passed"
echo "   test command total: $(( $(date +%s) - T0 )) s"
