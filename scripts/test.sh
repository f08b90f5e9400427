#!/usr/bin/env bash
# The project's test command (README "Run the tests"): formatting, lints, then every test.
# Installs the local OAuth test server's npm dependencies first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f tests/oauth-server/install.sh ]; then
  bash tests/oauth-server/install.sh
fi

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary: "N passed, N failed".
awk '/^test result:/ { p += $4; f += $6 } END { printf "total: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
