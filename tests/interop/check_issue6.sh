#!/usr/bin/env bash
# Interop check for issue 6 against the Python reference (hermes-agent 0.19.0): what our
# `hermes model` writes to config.yaml is what the reference's runtime resolves, and the Honcho
# host block our `memory setup honcho` writes is what the reference's Honcho plugin reads.
# (The `mcp-tokens/` files need the `mcp` Python SDK, which the reference installs lazily; they
# were checked by hand with it, see docs/cli-acceptance.md.)
#
#   HERMES_REF_PY=/work/refvenv/bin/python  (default; the check is skipped when it is missing)
#   HERMES_BIN=target/debug/hermes          (default; built with `cargo build` when missing)
#
# Offline. Not part of CI (CI has no reference install). Exit 1 on any difference.
set -euo pipefail

cd "$(dirname "$0")/../.."
PY=${HERMES_REF_PY:-/work/refvenv/bin/python}
BIN=${HERMES_BIN:-target/debug/hermes}
if [ ! -x "$PY" ]; then
    echo "SKIP: no reference Python at $PY (set HERMES_REF_PY)"
    exit 0
fi
if [ ! -x "$BIN" ]; then
    cargo build --quiet
fi
BIN=$(realpath "$BIN")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail=0

# ours <home> args...: our binary on a temp home, no terminal, nothing off loopback.
ours() {
    local home=$1
    shift
    mkdir -p "$home" "$WORK/user"
    env -i PATH="$PATH" HERMES_HOME="$home" HOME="$WORK/user" HTTPS_PROXY=http://127.0.0.1:9 \
        NO_PROXY=127.0.0.1 "$BIN" "$@" </dev/null >/dev/null
}

# ref <home> <python>: the reference's Python on the same home; prints one line.
ref() {
    local home=$1
    (cd "$WORK" && env -i PATH="$PATH" HERMES_HOME="$home" HOME="$WORK/user" "$PY" -c "$2" 2>/dev/null | tail -1)
}

check() {
    local what=$1 got=$2 want=$3
    if [ "$got" = "$want" ]; then
        echo "ok   $what"
    else
        echo "FAIL $what"
        echo "     want: $want"
        echo "     got:  $got"
        fail=1
    fi
}

RUNTIME='
from hermes_cli.runtime_provider import resolve_runtime_provider
from hermes_cli.config import load_config
r = resolve_runtime_provider()
m = load_config().get("model") or {}
print(r["provider"], r["base_url"], (r.get("api_key") or "")[:9], m.get("default"))'

# 1. A registry provider set with flags; the key in .env as `hermes model` puts it.
H=$WORK/deepseek
ours "$H" model --provider deepseek --model deepseek-chat --no-verify
printf 'DEEPSEEK_API_KEY=sk-ds-123456\n' >"$H/.env"
check "model --provider deepseek" "$(ref "$H" "$RUNTIME")" \
    "deepseek https://api.deepseek.com/v1 sk-ds-123 deepseek-chat"

# 2. A custom endpoint (key stored once, in custom_providers only).
H=$WORK/custom
ours "$H" model --provider custom --base-url http://127.0.0.1:5/v1 --model qwen2-7b --no-verify
# The key as the picker stores it (the flag form has no key option).
"$PY" - "$H/config.yaml" <<'EOF'
import sys, yaml
p = sys.argv[1]
c = yaml.safe_load(open(p))
c["custom_providers"][0]["api_key"] = "sk-local-1"
yaml.safe_dump(c, open(p, "w"), sort_keys=False)
EOF
check "model --provider custom" "$(ref "$H" "$RUNTIME")" \
    "custom http://127.0.0.1:5/v1 sk-local- qwen2-7b"

# 3. Honcho, local deployment: memory.provider and the host block.
H=$WORK/honcho
ours "$H" memory setup honcho --deployment local --base-url http://127.0.0.1:7
check "memory setup honcho (local)" "$(ref "$H" '
from hermes_cli.config import load_config
from plugins.memory.honcho.client import HonchoClientConfig
c = HonchoClientConfig.from_global_config()
print(load_config()["memory"]["provider"], c.host, c.base_url, c.enabled)')" \
    "honcho hermes http://127.0.0.1:7 True"

exit $fail
