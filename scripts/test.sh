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
cargo test --locked --no-fail-fast
