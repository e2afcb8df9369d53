#!/usr/bin/env bash
# Fails when a build that CI or a developer runs resolves a different feature set, for some dependency,
# than the workspace test build does. Each such difference recompiles that dependency and everything
# above it (for ring, hyper or tower: the whole AWS SDK). shared/workspace-hack/Cargo.toml is the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
features() {
  cargo tree --locked "$@" --prefix none -f '{p} [{f}]' \
    | grep -v 'feature "' | grep -v '^polarity' | sed 's/ (\*)//;s/ (proc-macro)//' \
    | awk '{print $1"@"$2, $3}' | sort -u
}
features --workspace -e normal,build,dev,features >"${TMPDIR:-/tmp}/features.all"
status=0
# (the five Lambda binaries are one package, polarity-functions: one feature set for all of them)
for sel in "-p polarity-cli" "-p polarity-server -p polarity-cli" "-p polarity-functions" \
           "-p polarity-server"; do
  # shellcheck disable=SC2086
  diff_lines=$(join -j1 "${TMPDIR:-/tmp}/features.all" <(features $sel -e normal,build,features) | awk '$2 != $3')
  if [ -n "$diff_lines" ]; then
    echo "feature sets differ for: cargo build $sel (test build | this build)"; echo "$diff_lines"; status=1
  fi
done
# polarity-pipeline's own tests, built without the ECS client (scripts/test.sh runs them that way too)
diff_lines=$(join -j1 "${TMPDIR:-/tmp}/features.all" <(features -p polarity-pipeline -e normal,build,dev,features) | awk '$2 != $3')
if [ -n "$diff_lines" ]; then
  echo "feature sets differ for: cargo test -p polarity-pipeline (test build | this build)"; echo "$diff_lines"; status=1
fi
[ "$status" = 0 ] && echo "one feature set for every build selection"
exit "$status"
