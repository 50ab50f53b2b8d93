#!/usr/bin/env bash
# What a KServe v2 infer over gRPC costs the server, this build against a
# baseline build, side by side in one run: requests/s and the server's CPU
# per infer (user and system, from /proc/PID/stat), with REST beside them.
# Each server: `tbms serve --threads 1 --simulate zero=0 --grpc-port ...`
# (a 0 ms model: what is measured is the edge). The load: build/infer_bench,
# closed loop, 4 callers x REQUESTS infers per protocol, the generated
# blocking gRPC stub and the C++ REST client. Nothing is pinned: client and
# servers share the machine's cores, as in bench/remote.py.
#   bench/grpc_cpu.sh BASELINE_BINARY [REQUESTS] [ROUNDS]
# e.g. git worktree add /tmp/base <commit> && (cd /tmp/base && ./scripts/build)
#      bench/grpc_cpu.sh /tmp/base/build/tbms 3000 5
# ROUNDS (default 5) interleaved rounds; the medians are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] && [ -x "$1" ] || { echo "usage: bench/grpc_cpu.sh BASELINE_BINARY [REQUESTS] [ROUNDS]" >&2; exit 2; }
baseline="$(realpath "$1")"
./scripts/build >/dev/null
requests="${2:-3000}"
rounds="${3:-5}"
. bench/measure.sh  # $work, and the helpers

declare -A bin=([baseline]="$baseline" [this]=build/tbms)
declare -A port=([baseline]=18172 [this]=18182)  # REST; gRPC is the next port
servers=(baseline this)
for s in "${servers[@]}"; do
  "${bin[$s]}" serve --port "${port[$s]}" --grpc-port $((port[$s] + 1)) --threads 1 --insecure-dev \
    --simulate zero=0 >"$work/$s.log" 2>&1 &
  echo $! > "$work/$s.pid"
  for _ in $(seq 100); do grep -q "gRPC on" "$work/$s.log" && break; sleep 0.05; done
  grep -q "gRPC on" "$work/$s.log" || { echo "$s did not start"; cat "$work/$s.log"; exit 1; }
done


declare -A rps p50 user sys
for r in $(seq "$rounds"); do
  for s in "${servers[@]}"; do
    for proto in grpc rest; do
      if [ "$proto" = grpc ]; then target=(--grpc "127.0.0.1:$((port[$s] + 1))"); else target=(--rest "http://127.0.0.1:${port[$s]}"); fi
      pid=$(cat "$work/$s.pid")
      read -r u0 s0 < <(cpu_ticks "$pid")
      row=$(build/infer_bench "${target[@]}" --model zero --threads 4 --requests "$requests" | grep '^| \(gRPC\|REST\)')
      read -r u1 s1 < <(cpu_ticks "$pid")
      n=$((4 * requests))
      key="$s/$proto"
      rps[$key]+="$(awk -F'|' '{gsub(/ /, "", $3); print $3}' <<<"$row") "
      p50[$key]+="$(awk -F'|' '{gsub(/ /, "", $4); print $4}' <<<"$row") "
      user[$key]+="$(per_request $((u1 - u0)) "$n") "
      sys[$key]+="$(per_request $((s1 - s0)) "$n") "
    done
    echo "round $r/$rounds: $s done" >&2
  done
done

echo "Medians of $rounds interleaved rounds, 4 callers x $requests infers of a 0 ms model:"
echo
echo "| server | protocol | infers/s | p50 ms | server CPU per infer: user µs | system µs |"
echo "|---|---|---|---|---|---|"
for s in "${servers[@]}"; do
  for proto in grpc rest; do
    key="$s/$proto"
    echo "| $s | $proto | $(median <<<"${rps[$key]}") | $(median <<<"${p50[$key]}") | $(median <<<"${user[$key]}") | $(median <<<"${sys[$key]}") |"
  done
done
