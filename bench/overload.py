#!/usr/bin/env python3
"""Overload: the talk's four simulated models (one replica each, no
batching) offered 10x what all of them together can serve, with a bounded
open-loop load from `tbms bench`. Shows that every accepted request gets
exactly one response within tloc plus a small margin (an answer from a
cheaper model, or none), and that memory stays bounded (peak RSS from
/proc). Prints a table; numbers are recorded in docs/benchmarks.md.

    bench/overload.py [--factor 10] [--seconds 10]
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=float, default=10, help="offered load / capacity")
    parser.add_argument("--seconds", type=float, default=10, help="length of the run")
    args = parser.parse_args()
    subprocess.run(["./scripts/build"], check=True, stdout=subprocess.DEVNULL)
    simulate = ",".join("%s=%g:0" % m for m in MODELS)
    server = subprocess.Popen([TBMS, "serve", "--port", "0", "--insecure-dev", "--simulate", simulate, "--max-batch", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = "http://127.0.0.1:" + re.search(r":(\d+) ", server.stdout.readline()).group(1)
    stop, memory = threading.Event(), {"peak_mb": 0.0}
    sampler = threading.Thread(target=peak_rss_mb, args=(server.pid, stop, memory))
    sampler.start()
    rate = capacity_qps() * args.factor
    try:
        bench = subprocess.run(
            [TBMS, "bench", "--url", url, "--models", ",".join("%s:%g" % m for m in MODELS),
             "--tloc", str(TLOC), "--cross-request", "1", "--cross-lag", "10", "--rate", "%.0f" % rate,
             "--requests", "%d" % (rate * args.seconds), "--duration-s", str(args.seconds + 10),
             "--json", "-"], capture_output=True, text=True, check=True)
    finally:
        stop.set()
        sampler.join()
        server.terminate()
        server.wait(timeout=30)
    r = json.loads(bench.stdout)
    print("capacity %.0f req/s, offered %.0f req/s (%gx) for %gs, tloc %d ms" %
          (capacity_qps(), r["offered_qps"], args.factor, args.seconds, TLOC))
    for key in ("sent", "completed", "http_errors", "transport_errors", "unanswered_bench_timeout",
                "answered_pct", "answered_by_tloc_pct"):
        print("%-26s %s" % (key, r[key]))
    print("%-26s %s" % ("latency_ms p50/p99/max", "%s / %s / %s" % (r["latency_ms"]["p50"], r["latency_ms"]["p99"],
                                                                   r["latency_ms"]["max"])))
    print("%-26s %.1f" % ("server peak RSS (MB)", memory["peak_mb"]))


if __name__ == "__main__":
    main()
