#!/usr/bin/env bash
# tbms bench (open loop, Poisson) against tbms serve --threads 1 and
# --threads 2, side by side in one run: the same rates against each, a try
# per request answered by a 0 ms simulated model with a fallback.
#   bench/threads.sh [REQUESTS] [RATE...]
# Defaults: 100000 requests per point at 10000 20000 40000 requests/s. Prints
# one table row per (threads, rate): achieved requests/s, the share answered
# within tloc (50 ms), and latency p50 / p99 from the intended send time.
# The load generator runs on CPU 0; the server with one thread on CPU 1,
# with two threads on both (on a 2-core machine it then shares CPU 0 with the
# generator: the table says what that costs).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build >/dev/null
requests="${1:-100000}"
shift || true
rates=("${@:-10000 20000 40000}")
read -r -a rates <<<"${rates[*]}"
work="$(mktemp -d)"
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

start() {  # threads cpus port
  taskset -c "$2" build/tbms serve --port "$3" --threads "$1" --insecure-dev --simulate zero=0,backup=0 \
    >"$work/serve-$1.log" 2>&1 &
  echo $! >"$work/serve-$1.pid"
  for _ in $(seq 100); do grep -q serving "$work/serve-$1.log" && return; sleep 0.05; done
  echo "tbms serve --threads $1 did not start"; exit 1
}
start 1 1 18101
start 2 0,1 18102
declare -A port=([1]=18101 [2]=18102)

echo "| threads | offered req/s | achieved req/s | answered within tloc | p50 | p99 |"
echo "|---|---|---|---|---|---|"
for rate in "${rates[@]}"; do
  for threads in 1 2; do
    taskset -c 0 build/tbms bench --url "http://127.0.0.1:${port[$threads]}" --models zero:1,backup:1 \
      --rate "$rate" --requests "$requests" --connections 64 --quiet --json - 2>/dev/null >"$work/out.json"
    python3 - "$threads" "$rate" "$work/out.json" <<'PY'
import json, sys
threads, rate, path = sys.argv[1:]
r = json.load(open(path))
lat = r["latency_ms"]
print(f"| {threads} | {int(float(rate)):,} | {r['achieved_qps']:,.0f} | {r['answered_by_tloc_pct']:.1f}% "
      f"| {lat['p50']:.2f} ms | {lat['p99']:.2f} ms |")
PY
  done
done
