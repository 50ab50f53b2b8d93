#!/usr/bin/env bash
# What signed requests cost the server end to end: its CPU time per request
# (utime + stime from /proc) under the same open-loop load from `tbms bench`,
# signed and unsigned (--insecure-dev), and signed with the fleet's shared
# replay store (--replay-store: a redis-server on a unix socket, started here;
# its CPU per request is shown apart), in interleaved rounds. One model that
# answers at once; the server pinned to CPU 1 with one thread, bench on CPU 0.
#   bench/auth_overhead.sh [RATE] [REQUESTS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build >/dev/null
rate="${1:-10000}"
requests="${2:-50000}"
rounds="${3:-2}"
house="$(mktemp -d)"
redis_pid=""
trap '[[ -n $redis_pid ]] && kill $redis_pid; rm -rf "$house"' EXIT
redis-server --port 0 --unixsocket "$house/redis.sock" --save '' --appendonly no \
  --daemonize no > "$house/redis.log" 2>&1 &
redis_pid=$!
until [[ -S "$house/redis.sock" ]]; do sleep 0.05; done
mkdir -p "$house/zero/1"
printf 'backend = "simulated"\nest = 1\n' > "$house/zero/model.toml"
printf 'base_ms = 0\nper_item_ms = 0\n' > "$house/zero/1/simulated.toml"
printf '[instances.b]\nkeys = [{ id = "b1", secret_env = "TBMS_BENCH_KEY" }]\n' > "$house/instances.toml"
export TBMS_BENCH_KEY="bench-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
ticks="$(getconf CLK_TCK)"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() {  # signed|unsigned|shared -> microseconds of server CPU per request (shared: "server+redis")
  local flags=() pid t0 t1 r0 r1
  [[ $1 == unsigned ]] && flags=(--insecure-dev)
  [[ $1 == shared ]] && flags=(--replay-store "unix:$house/redis.sock")
  taskset -c 1 build/tbms serve --port 0 --threads 1 --house "$house" "${flags[@]}" > "$house/serve.out" 2>/dev/null &
  pid=$!
  until grep -q "127.0.0.1:" "$house/serve.out"; do sleep 0.05; done
  local url="http://127.0.0.1:$(grep -o '127.0.0.1:[0-9]*' "$house/serve.out" | head -1 | cut -d: -f2)"
  t0=$(cpu_ticks "$pid"); r0=$(cpu_ticks "$redis_pid")
  if [[ $1 != unsigned ]]; then
    TBMS_ACCESS_ID=b1 TBMS_ACCESS_KEY="$TBMS_BENCH_KEY" taskset -c 0 build/tbms bench --url "$url" --instance b \
      --models zero --tloc 50 --rate "$rate" --requests "$requests" --connections 32 --quiet 2>/dev/null >/dev/null
  else
    taskset -c 0 build/tbms bench --url "$url" --instance b --models zero --tloc 50 --rate "$rate" \
      --requests "$requests" --connections 32 --quiet 2>/dev/null >/dev/null
  fi
  t1=$(cpu_ticks "$pid"); r1=$(cpu_ticks "$redis_pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local server; server=$(echo "scale=1; ($t1 - $t0) * 1000000 / $ticks / $requests" | bc)
  if [[ $1 == shared ]]; then
    echo "$server+$(echo "scale=1; ($r1 - $r0) * 1000000 / $ticks / $requests" | bc)"
  else
    echo "$server"
  fi
}

echo "server CPU per request, $requests requests at $rate/s, $rounds rounds (us):"
unsigned=() signed=() shared=()
for ((i = 0; i < rounds; i++)); do
  unsigned+=("$(run unsigned)")
  signed+=("$(run signed)")
  shared+=("$(run shared)")
done
echo "| requests | server CPU per request, each round (us) |"
echo "|---|---|"
echo "| unsigned (--insecure-dev) | ${unsigned[*]} |"
echo "| signed (TBMS-HMAC-SHA256) | ${signed[*]} |"
echo "| signed + --replay-store (server+redis) | ${shared[*]} |"
