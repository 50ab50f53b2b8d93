"""A TBMS fleet on this machine: N brokers behind HAProxy and M workers, on loopback.

The same topology as deploy/k8s (stateless brokers in front of model
workers), from one house split into its broker and worker parts
(house_split.py). The brokers call the workers over KServe v2 gRPC, signed
with a key made for the fleet; HAProxy spreads callers over the brokers,
checks their readiness every 100 ms, and retries a connection a broker
refused on another. Brokers drain on SIGTERM with a delay longer than
HAProxy needs to notice, so rolling them loses no request.

    scripts/fleet --brokers 2 --workers 3            # the demo house, simulated
    scripts/fleet --house build/house-wordnet        # any house

`Fleet` is also the tests' and benchmarks' handle on it (tests/e2e/test_fleet.py,
bench/fleet.py): kill, restart and add workers, roll brokers.
"""

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import house_split  # noqa: E402

DRAIN_DELAY_S = 1.0  # > HAProxy's check interval (100 ms) x fall (1), with room for a loaded box
START_TIMEOUT_S = 30
HAPROXY_CONFIG = """\
# Made by deploy/fleet/fleet.py.
global
    maxconn 8192
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 30s
    # A refused connection (a broker gone) is retried on another broker; a
    # request that reached a broker is never sent twice (its nonce is spent).
    retries 3
    option redispatch 1
    retry-on conn-failure
frontend tbms
    bind 127.0.0.1:{port}
    default_backend brokers
backend brokers
    balance leastconn
    option httpchk GET /v2/health/ready
    http-check expect status 200
    default-server check inter 100ms fall 1 rise 1
{servers}
listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /
    stats refresh 2s
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def wait_until(predicate, what, timeout=START_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("fleet: %s within %d s" % (what, timeout))
        time.sleep(0.02)  # polls a real process for an event, bounded above


class Server:
    """One `tbms serve` on a fixed port (so it can be restarted where the others expect it)."""

    def __init__(self, name, tbms_bin, flags, env, port, log_dir):
        self.name, self.tbms_bin, self.flags, self.env, self.port = name, tbms_bin, flags, env, port
        self.log_path = os.path.join(log_dir, name + ".log")
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.tbms_bin, "serve", "--port", str(self.port), *self.flags],
                                     stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()
        wait_until(lambda: self.proc.poll() is not None or http_ok("http://%s/v2/health/ready" % self.address),
                   "%s ready" % self.name)
        if self.proc.poll() is not None:
            with open(self.log_path) as f:
                raise RuntimeError("fleet: %s exited at start: %s" % (self.name, f.read()[-2000:]))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.running():
            self.proc.kill()
        if self.proc:
            self.proc.wait(timeout=10)

    def stop(self, timeout=60):
        """SIGTERM: unready, drained after the delay, exits 0 when its tries are done."""
        if not self.running():
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


class Fleet:
    def __init__(self, house, brokers=2, workers=3, tbms_bin="build/tbms", root=None, env=None,
                 protocol="grpc", threads=1, local=(), broker_flags=(), worker_flags=()):
        if brokers < 1 or workers < 1:
            raise ValueError("a fleet needs at least one broker and one worker")
        self.root = root or tempfile.mkdtemp(prefix="tbms_fleet_")
        self.own_root = root is None
        self.tbms_bin, self.protocol = os.path.abspath(tbms_bin), protocol
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("TBMS_BROKER_KEY", secrets.token_hex(16))
        self.logs = os.path.join(self.root, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.threads = str(threads)
        self.worker_flags, self.broker_flags = list(worker_flags), list(broker_flags)
        self.worker_house = os.path.join(self.root, "house", "worker")  # split below, once the ports are known
        self.workers = [self.new_worker(i) for i in range(workers)]
        self.broker_house, _ = house_split.split(house, os.path.join(self.root, "house"), self.worker_endpoints(),
                                                 protocol, local=local)
        self.brokers = [self.new_broker(i) for i in range(brokers)]
        self.port, self.stats_port = free_port(), free_port()
        self.haproxy = None

    # --- parts
    def new_worker(self, i):
        grpc_port = free_port()
        flags = ["--house", self.worker_house, "--grpc-port", str(grpc_port), "--threads", self.threads,
                 "--drain-delay-s", str(DRAIN_DELAY_S), *self.worker_flags]
        worker = Server("worker%d" % i, self.tbms_bin, flags, self.env, free_port(), self.logs)
        worker.grpc_address = "127.0.0.1:%d" % grpc_port
        return worker

    def new_broker(self, i):
        flags = ["--house", self.broker_house, "--model-control", "poll", "--poll-interval-s", "0.2",
                 "--threads", self.threads, "--metrics-address", "127.0.0.1:%d" % free_port(),
                 "--drain-delay-s", str(DRAIN_DELAY_S), *self.broker_flags]
        return Server("broker%d" % i, self.tbms_bin, flags, self.env, free_port(), self.logs)

    def worker_endpoints(self):
        return [w.grpc_address if self.protocol == "grpc" else w.address for w in self.workers]

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def metrics_addresses(self):
        return [b.flags[b.flags.index("--metrics-address") + 1] for b in self.brokers]

    # --- life
    def start(self):
        for w in self.workers:
            w.start()
        for b in self.brokers:
            b.start()
        self.write_haproxy_config()
        with open(os.path.join(self.logs, "haproxy.log"), "w") as log:
            self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", self.haproxy_config],
                                            stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.haproxy.poll() is not None or self.brokers_up() == len(self.brokers),
                   "HAProxy seeing every broker up")
        if self.haproxy.poll() is not None:
            raise RuntimeError("fleet: haproxy exited: see %s" % os.path.join(self.logs, "haproxy.log"))
        return self

    def write_haproxy_config(self):
        self.haproxy_config = os.path.join(self.root, "haproxy.cfg")
        servers = "\n".join("    server %s %s" % (b.name, b.address) for b in self.brokers)
        with open(self.haproxy_config, "w") as f:
            f.write(HAPROXY_CONFIG.format(port=self.port, stats_port=self.stats_port, servers=servers))

    def brokers_up(self):
        """How many brokers HAProxy has up now (its stats CSV)."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/;csv" % self.stats_port, timeout=1) as r:
                rows = r.read().decode().splitlines()
        except OSError:
            return 0
        return sum(1 for row in rows if row.startswith("brokers,broker") and ",UP," in row)

    def close(self):
        if self.haproxy and self.haproxy.poll() is None:
            self.haproxy.terminate()
            self.haproxy.wait(timeout=10)
        for s in self.brokers + self.workers:
            s.kill()
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # --- changes while serving
    def kill_worker(self, i):
        self.workers[i].kill()

    def restart_worker(self, i):
        self.workers[i].start()

    def add_worker(self):
        """Starts one more worker and points every broker at it (they reload the house)."""
        worker = self.new_worker(len(self.workers))
        worker.start()
        self.workers.append(worker)
        house_split.set_endpoints(self.broker_house, self.worker_endpoints())
        return worker

    def roll_brokers(self, progress=None):
        """Restarts the brokers one at a time, each only once HAProxy has the last one back."""
        for b in self.brokers:
            code = b.stop()
            if code != 0:
                raise RuntimeError("fleet: %s exited %s on SIGTERM" % (b.name, code))
            b.start()
            wait_until(lambda: self.brokers_up() == len(self.brokers), "HAProxy seeing %s back" % b.name)
            if progress:
                progress(b)

    def describe(self, instance="INSTANCE"):
        lines = ["fleet: %d brokers behind HAProxy on %s, %d workers (%s)" % (
                     len(self.brokers), self.endpoint, len(self.workers), ", ".join(self.worker_endpoints())),
                 "fleet: send requests to %s (as to one server: instance %s and its key)" % (self.endpoint, instance),
                 "fleet: the fleet's report: build/tbms report %s" % " ".join(
                     "--url http://%s" % a for a in self.metrics_addresses()),
                 "fleet: HAProxy's view: http://127.0.0.1:%d/   logs and houses: %s" % (self.stats_port, self.root)]
        return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--house", default="house/demo", help="the house to split and serve (default house/demo)")
    parser.add_argument("--brokers", type=int, default=2, help="brokers behind HAProxy (default 2)")
    parser.add_argument("--workers", type=int, default=3, help="model workers (default 3)")
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc",
                        help="how brokers call workers (default grpc)")
    parser.add_argument("--local", default="",
                        help="models that stay in the brokers, comma-separated: a cheap last resort there answers "
                             "even when no worker can (e.g. keysearch)")
    parser.add_argument("--threads", type=int, default=1, help="I/O threads per server (default 1)")
    parser.add_argument("--replay-store", metavar="HOST:PORT|unix:PATH",
                        help="a Redis the brokers share for replay protection (tbms serve --replay-store); "
                             "without it each broker guards replays alone")
    parser.add_argument("--tbms", default="build/tbms", help="the tbms binary (default build/tbms)")
    args = parser.parse_args(argv)
    if not 1 <= args.brokers <= 64 or not 1 <= args.workers <= 64:
        parser.error("--brokers and --workers are each 1 to 64")
    if shutil.which("haproxy") is None:
        parser.error("haproxy is not installed (scripts/setup installs it)")
    local = [m.strip() for m in args.local.split(",") if m.strip()]
    try:
        fleet = Fleet(args.house, args.brokers, args.workers, args.tbms, protocol=args.protocol,
                      threads=args.threads, local=local,
                      broker_flags=["--replay-store", args.replay_store] if args.replay_store else ())
    except (ValueError, OSError) as e:
        parser.error(str(e))
    try:
        fleet.start()
        instance = next(iter(re.findall(r"^\[instances\.([^].]+)\]", open(
            os.path.join(args.house, "instances.toml")).read(), re.M)), "INSTANCE")
        print(fleet.describe(instance), flush=True)
        print("fleet: Ctrl-C stops it", flush=True)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("fleet: stopping", flush=True)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        fleet.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
