#!/usr/bin/env python3
"""Overload: the talk's four simulated models (one replica each, no
batching) offered 10x what all of them together can serve, with a bounded
open-loop load from `tbms bench`. Shows that every accepted request gets
exactly one response within tloc plus a small margin (an answer from a
cheaper model, or none), and that memory stays bounded (peak RSS from
/proc). With --hogs, busy loops share the cores too (the server short of
CPU). Each --margins value is one run of the server at that
--core-lag-margin, side by side (0: the lag is not planned for). Prints a
table; numbers are recorded in docs/benchmarks.md.

    bench/overload.py [--factor 10] [--seconds 10] [--hogs 0] [--margins 0,2]
"""

import argparse
import json
import re
import subprocess
import threading
import time

TBMS = "build/tbms"
MODELS = [("embedding", 35), ("svm", 25), ("bayes", 15), ("keysearch", 5)]
TLOC = 50


def capacity_qps():
    """Requests per second all four models finish together (batch size 1)."""
    return sum(1000.0 / ms for _, ms in MODELS)


def peak_rss_mb(pid, stop, out):
    """Samples VmHWM (the kernel's peak resident set) until `stop` is set."""
    while not stop.is_set():
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        out["peak_mb"] = int(line.split()[1]) / 1024
        except OSError:
            return
        time.sleep(0.1)


def run(args, margin):
    """One run at --core-lag-margin `margin`: the bench's JSON and the server's peak RSS."""
    simulate = ",".join("%s=%g:0" % m for m in MODELS)
    server = subprocess.Popen([TBMS, "serve", "--port", "0", "--insecure-dev", "--simulate", simulate, "--max-batch", "1",
                               "--core-lag-margin", str(margin)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = "http://127.0.0.1:" + re.search(r":(\d+) ", server.stdout.readline()).group(1)
    stop, memory = threading.Event(), {"peak_mb": 0.0}
    sampler = threading.Thread(target=peak_rss_mb, args=(server.pid, stop, memory))
    sampler.start()
    # Neighbours that want the CPU all the time, unpinned like the server (bounded: they end with the run).
    hogs = [subprocess.Popen(["timeout", str(args.seconds + 15), "sh", "-c", "while :; do :; done"])
            for _ in range(args.hogs)]
    rate = capacity_qps() * args.factor
    try:
        bench = subprocess.run(
            [TBMS, "bench", "--url", url, "--models", ",".join("%s:%g" % m for m in MODELS),
             "--tloc", str(TLOC), "--cross-request", "1", "--cross-lag", "10", "--rate", "%.0f" % rate,
             "--requests", "%d" % (rate * args.seconds), "--duration-s", str(args.seconds + 10),
             "--json", "-"], capture_output=True, text=True, check=True)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        stop.set()
        sampler.join()
        server.terminate()
        server.wait(timeout=30)
    return json.loads(bench.stdout), memory["peak_mb"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=float, default=10, help="offered load / capacity")
    parser.add_argument("--seconds", type=float, default=10, help="length of each run")
    parser.add_argument("--hogs", type=int, default=0, help="busy-loop processes sharing the cores")
    parser.add_argument("--margins", default="0,2", help="--core-lag-margin of each run, side by side")
    args = parser.parse_args()
    subprocess.run(["./scripts/build"], check=True, stdout=subprocess.DEVNULL)
    runs = [(m, *run(args, m)) for m in args.margins.split(",")]
    r0 = runs[0][1]
    print("capacity %.0f req/s, offered %.0f req/s (%gx) for %gs, tloc %d ms, %d hog(s)" %
          (capacity_qps(), r0["offered_qps"], args.factor, args.seconds, TLOC, args.hogs))
    print("%-36s" % "--core-lag-margin" + "".join("%22s" % m for m, _, _ in runs))
    def row(name, value):
        print("%-36s" % name + "".join("%22s" % value(r) for _, r, _ in runs))
    for key in ("sent", "completed", "http_errors", "transport_errors", "unanswered_bench_timeout",
                "answered_pct", "answered_by_tloc_pct", "late_answers"):
        row(key, lambda r: r[key])
    for key in ("latency_ms", "latency_from_send_ms", "server_elapsed_ms"):
        row(key + " p99/p99.9/max", lambda r: "%.1f / %.1f / %.1f" % (r[key]["p99"], r[key]["p99_9"], r[key]["max"]))
    row("generator send lag max (ms)", lambda r: "%.1f" % r["generator"]["send_lag_ms"]["max"])
    row("shed as overloaded", lambda r: r["reasons"].get("overloaded", 0))
    print("%-36s" % "server peak RSS (MB)" + "".join("%22.1f" % mb for _, _, mb in runs))


if __name__ == "__main__":
    main()
