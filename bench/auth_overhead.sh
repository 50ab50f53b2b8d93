#!/usr/bin/env bash
# What signed requests cost the server end to end: its CPU time per request
# (utime + stime from /proc) under the same open-loop load from `tbms bench`,
# signed and unsigned (--insecure-dev), in interleaved rounds. One model that
# answers at once; the server pinned to CPU 1 with one thread, bench on CPU 0.
#   bench/auth_overhead.sh [RATE] [REQUESTS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build >/dev/null
rate="${1:-10000}"
requests="${2:-50000}"
rounds="${3:-2}"
house="$(mktemp -d)"
trap 'rm -rf "$house"' EXIT
mkdir -p "$house/zero/1"
printf 'backend = "simulated"\nest = 1\n' > "$house/zero/model.toml"
printf 'base_ms = 0\nper_item_ms = 0\n' > "$house/zero/1/simulated.toml"
printf '[instances.b]\nkeys = [{ id = "b1", secret_env = "TBMS_BENCH_KEY" }]\n' > "$house/instances.toml"
export TBMS_BENCH_KEY="bench-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
ticks="$(getconf CLK_TCK)"

run() {  # signed|unsigned -> microseconds of server CPU per request
  local flags=() pid t0 t1
  [[ $1 == unsigned ]] && flags=(--insecure-dev)
  taskset -c 1 build/tbms serve --port 0 --threads 1 --house "$house" "${flags[@]}" > "$house/serve.out" 2>/dev/null &
  pid=$!
  until grep -q "127.0.0.1:" "$house/serve.out"; do sleep 0.05; done
  local url="http://127.0.0.1:$(grep -o '127.0.0.1:[0-9]*' "$house/serve.out" | head -1 | cut -d: -f2)"
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  if [[ $1 == signed ]]; then
    TBMS_ACCESS_ID=b1 TBMS_ACCESS_KEY="$TBMS_BENCH_KEY" taskset -c 0 build/tbms bench --url "$url" --instance b \
      --models zero --tloc 50 --rate "$rate" --requests "$requests" --connections 32 --quiet 2>/dev/null >/dev/null
  else
    taskset -c 0 build/tbms bench --url "$url" --instance b --models zero --tloc 50 --rate "$rate" \
      --requests "$requests" --connections 32 --quiet 2>/dev/null >/dev/null
  fi
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "scale=1; ($t1 - $t0) * 1000000 / $ticks / $requests" | bc
}

echo "server CPU per request, $requests requests at $rate/s, $rounds rounds (us):"
unsigned=() signed=()
for ((i = 0; i < rounds; i++)); do
  unsigned+=("$(run unsigned)")
  signed+=("$(run signed)")
done
echo "| requests | rounds |"
echo "|---|---|"
echo "| unsigned (--insecure-dev) | ${unsigned[*]} |"
echo "| signed (TBMS-HMAC-SHA256) | ${signed[*]} |"
