#!/usr/bin/env python3
"""The loopback fleet (2 brokers behind HAProxy, 3 workers: scripts/fleet)
against one process serving the same models with the same capacity (the
demo house with three times the replicas of each model), side by side in
one run: the same open-loop load (`tbms bench`, signed, the demo task's
candidates, tloc and hedging) at each rate, alternating between the two.
A last row measures the extra hop alone: the embedding only, a loose
budget, a low rate, so the difference in latency is the hop's.

    bench/fleet.py [--seconds 10] [--rates 50,150,300] [--tloc 50]

Prints a markdown table (recorded in docs/benchmarks.md). Every process
shares this machine's cores: on 2 cores the fleet's six processes and the
load generator compete, which is part of what it measures.
"""

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import tomllib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "fleet"))
import fleet as loopback_fleet  # noqa: E402
import house_split  # noqa: E402
from loopback import TBMS, bench as tbms_bench  # noqa: E402

HOUSE = "house/demo"
WORKERS = 3
LOCAL = ["keysearch"]  # the cheap last resort stays in the brokers, as in deploy/k8s
TASK = ["--instance", "nianjianQA", "--models", "embedding,svm,bayes,keysearch",
        "--cross-request", "1", "--cross-lag", "10", "--quality", "embedding=1,svm=0.8,bayes=0.6,keysearch=0.4"]
HOP = ["--instance", "nianjianQA", "--models", "embedding", "--tloc", "200"]
HOP_RATE = 20


def scaled_house(root):
    """house/demo with WORKERS times the replicas of every model that runs: one process, the fleet's capacity."""
    house = os.path.join(root, "single")
    shutil.copytree(HOUSE, house)
    for name in house_split.model_folders(house):
        path = os.path.join(house, name, "model.toml")
        with open(path, "rb") as f:
            model = tomllib.load(f)
        if model.get("backend") == house_split.MIX_BACKEND:
            continue
        model["replicas"] = int(model.get("replicas", 1)) * WORKERS
        with open(path, "w") as f:
            f.write(house_split.toml_text(model))
    return house


def bench(url, flags, rate, seconds, env):
    return tbms_bench(url, *flags, "--rate", str(rate), "--requests", str(int(rate * seconds)),
                      "--duration-s", str(seconds + 10), env=env)


def row(label, setup, b):
    lat = b["latency_ms"]
    return "| %s | %s | %.0f | %.2f%% | %.1f%% | %.3f | %.1f | %.1f | %d |" % (
        label, setup, b["achieved_qps"], b["answered_by_tloc_pct"], b["top_model_pct"], b["effective_quality"],
        lat["p50"], lat["p99"], b["http_errors"] + b["transport_errors"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--seconds", type=float, default=10, help="load per setup and rate (default 10)")
    parser.add_argument("--rates", default="50,150,300", help="requests/s, comma-separated (default 50,150,300)")
    parser.add_argument("--tloc", type=float, default=50, help="the tries' budget in ms (default 50, the demo task's)")
    args = parser.parse_args()
    try:
        rates = [float(r) for r in args.rates.split(",")]
    except ValueError:
        parser.error("--rates takes numbers, e.g. 50,150,300")
    if not 0 < args.seconds <= 600 or not all(0 < r <= 10000 for r in rates) or not 1 <= args.tloc <= 10000:
        parser.error("--seconds is in (0, 600], each rate in (0, 10000], --tloc in [1, 10000]")
    task = TASK + ["--tloc", "%g" % args.tloc]
    root = tempfile.mkdtemp(prefix="tbms_bench_fleet_")
    keys = {"TBMS_NIANJIANQA_KEY": secrets.token_hex(32), "TBMS_ADMIN_KEY": secrets.token_hex(32),
            "TBMS_BROKER_KEY": secrets.token_hex(32)}
    env = {**os.environ, **keys}
    client = {**env, "TBMS_ACCESS_ID": "nianjianQA", "TBMS_ACCESS_KEY": keys["TBMS_NIANJIANQA_KEY"]}
    single_port = loopback_fleet.free_port()
    single = subprocess.Popen([TBMS, "serve", "--house", scaled_house(root), "--port", str(single_port),
                               "--threads", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fleet = loopback_fleet.Fleet(HOUSE, brokers=2, workers=WORKERS, tbms_bin=TBMS, root=os.path.join(root, "fleet"),
                                 env=env, local=LOCAL)
    try:
        fleet.start()
        single_url = "http://127.0.0.1:%d" % single_port
        loopback_fleet.wait_until(lambda: loopback_fleet.http_ok(single_url + "/v2/health/ready"), "the single server")
        setups = (("one process", single_url), ("fleet 2x3", fleet.endpoint))
        for _, url in setups:  # learn service times on both before measuring
            bench(url, task, 50, 2, client)
        print("| load | setup | req/s | answered by tloc | top model | eff. quality | p50 ms | p99 ms | errors |")
        print("|---|---|---|---|---|---|---|---|---|")
        for rate in rates:
            for setup, url in setups:
                print(row("%g/s, tloc %g" % (rate, args.tloc), setup, bench(url, task, rate, args.seconds, client)),
                      flush=True)
        for setup, url in setups:
            print(row("hop: embedding only, tloc 200, %d/s" % HOP_RATE, setup,
                      bench(url, HOP, HOP_RATE, args.seconds, client)), flush=True)
    finally:
        fleet.close()
        single.terminate()
        single.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
