#!/usr/bin/env python3
"""What a broker's remote calls cost while they wait, measured on loopback,
side by side in one run: a worker serves a slow model (`--model-ms`, 200 by
default, one replica per call), and a broker whose house has it as a remote
model over REST and over gRPC with `--in-flight` calls at once (64). `tbms
bench` keeps about that many calls out (offered load = in_flight / model
time x 0.9) and the broker's CPU time (utime + stime, /proc) is read around
each run: almost all of the calls' time is spent waiting for the worker, so
the broker's CPU per second is the cost of waiting. With `--baseline BINARY`
the same runs are made with that tbms too, interleaved, for a before/after.
Prints a markdown table (recorded in docs/benchmarks.md).

    bench/remote_waiting.py [--baseline /tmp/old/build/tbms] [--rounds 2] [--seconds 8]
"""

import argparse
import os
import shutil
import tempfile

import loopback
from loopback import bench as tbms_bench, free_port, serve, write

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def house(root, worker_port, worker_grpc, in_flight):
    h = os.path.join(root, "house")
    for name, protocol, port in (("rest", "http", worker_port), ("grpc", "grpc", worker_grpc)):
        write(os.path.join(h, name, "model.toml"),
              'backend = "kserve"\nest = 250\n[batching]\nmax_batch_size = 1\n[remote]\nprotocol = "%s"\n'
              'endpoints = ["127.0.0.1:%d"]\nmodel = "slow"\nin_flight = %d\n' % (protocol, port, in_flight))
    write(os.path.join(h, "instances.toml"), "[instances.bench]\n")
    return h


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", help="a tbms binary to measure beside build/tbms")
    parser.add_argument("--in-flight", type=int, default=64, help="remote calls at once (and worker replicas)")
    parser.add_argument("--model-ms", type=float, default=200, help="the worker's model time")
    parser.add_argument("--seconds", type=float, default=8, help="length of each run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each binary and protocol, interleaved")
    args = parser.parse_args()
    binaries = [("now", loopback.TBMS)] + ([("baseline", args.baseline)] if args.baseline else [])
    root = tempfile.mkdtemp(prefix="tbms_remote_waiting_")
    worker_port, worker_grpc = free_port(), free_port()
    worker, _ = serve("--simulate", "slow=%g" % args.model_ms, "--replicas", str(args.in_flight), "--max-batch", "1",
                      "--max-queue", "100000", "--port", str(worker_port), "--grpc-port", str(worker_grpc))
    h = house(root, worker_port, worker_grpc, args.in_flight)
    rate = 0.9 * args.in_flight * 1000 / args.model_ms
    requests = int(rate * args.seconds)
    rows = []
    try:
        for rnd in range(args.rounds):
            for label, binary in binaries:
                loopback.TBMS = binary
                broker, port = serve("--house", h, "--port", "0")
                try:
                    for model in ("rest", "grpc"):
                        before = cpu_seconds(broker.pid)
                        r = tbms_bench("http://127.0.0.1:%d" % port, "--models", model + ":250", "--tloc", "5000",
                                       "--rate", "%g" % rate, "--requests", str(requests))
                        used = cpu_seconds(broker.pid) - before
                        seconds = requests / r["achieved_qps"]
                        rows.append((label, model, rnd + 1, r["achieved_qps"], r["answered_by_tloc_pct"],
                                     1000 * used / seconds, 1e6 * used / requests))
                finally:
                    broker.kill()
                    broker.wait()
    finally:
        loopback.TBMS = binaries[0][1]
        worker.kill()
        shutil.rmtree(root, ignore_errors=True)
    print("Broker CPU while %d remote calls of %g ms wait (offered %.0f tries/s, %d tries a run):\n" % (
        args.in_flight, args.model_ms, rate, requests))
    print("| tbms | protocol | round | achieved/s | answered % | broker CPU ms per s | CPU µs per try |")
    print("|---|---|---|---|---|---|---|")
    for label, model, rnd, qps, answered, per_s, per_try in rows:
        print("| %s | %s | %d | %.0f | %.2f | %.1f | %.0f |" % (label, model, rnd, qps, answered, per_s, per_try))


if __name__ == "__main__":
    main()
