#!/usr/bin/env bash
# The broker's own overhead over HTTP keep-alive on loopback, side by side in
# one run with nginx returning a fixed JSON body. Both servers get one thread
# (one nginx worker, tbms --threads 1) pinned to CPU 1; wrk runs on CPU 0.
#   bench/http_overhead.sh [SECONDS] [CONNECTIONS]
# Throughput: wrk with CONNECTIONS (default 32) connections; latency: one
# connection (no queueing), p50/p99 from wrk --latency.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build >/dev/null
secs="${1:-10}"
conns="${2:-32}"
work="$(mktemp -d)"
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

body='{"inputs":{"question":"what is a broker?"},"models":[{"name":"zero","est":1},{"name":"backup","est":1}],"tloc":50,"crossRequest":1,"crossLag":10,"priority":0}'
answer='{"answer":"zero answer to: what is a broker?","model":"zero","rank":0,"downgraded":false,"reason":null,"elapsed_ms":0.01,"attempts":[{"model":"zero","rank":0,"state":"succeeded","started_ms":0,"latency_ms":0}]}'

cat > "$work/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity 10;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:18081;
    location / { default_type application/json; return 200 '$answer'; }
  }
}
CONF
nginx -c "$work/nginx.conf"
taskset -c 1 build/tbms serve --port 18082 --threads 1 --simulate zero=0,backup=0 >"$work/tbms.log" 2>&1 &
echo $! > "$work/tbms.pid"
for _ in $(seq 100); do grep -q serving "$work/tbms.log" && break; sleep 0.05; done

cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA

run() {  # name url connections
  taskset -c 0 wrk -t1 -c"$3" -d"${secs}s" --latency -s "$work/post.lua" "$2" > "$work/$1-$3.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$1-$3.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$1-$3.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/$1-$3.txt")
  printf "| %-6s | %3s | %10s | %8s | %8s |\n" "$1" "$3" "$rps" "$p50" "$p99"
}
echo "| server | connections | requests/s | p50 | p99 |"
echo "|---|---|---|---|---|"
run nginx http://127.0.0.1:18081/v1/instances/bench/try "$conns"
run tbms http://127.0.0.1:18082/v1/instances/bench/try "$conns"
run nginx http://127.0.0.1:18081/v1/instances/bench/try 1
run tbms http://127.0.0.1:18082/v1/instances/bench/try 1
grep -q '"model":"zero"' <(curl -s -XPOST -d "$body" http://127.0.0.1:18082/v1/instances/bench/try) \
  || { echo "tbms did not answer with the zero model"; exit 1; }
