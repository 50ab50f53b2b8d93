#!/usr/bin/env python3
"""TBMS against the anchors' policies, side by side: the same simulated
models, the same seeded arrival traces, the same machine, one run each of
`tbms serve --policy {tbms,single,default-on-miss,drop-late}` per scenario,
and TBMS once more with the talk's est timer (`--hedge expected`), driven
by `tbms bench` (open loop, latency from the intended send time).

    bench/scenarios.py [--quick] [--write-docs]

Scenarios (models shaped like the talk's: embedding 35 ms, svm 25, bayes 15,
keysearch 5, each + 10% per extra batch item, lognormal jitter 0.1):
  load      offered load 0.5x, 1x, 2x, 4x the top model's capacity
  straggler 1x load, 1% of executions 10x slower
  burst     0.8x load, arrival CV 1, 2, 4 (two-state modulated Poisson)
  deadline  0.8x load, tloc 1x, 2x, 4x, 10x the top model's single-item time
plus the talk's batching formulas (batch 10, batch time 20 ms).
--write-docs replaces the generated section of docs/benchmarks.md.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TBMS = os.path.join(ROOT, "build", "tbms")
MODELS = [("embedding", 35.0), ("svm", 25.0), ("bayes", 15.0), ("keysearch", 5.0)]
QUALITY = "embedding=1,svm=0.8,bayes=0.6,keysearch=0.4"
MAX_BATCH = 8
# (label, tbms serve --policy, tbms bench flags)
POLICIES = [("tbms", "tbms", ()), ("tbms, hedge expected", "tbms", ("--hedge", "expected")),
            ("single", "single", ()), ("default-on-miss", "default-on-miss", ()), ("drop-late", "drop-late", ())]


def batch_ms(single_ms, n):
    """Service time of a batch of n: MS + MS/10 * (n - 1), as --simulate NAME=MS."""
    return single_ms + single_ms / 10 * (n - 1)


def top_capacity_qps():
    """The top model's QPS_max: b * 1000 / T_b at the largest batch."""
    return MAX_BATCH * 1000.0 / batch_ms(MODELS[0][1], MAX_BATCH)


class Server:
    def __init__(self, policy, simulate, *flags):
        self.proc = subprocess.Popen(
            [TBMS, "serve", "--port", "0", "--insecure-dev", "--policy", policy, "--simulate", simulate,
             "--max-queue", "100000", "--max-pending", "1000000", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not match:
            self.close()
            raise RuntimeError("server did not start: %r" % line)
        self.url = "http://127.0.0.1:" + match.group(1)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def run(policy, rate, tloc, cv=1.0, seconds=8.0, server_flags=None, simulate=None,
        models=None, quality=QUALITY, cross=("1", "10"), bench_flags=()):
    """One server, one bench run; returns the bench's JSON."""
    simulate = simulate or ",".join("%s=%g" % m for m in MODELS)
    models = models or ",".join("%s:%g" % m for m in MODELS)
    if server_flags is None:
        server_flags = ()
    if "--jitter" not in server_flags:
        server_flags = ("--jitter", "lognormal", "--jitter-spread", "0.1") + tuple(server_flags)
    if "--max-batch" not in server_flags:
        server_flags = ("--max-batch", str(MAX_BATCH)) + tuple(server_flags)
    server = Server(policy, simulate, *server_flags)
    try:
        requests = max(200, int(rate * seconds))
        cmd = [TBMS, "bench", "--url", server.url, "--instance", "bench", "--models", models,
               "--tloc", str(tloc), "--cross-request", cross[0], "--cross-lag", cross[1],
               "--rate", str(rate), "--cv", str(cv), "--requests", str(requests),
               "--duration-s", str(seconds * 3 + 10), "--seed", "7", "--quality", quality,
               "--json", "-", *bench_flags]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 4 + 60)
        if out.returncode != 0:
            raise RuntimeError("bench failed: " + out.stderr[-2000:])
        return json.loads(out.stdout[out.stdout.index("{"):])
    finally:
        server.close()


def fmt_row(label, policy, r):
    lat = r["latency_ms"]
    return "| %s | %s | %.1f | %.1f | %.3f | %.1f | %.1f | %.1f | %.1f |" % (
        label, policy, r["answered_by_tloc_pct"], r["top_model_pct"], r["effective_quality"],
        lat["p50"], lat["p99"], lat["p99_9"], r["extra_attempts_pct"])


HEADER = ("| scenario | policy | answered by tloc % | top model % | effective quality | "
          "p50 ms | p99 ms | p99.9 ms | extra attempts % |\n|---|---|---|---|---|---|---|---|---|")


def scenarios(quick):
    cap = top_capacity_qps()
    top = MODELS[0][1]
    loads = [0.5, 1, 2, 4] if not quick else [0.5, 2]
    out = []
    for x in loads:
        out.append(("load %gx (%.0f QPS)" % (x, x * cap), dict(rate=x * cap, tloc=50)))
    out.append(("1% stragglers, 1x", dict(rate=cap, tloc=50, server_flags=("--straggler-rate", "0.01"))))
    for cv in ([1, 2, 4] if not quick else [4]):
        out.append(("burst CV %g, 0.8x" % cv, dict(rate=0.8 * cap, tloc=50, cv=cv)))
    for k in ([1, 2, 4, 10] if not quick else [1]):
        out.append(("tloc %gx = %g ms, 0.8x" % (k, k * top), dict(rate=0.8 * cap, tloc=k * top)))
    return out


def formulas(seconds):
    """The talk's trade-off: b = 10, T_b = 20 ms -> QPS_max = 500; lag at Q =
    200 QPS = T_b + (1000/Q)(b-1)/2 = 42.5 ms (batches wait to fill)."""
    one_model = dict(simulate="m=20:0", models="m:20", quality="m=1", seconds=seconds,
                     cross=("0", "0"), tloc=100000)
    fixed = ("--max-batch", "10", "--jitter", "none")
    # Saturated: offered 700 QPS with a budget long enough that nothing is dropped.
    sat = run("single", 700, server_flags=fixed, **one_model)
    # At 200 QPS batches wait to fill (a long max queue delay), as the formula assumes.
    lag = run("single", 200, server_flags=fixed + ("--max-queue-delay-ms", "10000"), **one_model)
    return sat, lag


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few scenarios, short runs (CI smoke)")
    parser.add_argument("--seconds", type=float, default=8.0, help="load per run")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    started = time.monotonic()
    lines = [HEADER]
    results = []
    todo = scenarios(args.quick)
    for i, (label, kw) in enumerate(todo):
        for policy, serve_policy, bench_flags in POLICIES:
            print("[%d/%d] %s, %s ..." % (i + 1, len(todo), label, policy), file=sys.stderr, flush=True)
            r = run(serve_policy, seconds=seconds, bench_flags=bench_flags, **kw)
            results.append({"scenario": label, "policy": policy, "result": r})
            lines.append(fmt_row(label, policy, r))
    print("formulas ...", file=sys.stderr, flush=True)
    sat, lag = formulas(seconds)
    qps_max = sat["achieved_qps"]
    lag_mean = lag["latency_ms"]["mean"]
    formula_md = (
        "| quantity | formula | measured | measured / formula |\n|---|---|---|---|\n"
        "| QPS_max, b = 10, T_b = 20 ms | b × 1000 / T_b = 500 | %.1f | %.3f |\n"
        "| lag at Q = 200 QPS | T_b + (1000/Q)(b − 1)/2 = 42.5 ms | %.1f ms (mean) | %.3f |"
        % (qps_max, qps_max / 500, lag_mean, lag_mean / 42.5))
    elapsed = time.monotonic() - started
    table = "\n".join(lines)
    report = ("Generated by `bench/scenarios.py%s` in %.0f s on %s (top model capacity %.0f QPS "
              "at batch %d).\n\n%s\n\nThe talk's batching formulas (`single`, one model, "
              "batch time 20 ms for any batch of up to 10):\n\n%s\n"
              % (" --quick" if args.quick else "", elapsed, time.strftime("%Y-%m-%d"),
                 top_capacity_qps(), MAX_BATCH, table, formula_md))
    print(report)
    with open(os.path.join(ROOT, "build", "scenarios.json"), "w") as f:
        json.dump({"results": results, "formulas": {"saturated": sat, "lag": lag}}, f, indent=1)
    if args.write_docs:
        path = os.path.join(ROOT, "docs", "benchmarks.md")
        doc = open(path).read()
        begin, end = "<!-- scenarios:begin -->", "<!-- scenarios:end -->"
        if begin not in doc:
            doc += "\n" + begin + "\n" + end + "\n"
        head, rest = doc.split(begin, 1)
        tail = rest.split(end, 1)[1]
        open(path, "w").write(head + begin + "\n" + report + end + tail)


if __name__ == "__main__":
    main()
