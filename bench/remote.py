#!/usr/bin/env python3
"""Remote models, measured on loopback, side by side in one run: a worker
(`tbms serve --simulate labeler=1`, REST and gRPC) and a broker whose house
serves the same 1 ms model three ways — locally, and as a remote model over
REST and over gRPC. `tbms bench` offers each the same open-loop load; the
difference in latency is the remote hop. Then `infer_bench` calls the worker
directly: v2 infers/s over REST vs gRPC. Prints markdown tables (recorded in
docs/benchmarks.md).

    bench/remote.py [--rates 250,1000,3000] [--requests 3000]
"""

import argparse
import os
import shutil
import subprocess
import tempfile

from loopback import bench as tbms_bench, free_port, serve, write

INFER_BENCH = "build/infer_bench"


def house(root, worker_port, worker_grpc):
    h = os.path.join(root, "house")
    write(os.path.join(h, "local", "model.toml"),
          'backend = "simulated"\nest = 5\nreplicas = 4\n[batching]\nmax_batch_size = 1\n')
    write(os.path.join(h, "local", "1", "simulated.toml"), "base_ms = 1\n")
    for name, protocol, port in (("rest", "http", worker_port), ("grpc", "grpc", worker_grpc)):
        write(os.path.join(h, name, "model.toml"),
              'backend = "kserve"\nest = 5\n[batching]\nmax_batch_size = 1\n[remote]\nprotocol = "%s"\n'
              'endpoints = ["127.0.0.1:%d"]\nmodel = "labeler"\nin_flight = 4\n' % (protocol, port))
    write(os.path.join(h, "instances.toml"), "[instances.bench]\n")
    return h


def bench(port, model, rate, requests):
    return tbms_bench("http://127.0.0.1:%d" % port, "--models", model + ":5", "--tloc", "1000", "--rate", str(rate),
                      "--requests", str(requests))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="250,1000,3000", help="offered tries/s, comma-separated")
    parser.add_argument("--requests", type=int, default=3000, help="tries per run")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="tbms_remote_bench_")
    worker_port, worker_grpc, broker_port = free_port(), free_port(), free_port()
    worker, _ = serve("--simulate", "labeler=1,instant=0", "--replicas", "4", "--max-batch", "1",
                      "--port", str(worker_port), "--grpc-port", str(worker_grpc))
    broker, _ = serve("--house", house(root, worker_port, worker_grpc), "--port", str(broker_port))
    try:
        print("Tries through the broker (model: 1 ms, 4 replicas; tloc 1000 ms; latency from each try's "
              "intended send time):\n")
        print("| served | offered/s | achieved/s | p50 ms | p99 ms | answered % |\n|---|---|---|---|---|---|")
        for rate in [float(r) for r in args.rates.split(",")]:
            for model, label in (("local", "locally"), ("rest", "remote, REST"), ("grpc", "remote, gRPC")):
                r = bench(broker_port, model, rate, args.requests)
                print("| %s | %g | %.0f | %.3f | %.3f | %.2f |" % (
                    label, rate, r["achieved_qps"], r["latency_ms"]["p50"], r["latency_ms"]["p99"],
                    r["answered_by_tloc_pct"]))
        for model, what in (("labeler", "the 1 ms model"), ("instant", "a 0 ms model: the protocols' own cost")):
            print("\nv2 infer straight to the worker, %s; closed loop, 4 callers x 2000 infers:\n" % what)
            print(subprocess.run([INFER_BENCH, "--rest", "http://127.0.0.1:%d" % worker_port, "--grpc",
                                  "127.0.0.1:%d" % worker_grpc, "--model", model, "--threads", "4",
                                  "--requests", "2000"], capture_output=True, text=True, check=True).stdout)
    finally:
        broker.kill()
        worker.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
