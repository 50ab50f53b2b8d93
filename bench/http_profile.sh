#!/usr/bin/env bash
# Where a request's time goes, tbms against nginx, in one run: the same
# servers and load as bench/http_overhead.sh (one thread each pinned to CPU
# 1, wrk on CPU 0, 32 keep-alive connections), then for each server
#   1. syscalls per request: strace -c over a wrk run (strace slows both;
#      the counts, not the rate, are what it gives);
#   2. CPU split: perf record over a second wrk run, the share of samples in
#      the kernel, the binary and the libraries, and the µs per request each
#      makes at that run's rate.
#   bench/http_profile.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build >/dev/null
secs="${1:-4}"
work="$(mktemp -d)"
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

. bench/http_servers.sh
start_nginx 18091
start_tbms tbms 18092
write_post_lua
sleep 0.5

wrk_run() {  # port -> requests/s
  taskset -c 0 wrk -t1 -c32 -d"${secs}s" -s "$work/post.lua" "http://127.0.0.1:$1/v1/instances/bench/try" |
    awk '/Requests\/sec/ {print $2}'
}
for server in nginx:18091 tbms:18092; do
  name=${server%%:*} port=${server##*:}
  pid=$([ "$name" = nginx ] && pgrep -f "nginx: worker" || cat "$work/tbms.pid")
  timeout $((secs + 2)) strace -c -f -p "$pid" -o "$work/$name.strace" 2>/dev/null &
  tracer=$!
  sleep 0.3
  taskset -c 0 wrk -t1 -c32 -d"${secs}s" -s "$work/post.lua" "http://127.0.0.1:$port/v1/instances/bench/try" \
    > "$work/$name.traced"
  wait "$tracer" || true
  requests=$(awk '/requests in/ {print $1}' "$work/$name.traced")
  calls=$(awk '$NF == "total" {print $(NF-2)}' "$work/$name.strace")
  perf record -F 4999 -p "$pid" -o "$work/$name.perf" -- sleep "$secs" 2>/dev/null &
  recorder=$!
  rps=$(wrk_run "$port")
  wait "$recorder" || true
  us=$(awk -v r="$rps" 'BEGIN {printf "%.1f", 1e6 / r}')
  echo "== $name: $rps requests/s ($us µs each); $(awk -v c="$calls" -v n="$requests" 'BEGIN {printf "%.2f", c / n}') syscalls per request under strace"
  perf report -i "$work/$name.perf" --no-children --sort dso --stdio 2>/dev/null |
    awk -v us="$us" '/^ +[0-9.]+%/ {pct = $1 + 0; $1 = ""; printf "  %5.1f%%  %4.1f µs %s\n", pct, pct * us / 100, $0}' | head -6
done
