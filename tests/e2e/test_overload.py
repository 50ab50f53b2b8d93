"""End to end: overload. The talk's four simulated models (one replica
each, no batching: 335 req/s together) offered 10x that for 2 s from
`tbms bench` on loopback. Every request gets exactly one response (an
answer from a cheaper model, or none), nothing errs, and the server's
memory stays bounded. The latency figures of the full 10 s run are in
docs/benchmarks.md (bench/overload.py); here the bound is loose, since CI
machines are shared. Needs TBMS_BIN and PYTHONPATH=python."""

import os
import re
import signal
import threading
import time
import unittest

from test_bench import bench
from test_serve import PLANNED, Server, http_get

MODELS = [("embedding", 35), ("svm", 25), ("bayes", 15), ("keysearch", 5)]
TLOC = 50


def peak_rss_mb(pid):
    """The kernel's peak resident set of the process (VmHWM)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/%d/status" % pid)


class OverloadTest(unittest.TestCase):
    def test_ten_times_capacity_gets_one_response_each_and_bounded_memory(self):
        capacity = sum(1000.0 / ms for _, ms in MODELS)
        rate, seconds = 10 * capacity, 2
        # PLANNED: the answered share is asserted from the models' capacity; a CI
        # stall shedding tries as "overloaded" is ShortOfCpuTest's subject, not this one's.
        server = Server(None, "--simulate", ",".join("%s=%g:0" % m for m in MODELS), "--max-batch", "1", *PLANNED)
        try:
            code, d, err = bench(server.endpoint, "--models", ",".join("%s:%g" % m for m in MODELS),
                                 "--tloc", str(TLOC), "--cross-request", "1", "--cross-lag", "10",
                                 "--rate", "%.0f" % rate, "--requests", "%d" % (rate * seconds),
                                 "--duration-s", "30", "--quiet")
            self.assertEqual(code, 0, err)
            self.assertEqual(d["sent"], int(rate * seconds))
            self.assertEqual(d["completed"], d["sent"], "every request, one response")
            self.assertEqual((d["http_errors"], d["transport_errors"], d["unanswered_bench_timeout"]), (0, 0, 0))
            self.assertGreater(d["answered_pct"], 5)    # the models' capacity is 10% of the load
            if not os.environ.get("TBMS_SANITIZE"):  # sanitizers: several times slower, ASan keeps freed memory
                # (a sanitized bench sends over longer than 2 s, so more of it is answered)
                self.assertLess(d["answered_pct"], 20)
                self.assertLess(d["latency_ms"]["p99"], TLOC + 100, "answers by tloc, give or take a loaded machine")
                self.assertLess(peak_rss_mb(server.proc.pid), 64)
        finally:
            server.close()


def core_lag_s(port):
    return float(re.search(rb"^tbms_core_lag_seconds (\S+)$", http_get(port, "/metrics"), re.M).group(1))


def wait_for(what, predicate, seconds=10):
    """Polls `predicate` until it holds (bounded): outcomes are asserted, not timings."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


class ShortOfCpuTest(unittest.TestCase):
    """The server process is stopped (SIGSTOP) while a try is in flight, as
    a process short of CPU is: its timers then run late, the core measures
    that lag, and a try that would have been answered in time without it is
    refused at once with reason "overloaded" instead of answered late. Once
    the lag is forgotten (two 250 ms windows), the same try is answered."""

    def test_a_late_core_sheds_new_tries_at_once_then_recovers(self):
        server = Server("slow=200:0,fast=5:0")
        try:
            slow = {"inputs": {"question": "q"}, "models": [{"name": "slow"}], "tloc": 5000}
            fast = {"inputs": {"question": "q"}, "models": [{"name": "fast"}], "tloc": 300}
            results = []
            worker = threading.Thread(target=lambda: results.append(server.post("/v1/instances/a/try", slow)))
            worker.start()
            wait_for("the slow try to reach the server", lambda: b"tbms_pending_tries 1" in http_get(server.port, "/metrics"))
            os.kill(server.proc.pid, signal.SIGSTOP)  # its 200 ms timer will run at least 200 ms late
            time.sleep(0.4)  # the fault itself: how long the process gets no CPU, not a wait for an event
            os.kill(server.proc.pid, signal.SIGCONT)
            worker.join(10)
            self.assertEqual(results[0][0], 200)
            self.assertEqual(results[0][1]["model"], "slow")  # in flight when the core stalled: still answered
            self.assertGreaterEqual(core_lag_s(server.port), 0.19)

            status, got = server.post("/v1/instances/a/try", fast)  # 5 ms of work, 300 ms budget, 2 x 200 ms lag
            self.assertEqual(status, 200)
            self.assertIsNone(got["answer"])
            self.assertEqual(got["reason"], "overloaded")
            # At once means long before the 300 ms deadline; the bound leaves room for a loaded CI box.
            self.assertLess(got["elapsed_ms"], 100, "shed at once, not at the deadline")
            self.assertEqual(got["attempts"][0]["state"], "skipped")

            wait_for("the lag to be forgotten", lambda: core_lag_s(server.port) == 0)
            status, got = server.post("/v1/instances/a/try", fast)
            self.assertEqual((status, got["model"], got["reason"]), (200, "fast", None))
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main()
