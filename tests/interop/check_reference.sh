#!/usr/bin/env bash
# Interop check against the Python reference (hermes-agent 0.19.0): our binary rewrites copies of
# every fixture home (auth add / remove / reset), then the reference's `auth list` must show the
# same credentials (labels, order, auth types, sources, markers) as ours.
#
#   HERMES_REF=/work/refvenv/bin/hermes  (default; the check is skipped when it is missing)
#   HERMES_BIN=target/debug/hermes       (default; built with `cargo build` when missing)
#
# Not part of CI (CI has no reference install). Exit 1 on any difference.
set -euo pipefail

cd "$(dirname "$0")/../.."
REF=${HERMES_REF:-/work/refvenv/bin/hermes}
BIN=${HERMES_BIN:-target/debug/hermes}
FIX=tests/fixtures

if [ ! -x "$REF" ]; then
    echo "SKIP: no reference binary at $REF (set HERMES_REF)"
    exit 0
fi
if [ ! -x "$BIN" ]; then
    cargo build --quiet
fi
BIN=$(realpath "$BIN")

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail=0
checks=0

# run <binary> <home> <scenario> args...: env -i with the scenario's env.txt, empty HOME.
run() {
    local bin=$1 home=$2 scen=$3
    shift 3
    local user
    user=$(mktemp -d -p "$WORK")
    # shellcheck disable=SC2046
    env -i $(cat "$FIX/$scen/env.txt") HERMES_HOME="$home" HOME="$user" "$bin" "$@" </dev/null
}

fresh_home() { # fresh_home <scenario> → path of a private copy of its home/
    local d
    d=$(mktemp -d -p "$WORK")
    chmod 700 "$d"
    cp "$FIX/$1/home/"* "$d/"
    [ -f "$d/auth.json" ] && chmod 600 "$d/auth.json"
    echo "$d"
}

# Deliberate difference: we print DEAD rows as `dead …`; the reference prints no status.
# Remaining cooldown times can differ by the second between two runs: mask them.
normalize() {
    sed -E -e 's/ dead [^←]*\(re-auth required\)//' -e 's/\([0-9dhms ]+ left\)/(… left)/g' \
        -e 's/[[:space:]]+$//'
}

compare_lists() { # compare_lists <scenario> <home> <what>
    local scen=$1 home=$2 what=$3 a b ours theirs
    a=$(mktemp -d -p "$WORK"); b=$(mktemp -d -p "$WORK")
    cp -a "$home/." "$a/"; cp -a "$home/." "$b/"
    ours=$(run "$BIN" "$a" "$scen" auth list 2>&1 | normalize)
    theirs=$(run "$REF" "$b" "$scen" auth list 2>/dev/null | normalize)
    checks=$((checks + 1))
    if [ "$ours" != "$theirs" ]; then
        echo "FAIL  $scen: $what"
        diff <(echo "$theirs") <(echo "$ours") | sed 's/^/      /' || true
        fail=1
    elif [ -z "$theirs" ]; then
        echo "PASS  $scen: $what (both list nothing)"
    else
        echo "PASS  $scen: $what ($(grep -c '#' <<<"$theirs") rows)"
    fi
}

for dir in "$FIX"/*/; do
    scen=$(basename "$dir")
    [ -f "$dir/home/auth.json" ] || continue
    [ "$scen" = corrupt ] && continue  # our binary refuses to touch it (deliberate)

    # Pools in the fixture, and one whose first row is manual (safe to remove).
    pools=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(k for k,v in (d.get("credential_pool") or {}).items() if v))' "$dir/home/auth.json")
    manual=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next((k for k,v in (d.get("credential_pool") or {}).items() if v and v[0].get("source")=="manual"), ""))' "$dir/home/auth.json")

    # add
    h=$(fresh_home "$scen")
    run "$BIN" "$h" "$scen" auth add openrouter --type api-key --api-key "sk-or-FAKE-INTEROP-$scen" --label interop-add >/dev/null
    compare_lists "$scen" "$h" "after our auth add openrouter"
    if ! run "$REF" "$h" "$scen" auth list openrouter 2>/dev/null | grep -q ' interop-add '; then
        echo "FAIL  $scen: the reference does not list the added key"; fail=1
    fi

    # remove
    if [ -n "$manual" ]; then
        h=$(fresh_home "$scen")
        run "$BIN" "$h" "$scen" auth remove "$manual" 1 >/dev/null
        compare_lists "$scen" "$h" "after our auth remove $manual 1"
    fi

    # reset (every pool)
    if [ -n "$pools" ]; then
        h=$(fresh_home "$scen")
        for p in $pools; do run "$BIN" "$h" "$scen" auth reset "$p" >/dev/null; done
        compare_lists "$scen" "$h" "after our auth reset of $(wc -w <<<"$pools") pool(s)"
    fi

    # all three in a row, and the reference must still parse the result as a store
    h=$(fresh_home "$scen")
    run "$BIN" "$h" "$scen" auth add deepseek --type api-key --api-key "sk-ds-FAKE-INTEROP-$scen" >/dev/null
    run "$BIN" "$h" "$scen" auth remove deepseek 1 >/dev/null
    run "$BIN" "$h" "$scen" auth reset deepseek >/dev/null
    compare_lists "$scen" "$h" "after our add+remove+reset deepseek"

    # …and the reference can keep writing the store we wrote, and we read what it wrote.
    run "$REF" "$h" "$scen" auth add xai --type api-key --api-key "xai-FAKE-INTEROP-$scen" --label ref-add >/dev/null 2>&1
    compare_lists "$scen" "$h" "after the reference's auth add xai on our store"
    if ! run "$BIN" "$h" "$scen" auth list xai | grep -q ' ref-add '; then
        echo "FAIL  $scen: we do not list the reference's key"; fail=1
    fi
done

echo "$checks comparisons, $([ $fail = 0 ] && echo 'all equal' || echo 'DIFFERENCES FOUND')"
exit $fail
