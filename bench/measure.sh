# Sourced by the benchmarks that read a process's CPU time and take medians
# of interleaved rounds (bench/http_cpu.sh, bench/grpc_cpu.sh, bench/http_overhead.sh).

# A scratch folder for the servers' files; every server whose NAME.pid is in
# it is stopped when the script exits.
work="$(mktemp -d)"
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }  # pid -> user, system clock ticks
tick_us=$(awk -v t="$(getconf CLK_TCK)" 'BEGIN {print 1e6 / t}')
per_request() { awk -v c="$1" -v t="$tick_us" -v n="$2" 'BEGIN {printf "%.2f", c * t / n}'; }  # ticks requests -> µs
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }  # numbers on stdin
