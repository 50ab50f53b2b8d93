#!/usr/bin/env python3
"""Two brokers sharing one worker, with and without the worker's word on its
queue (issue 14 item 4), side by side in one run on loopback. A worker serves
a 20 ms model one request at a time (50/s). Broker A overloads it (80
tries/s, each with a local fallback). Brokers "on" and "off" each send 20
tries/s with the same candidates (the remote model, then a 3 ms local one)
and tloc 60 ms; "on" takes the worker's tbms_expected_ms as a floor on its
predictions ([remote] share_estimates = true, the default), "off" does not
and knows only the round trips it measures itself. Prints a markdown table
(recorded in docs/benchmarks.md).

    bench/shared_worker.py [--seconds 10]
"""

import argparse
import os
import shutil
import tempfile
import threading

from loopback import bench as tbms_bench, free_port, serve, write


def broker(root, name, worker_port, share):
    house = os.path.join(root, name)
    write(os.path.join(house, "labeler", "model.toml"),
          'backend = "kserve"\nest = 20\n[batching]\nmax_batch_size = 1\n[remote]\nendpoints = ["127.0.0.1:%d"]\n'
          'in_flight = 4\nshare_estimates = %s\n' % (worker_port, "true" if share else "false"))
    write(os.path.join(house, "bayes", "model.toml"), 'backend = "simulated"\nest = 3\nreplicas = 4\n')
    write(os.path.join(house, "bayes", "1", "simulated.toml"), "base_ms = 3\n")
    write(os.path.join(house, "instances.toml"), "[instances.bench]\n")
    return serve("--house", house, "--port", "0")


def bench(port, rate, tloc, seconds, out, key):
    out[key] = tbms_bench("http://127.0.0.1:%d" % port, "--models", "labeler:20,bayes:3",
                          "--quality", "labeler=1,bayes=0.6", "--tloc", str(tloc), "--rate", str(rate),
                          "--requests", str(int(rate * seconds)), "--duration-s", str(seconds + 5))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="how long each broker is offered load")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="tbms_shared_")
    worker, worker_port = serve("--simulate", "labeler=20", "--max-batch", "1", "--port", str(free_port()))
    procs = [worker]
    try:
        ports = {}
        for name, share in (("a", True), ("on", True), ("off", False)):
            proc, ports[name] = broker(root, name, worker_port, share)
            procs.append(proc)
        results = {}
        runs = [threading.Thread(target=bench, args=(ports["a"], 80, 100, args.seconds, results, "a"))]
        for name in ("on", "off"):
            runs.append(threading.Thread(target=bench, args=(ports[name], 20, 60, args.seconds, results, name)))
        for t in runs:
            t.start()
        for t in runs:
            t.join()
        print("| broker | tries | answered by tloc % | p50 ms | p99 ms | by the worker % | extra attempts % | "
              "effective quality |\n|---|---|---|---|---|---|---|---|")
        for name, label in (("a", "A (80/s, the load)"), ("on", "on: share_estimates"), ("off", "off")):
            r = results[name]
            by = r["by_model"]
            total = max(1, sum(by.values()))
            print("| %s | %d | %.2f | %.3f | %.3f | %.1f | %.1f | %.3f |" % (
                label, r["completed"], r["answered_by_tloc_pct"], r["latency_ms"]["p50"], r["latency_ms"]["p99"],
                100.0 * by.get("labeler", 0) / total, r["extra_attempts_pct"], r["effective_quality"]))
    finally:
        for p in procs:
            p.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
