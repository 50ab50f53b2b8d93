#!/usr/bin/env bash
# What a try costs the server, this build against a baseline build, side by
# side in one run: CPU per request and allocations per request over HTTP
# keep-alive on loopback, with nginx's CPU per request (a fixed body) beside
# them. The servers and load are bench/http_overhead.sh's (one thread pinned
# to CPU 1, wrk on CPU 0, a try of a 0 ms model with a fallback).
#   bench/http_cpu.sh BASELINE_BINARY [SECONDS] [ROUNDS]
# e.g. git worktree add /tmp/base <commit> && (cd /tmp/base && ./scripts/build)
#      bench/http_cpu.sh /tmp/base/build/tbms 5 5
# CPU per request: the server's user and system time (/proc/PID/stat) over
# a wrk run of SECONDS at 32 connections, divided by the requests it
# answered; ROUNDS (default 5) interleaved rounds, the medians kept. A busy
# VM moves requests/s by tens of % between runs, user time per request much
# less; it is the part a change to tbms's own code moves.
# Allocations per request: jemalloc's count of allocation requests
# (MALLOC_CONF=stats_print, printed at exit) over a wrk run, less an idle
# server's, divided by the requests.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] && [ -x "$1" ] || { echo "usage: bench/http_cpu.sh BASELINE_BINARY [SECONDS] [ROUNDS]" >&2; exit 2; }
baseline="$(realpath "$1")"
./scripts/build >/dev/null
secs="${2:-5}"
rounds="${3:-5}"
. bench/measure.sh  # $work, and the helpers

. bench/http_servers.sh
write_post_lua
declare -A bin=([baseline]="$baseline" [this]=build/tbms)
declare -A port=([nginx]=18071 [baseline]=18072 [this]=18073)
servers=(nginx baseline this)
start_nginx "${port[nginx]}"
for s in baseline this; do TBMS_BIN="${bin[$s]}" start_tbms "$s" "${port[$s]}"; done
sleep 0.5

pid_of() { if [ "$1" = nginx ]; then pgrep -f "nginx: worker" | head -1; else cat "$work/$1.pid"; fi; }
wrk_run() {  # server seconds connections -> wrk's output
  taskset -c 0 wrk -t1 -c"$3" -d"$2s" -s "$work/post.lua" "http://127.0.0.1:${port[$1]}/v1/instances/bench/try"
}

declare -A rps user sys
for r in $(seq "$rounds"); do
  for s in "${servers[@]}"; do
    pid=$(pid_of "$s")
    read -r u0 s0 < <(cpu_ticks "$pid")
    out=$(wrk_run "$s" "$secs" 32)
    read -r u1 s1 < <(cpu_ticks "$pid")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    rps[$s]+="$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out") "
    user[$s]+="$(per_request $((u1 - u0)) "$n") "
    sys[$s]+="$(per_request $((s1 - s0)) "$n") "
    echo "round $r/$rounds: $s done" >&2
  done
done

allocs() {  # binary -> allocation requests per try
  local counts=()
  for seconds in 0 "$secs"; do
    MALLOC_CONF=stats_print:true TBMS_BIN="$1" start_tbms allocs 18074
    local n=0
    if [ "$seconds" != 0 ]; then n=$(wrk_run allocs "$seconds" 32 | awk '/requests in/ {print $1}'); fi
    kill -TERM "$(cat "$work/allocs.pid")"
    wait "$(cat "$work/allocs.pid")" 2>/dev/null || true
    rm -f "$work/allocs.pid"
    counts+=("$(awk '$1 == "small:" || $1 == "large:" {s += $7} END {print s}' "$work/allocs.log") $n")
  done
  awk -v idle="${counts[0]% *}" -v busy="${counts[1]% *}" -v n="${counts[1]#* }" \
    'BEGIN {printf "%.1f", (busy - idle) / n}'
}
port[allocs]=18074

echo "Medians of $rounds interleaved rounds of ${secs}s, 32 connections:"
echo
echo "| server | requests/s | CPU per request: user µs | system µs | allocations per request |"
echo "|---|---|---|---|---|"
for s in "${servers[@]}"; do
  a="—"
  if [ "$s" != nginx ]; then a=$(allocs "${bin[$s]}"); fi
  echo "| $s | $(median <<<"${rps[$s]}") | $(median <<<"${user[$s]}") | $(median <<<"${sys[$s]}") | $a |"
done
echo
echo "Every round (requests/s; user µs; system µs):"
for s in "${servers[@]}"; do echo "- $s: ${rps[$s]% }; ${user[$s]% }; ${sys[$s]% }"; done
