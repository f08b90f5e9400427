#!/usr/bin/env bash
# Install the OAuth test server's npm dependencies exactly as pinned in package-lock.json.
#
# Idempotent: does nothing when node_modules already matches the lock file. Safe to run
# from several test processes at once (serialised with flock when available). Uses the
# local npm cache first and the registry only for what is missing, so after one
# successful run it also works without network access.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

want="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp="node_modules/.hermes-lock-sha256"

up_to_date() { [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; }

up_to_date && exit 0

if command -v flock >/dev/null 2>&1; then
  exec 9>"${TMPDIR:-/tmp}/hermes-oauth-server-install-$(id -u).lock"
  flock 9
  up_to_date && exit 0
fi

npm ci --prefer-offline --no-audit --no-fund --loglevel=error
printf '%s\n' "$want" > "$stamp"
