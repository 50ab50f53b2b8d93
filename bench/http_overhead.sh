#!/usr/bin/env bash
# The broker's own overhead over HTTP keep-alive on loopback, side by side in
# one run with nginx returning a fixed JSON body, and the cost of the report
# channel (tbms with metrics on and off). Every server gets one thread (one
# nginx worker, tbms --threads 1) pinned to CPU 1; wrk runs on CPU 0.
#   bench/http_overhead.sh [SECONDS] [CONNECTIONS] [ROUNDS]
# Throughput: ROUNDS (default 3) interleaved rounds of wrk with CONNECTIONS
# (default 32) against each server; the table gives every round and the
# median. Latency: one connection (no queueing), p50/p99 from wrk --latency.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build >/dev/null
secs="${1:-10}"
conns="${2:-32}"
rounds="${3:-3}"
. bench/measure.sh  # $work, and the helpers

. bench/http_servers.sh
start_nginx 18081
start_tbms tbms 18082
start_tbms tbms-nometrics 18083 --metrics off
for port in 18082 18083; do
  grep -q '"model":"zero"' <(curl -s -XPOST -d "$body" "http://127.0.0.1:$port/v1/instances/bench/try") \
    || { echo "tbms on $port did not answer with the zero model"; exit 1; }
done

write_post_lua

declare -A url=([nginx]=http://127.0.0.1:18081 [tbms]=http://127.0.0.1:18082
                [tbms-nometrics]=http://127.0.0.1:18083)
servers=(nginx tbms tbms-nometrics)
wrk_run() {  # server connections -> output file
  taskset -c 0 wrk -t1 -c"$2" -d"${secs}s" --latency -s "$work/post.lua" \
    "${url[$1]}/v1/instances/bench/try" > "$work/$1-$2.txt"
}
field() { awk -v k="$2" '$1==k {print $2}' "$1"; }

declare -A rps
for r in $(seq "$rounds"); do
  for s in "${servers[@]}"; do
    wrk_run "$s" "$conns"
    rps[$s]+="$(awk '/Requests\/sec/ {print $2}' "$work/$s-$conns.txt") "
  done
done
echo "Throughput, $conns connections, $rounds rounds of ${secs}s (requests/s):"
echo
echo "| server | rounds | median |"
echo "|---|---|---|"
for s in "${servers[@]}"; do
  printf "| %s | %s | %s |\n" "$s" "${rps[$s]% }" "$(echo ${rps[$s]} | median)"
done
echo
echo "Latency, 1 connection, ${secs}s:"
echo
echo "| server | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
for s in "${servers[@]}"; do
  wrk_run "$s" 1
  f="$work/$s-1.txt"
  printf "| %s | %s | %s | %s |\n" "$s" "$(awk '/Requests\/sec/ {print $2}' "$f")" \
    "$(field "$f" 50%)" "$(field "$f" 99%)"
done
