#!/usr/bin/env bash
# Benchmark of `hermes auth list`: median wall time (hyperfine, many runs) and peak RSS
# (/usr/bin/time -v) on
#   * a small home: 3 providers x 5 credentials,
#   * homes with 250 / 500 / 1,000 / 2,000 credentials in one pool (linear growth check).
# Targets (issue 2): small home <= 5 ms median and <= 10 MiB peak RSS; 1,000 credentials
# <= 20 ms; cost grows linearly.
#
#   bench/auth_list/run.sh            # writes bench/auth_list/RESULTS.md
#   RUNS=500 bench/auth_list/run.sh   # more runs per home (default 300)
#
# Needs: cargo, python3, hyperfine (Debian: apt-get install -y hyperfine; without it a
# `date +%s%N` loop is used), /usr/bin/time (Debian package `time`).
set -euo pipefail

cd "$(dirname "$0")/../.."
RUNS=${RUNS:-300}
OUT=bench/auth_list/RESULTS.md

cargo build --release --quiet
BIN=$(realpath target/release/hermes)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# make_home <dir> <providers (comma-separated)> <credentials per provider>
# Writes auth.json directly in the reference's layout (manual api-key entries, a few of them
# cooling down so the status column is exercised).
make_home() {
    mkdir -p "$1"
    chmod 700 "$1"
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys, time, uuid
home, providers, n = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
now = time.time()
pools = {}
for p in providers:
    entries = []
    for i in range(n):
        e = {
            "id": uuid.uuid4().hex[:6], "label": f"{p}-key-{i + 1}", "auth_type": "api_key",
            "priority": i, "source": "manual", "access_token": f"sk-bench-{p}-{i:05d}-FAKE",
            "last_status": None, "last_status_at": None, "last_error_code": None,
            "last_error_reason": None, "last_error_message": None, "last_error_reset_at": None,
            "base_url": "https://example.invalid/v1", "request_count": i,
        }
        if i % 10 == 1:  # every tenth entry is rate-limited for the next hour
            e.update(last_status="exhausted", last_status_at=now, last_error_code=429)
        entries.append(e)
    pools[p] = entries
doc = {"version": 1, "providers": {}, "credential_pool": pools,
       "updated_at": "2026-11-23T00:00:00.000000+00:00"}
with open(f"{home}/auth.json", "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
PY
    chmod 600 "$1/auth.json"
    : >"$1/auth.lock"
}

# hermetic env: no provider variables, empty HOME
E=(env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$WORK/user")
mkdir -p "$WORK/user"

median_ms() { # median_ms <home>
    local home=$1
    if command -v hyperfine >/dev/null; then
        "${E[@]}" HERMES_HOME="$home" hyperfine -N --warmup 20 --runs "$RUNS" \
            --export-json "$WORK/h.json" "$BIN auth list" >/dev/null 2>&1
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.2f %.2f %.2f %.2f" % (r["median"]*1e3, min(r["times"])*1e3, max(r["times"])*1e3, (r["user"]+r["system"])*1e3))' "$WORK/h.json"
    else
        local t=()
        for _ in $(seq "$RUNS"); do
            local a b
            a=$(date +%s%N)
            "${E[@]}" HERMES_HOME="$home" "$BIN" auth list >/dev/null
            b=$(date +%s%N)
            t+=($(((b - a) / 1000)))
        done
        printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f %.2f %.2f n/a\n", a[int((NR+1)/2)]/1000, a[1]/1000, a[NR]/1000}'
    fi
}

instructions() { # instructions executed (callgrind), a load-independent cost measure
    if command -v valgrind >/dev/null; then
        "${E[@]}" HERMES_HOME="$1" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
            "$BIN" auth list 2>&1 >/dev/null | awk '/Collected/ {print $NF}'
    else
        echo n/a
    fi
}

peak_rss_kib() { # max "Maximum resident set size" over 5 runs
    local home=$1 m=0 r
    for _ in 1 2 3 4 5; do
        r=$("${E[@]}" HERMES_HOME="$home" /usr/bin/time -v "$BIN" auth list 2>&1 >/dev/null |
            awk -F': ' '/Maximum resident set size/ {print $2}')
        [ "$r" -gt "$m" ] && m=$r
    done
    echo "$m"
}

declare -A MED RSS ROWS CPU INS
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
homes=(small n250 n500 n1000 n2000)
make_home "$WORK/small" openrouter,deepseek,xai 5
make_home "$WORK/n250" openrouter 250
make_home "$WORK/n500" openrouter 500
make_home "$WORK/n1000" openrouter 1000
make_home "$WORK/n2000" openrouter 2000

for h in "${homes[@]}"; do
    before=$(sha256sum "$WORK/$h/auth.json")
    ROWS[$h]=$("${E[@]}" HERMES_HOME="$WORK/$h" "$BIN" auth list | grep -c '^  #')
    read -r med lo hi cpu < <(median_ms "$WORK/$h")
    MED[$h]="$med ($lo–$hi)"
    CPU[$h]=$cpu
    INS[$h]=$(instructions "$WORK/$h")
    RSS[$h]=$(peak_rss_kib "$WORK/$h")
    after=$(sha256sum "$WORK/$h/auth.json")
    [ "$before" = "$after" ] || { echo "auth list wrote $h/auth.json" >&2; exit 1; }
    echo "$h: ${ROWS[$h]} rows, median ${MED[$h]} ms, CPU ${CPU[$h]} ms, ${INS[$h]} instructions, peak RSS ${RSS[$h]} KiB"
done

med() { awk '{print $1}' <<<"${MED[$1]}"; }
verdict() { awk -v a="$1" -v b="$2" 'BEGIN {print (a <= b) ? "met" : "MISSED"}'; }
small_ms=$(med small)
big_ms=$(med n1000)
small_mib=$(awk -v k="${RSS[small]}" 'BEGIN {printf "%.1f", k/1024}')
# Linear growth: the marginal cost per credential stays flat from 250→500→1000→2000.
per_cred() { awk -v a="$(med "$1")" -v b="$(med "$2")" -v n="$3" 'BEGIN {printf "%.2f", (b-a)*1000/n}'; }
slope1=$(per_cred n250 n500 250)
slope2=$(per_cred n500 n1000 500)
slope3=$(per_cred n1000 n2000 1000)
per_cred_ins() { awk -v a="${INS[$1]}" -v b="${INS[$2]}" -v n="$3" 'BEGIN {if (a+0 > 0) printf "%.0f", (b-a)/n; else print "n/a"}'; }
islope1=$(per_cred_ins n250 n500 250)
islope2=$(per_cred_ins n500 n1000 500)
islope3=$(per_cred_ins n1000 n2000 1000)

{
    echo "# \`hermes auth list\` benchmark"
    echo
    echo "Produced by \`bench/auth_list/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
    echo "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), shared with other builds, so"
    echo "numbers are noisy), release profile, $RUNS runs per home after 20 warm-ups"
    echo "($(command -v hyperfine >/dev/null && hyperfine --version || echo 'date +%s%N loop')), hermetic env"
    echo "(\`env -i\`, no provider variables). Homes are generated auth.json files (manual api-key entries,"
    echo "every tenth one rate-limited). \`auth list\` must not write auth.json (checked). Load average"
    echo "when the run started: $LOAD (wall times on a loaded machine are inflated; the CPU column is"
    echo "user+system time per run, and the instruction count (callgrind, one run) does not depend on load)."
    echo
    echo "| home | rows listed | wall median ms (min–max) | CPU ms (mean) | instructions | peak RSS (KiB) |"
    echo "|---|---|---|---|---|---|"
    for h in "${homes[@]}"; do
        echo "| $h | ${ROWS[$h]} | ${MED[$h]} | ${CPU[$h]} | ${INS[$h]} | ${RSS[$h]} |"
    done
    echo
    echo "| target | measured | verdict |"
    echo "|---|---|---|"
    echo "| small home (3 × 5) median ≤ 5 ms | $small_ms ms | $(verdict "$small_ms" 5) |"
    echo "| small home peak RSS ≤ 10 MiB | $small_mib MiB | $(verdict "$small_mib" 10) |"
    echo "| 1,000 credentials median ≤ 20 ms | $big_ms ms | $(verdict "$big_ms" 20) |"
    echo
    echo "Linear growth, marginal cost per credential — wall µs: 250→500 $slope1, 500→1000 $slope2,"
    echo "1000→2000 $slope3; instructions: 250→500 $islope1, 500→1000 $islope2, 1000→2000 $islope3"
    echo "(flat = linear; a quadratic step would double it at each step)."
    if [ -f bench/auth_list/HISTORY.md ]; then
        echo
        cat bench/auth_list/HISTORY.md
    fi
} >"$OUT"
cat "$OUT"
