#!/usr/bin/env bash
# Benchmark `hermes proxy` against a local fake upstream: requests/s and p50/p99 at concurrency
# 1, 16 and 64, direct vs through the proxy, with the fake answering after an asynchronous 20 ms
# and with no delay; streaming time to first byte; the proxy's peak RSS (VmHWM).
#
# usage: bench/proxy/run.sh [seconds-per-cell (default 10)] > table.md
# needs: wrk (apt-get install wrk), python3, curl. Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR="${1:-10}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

cargo build --release --quiet --bin hermes --example proxy_fake_upstream >&2
TARGET="${CARGO_TARGET_DIR:-target}"
HERMES="$TARGET/release/hermes"
FAKE="$TARGET/release/examples/proxy_fake_upstream"

WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
export HOME="$WORK" HERMES_HOME="$WORK"

start_fake() { # delay-ms -> prints base URL
  "$FAKE" --delay-ms "$1" >"$WORK/fake$1.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    grep -q LISTENING "$WORK/fake$1.out" 2>/dev/null && break; sleep 0.05
  done
  sed -n 's/^LISTENING //p' "$WORK/fake$1.out"
}

start_proxy() { # name upstream-base -> prints proxy URL (…/v1); pid in $WORK/<name>.pid
  HERMES_PROXY_BASE_URL="$2/v1" "$HERMES" proxy start --provider openrouter --port 0 >/dev/null \
    2>"$WORK/$1.err" &
  local pid=$!
  PIDS+=($pid)
  echo $pid >"$WORK/$1.pid"
  for _ in $(seq 100); do
    grep -q 'Listening on:' "$WORK/$1.err" 2>/dev/null && break; sleep 0.05
  done
  sed -n 's/^ *Listening on: *//p' "$WORK/$1.err"
}

"$HERMES" auth add openrouter --api-key sk-bench-key --label bench >/dev/null

F20="$(start_fake 20)"
F0="$(start_fake 0)"
P20="$(start_proxy p20 "$F20")"
P0="$(start_proxy p0 "$F0")"

# wrk -> "rps p50 p99 failures"
run_wrk() { # url conns
  local t=$(( $2 < 2 ? 1 : 2 ))
  local out
  out="$(wrk -t"$t" -c"$2" -d"${DUR}s" --latency -s bench/proxy/post.lua "$1" 2>&1)"
  local rps p50 p99 non2xx sockerr
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
  non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
  sockerr="$(awk -F'[ ,]+' '/Socket errors/ {print $4+$6+$8+$10}' <<<"$out")"
  echo "$rps $(ms "$p50") $(ms "$p99") $(( ${non2xx:-0} + ${sockerr:-0} ))"
}
ms() { # wrk duration (e.g. 512.00us, 20.45ms, 1.02s) -> ms
  awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); printf "%.3f", v/1000}
    else if (v ~ /ms$/) {sub(/ms$/,"",v); printf "%.3f", v}
    else if (v ~ /s$/) {sub(/s$/,"",v); printf "%.3f", v*1000} else print v }'
}

echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load generator wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), ${DUR} s per cell, loopback only; fake upstream, load generator and proxy share the cores."
echo
echo "| upstream delay | c | direct rps | direct p50 / p99 ms | proxied rps | proxied p50 / p99 ms | proxied/direct rps | added p50 ms | failed |"
echo "|---|---|---|---|---|---|---|---|---|"
for variant in 20 0; do
  if [ "$variant" = 20 ]; then D="$F20/v1/chat/completions"; P="$P20/chat/completions"
  else D="$F0/v1/chat/completions"; P="$P0/chat/completions"; fi
  for c in 1 16 64; do
    read -r drps dp50 dp99 dfail < <(run_wrk "$D" "$c")
    read -r prps pp50 pp99 pfail < <(run_wrk "$P" "$c")
    ratio="$(awk -v a="$prps" -v b="$drps" 'BEGIN{printf "%.1f %%", 100*a/b}')"
    added="$(awk -v a="$pp50" -v b="$dp50" 'BEGIN{printf "%+.3f", a-b}')"
    echo "| ${variant} ms | $c | $drps | $dp50 / $dp99 | $prps | $pp50 / $pp99 | $ratio | $added | $((dfail + pfail)) |"
  done
done
echo
read -r dh df df90 dd < <(python3 bench/proxy/ttfb.py "$F0/v1/chat/completions" 50)
read -r ph pf pf90 pd < <(python3 bench/proxy/ttfb.py "$P0/chat/completions" 50)
echo "Streaming (50 sequential SSE requests, new connection each, 3 events 20 ms apart):"
echo
echo "| | headers p50 ms | first event p50 / p90 ms | [DONE] p50 ms |"
echo "|---|---|---|---|"
echo "| direct | $dh | $df / $df90 | $dd |"
echo "| proxied | $ph | $pf / $pf90 | $pd |"
echo
for n in p20 p0; do
  pid="$(cat "$WORK/$n.pid")"
  hwm="$(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status")"
  echo "Proxy peak RSS (VmHWM), ${n/p/} ms variant: $hwm"
done
