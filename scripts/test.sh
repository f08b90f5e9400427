#!/usr/bin/env bash
# The project's test command (README "Run the tests"): formatting, lints, then every test.
# Installs the local OAuth test server's npm dependencies first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f tests/oauth-server/package-lock.json ] && [ ! -d tests/oauth-server/node_modules ]; then
  (cd tests/oauth-server && npm ci --no-audit --no-fund --loglevel=error)
fi

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --no-fail-fast
