#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine with the Rust toolchain (idempotent):
# Debian packages (promtool), Python tools in venvs under the repo (gitignored), cargo-nextest if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v /usr/bin/time >/dev/null 2>&1 || need_apt+=(time)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
rustup show active-toolchain >/dev/null
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked
echo "setup done"
