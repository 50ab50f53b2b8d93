"""End to end: `tbms bench`, the open-loop load generator, against a real
server on loopback. Its JSON must be complete and self-consistent, latency
must run from each request's intended time (a single connection that cannot
keep up shows the backlog in latency_ms, not in a slower send rate), the
wall-time bound must stop a run, and non-loopback targets must be refused
before anything is sent. Needs TBMS_BIN and PYTHONPATH=python (ctest sets
both)."""

import http.client
import json
import signal
import subprocess
import time
import unittest

from test_serve import PLANNED, Server, TBMS_BIN, grpc_address

TALK_MODELS = "embedding:35,svm:25,bayes:15,keysearch:5"
TALK_SIMULATE = "embedding=35,svm=25,bayes=15,keysearch=5"


def bench(url, *flags, timeout=120, target="--url"):
    """Runs tbms bench with --json -; returns (exit code, JSON or None, stderr)."""
    proc = subprocess.run([TBMS_BIN, "bench", target, url, *flags, "--json", "-"],
                          capture_output=True, text=True, timeout=timeout)
    data = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else None
    return proc.returncode, data, proc.stderr


def tries(server):
    """tbms_tries_total summed over every instance and task, from /metrics."""
    total = 0
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        for line in conn.getresponse().read().decode().splitlines():
            if line.startswith("tbms_tries_total"):
                total += float(line.rsplit(" ", 1)[1])
    finally:
        conn.close()
    return total


class BenchTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = Server(TALK_SIMULATE, *PLANNED)  # the answered share is asserted from the models' times

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_low_load_run_is_complete_and_consistent(self):
        code, d, err = bench(self.server.endpoint, "--instance", "e2e-bench", "--models", TALK_MODELS,
                             "--tloc", "50", "--cross-request", "1", "--cross-lag", "10",
                             "--rate", "200", "--requests", "400")
        self.assertEqual(code, 0, err)
        for key in ("sent", "completed", "http_errors", "transport_errors", "achieved_qps",
                    "answered_by_tloc_pct", "answered_pct", "top_model_pct", "effective_quality",
                    "latency_ms", "by_model", "extra_attempts_pct", "reasons",
                    "unanswered_bench_timeout", "rate_qps", "cv", "tloc", "models", "seed"):
            self.assertIn(key, d)
        self.assertEqual((d["sent"], d["completed"]), (400, 400))
        self.assertEqual((d["http_errors"], d["transport_errors"], d["unanswered_bench_timeout"]), (0, 0, 0))
        self.assertFalse(d["timed_out"])
        for key in ("answered_by_tloc_pct", "answered_pct", "top_model_pct", "extra_attempts_pct"):
            self.assertGreaterEqual(d[key], 0, key)
        for key in ("answered_by_tloc_pct", "answered_pct", "top_model_pct"):
            self.assertLessEqual(d[key], 100, key)
        self.assertLessEqual(d["top_model_pct"], d["answered_by_tloc_pct"])
        self.assertLessEqual(d["answered_by_tloc_pct"], d["answered_pct"])
        # Load is low and the client hedges: nearly all are answered within tloc
        # (the top model itself is past one replica's capacity at 200 qps, so
        # many answers are downgrades).
        self.assertGreaterEqual(d["answered_by_tloc_pct"], 75, d)
        self.assertGreaterEqual(d["effective_quality"], 0.2 * d["answered_by_tloc_pct"] / 100 - 1e-3)
        self.assertLessEqual(d["effective_quality"], d["answered_by_tloc_pct"] / 100 + 1e-3)
        self.assertAlmostEqual(sum(d["by_model"].values()), d["answered_pct"] * 4, delta=0.5)
        self.assertLessEqual(set(d["by_model"]), {"embedding", "svm", "bayes", "keysearch"})
        lat = d["latency_ms"]
        self.assertEqual(lat["count"], 400)
        self.assertTrue(0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"], lat)
        self.assertLess(lat["p99"], 50 + 100, "answers arrive by tloc, give or take a loaded machine")
        # Open loop: the offered rate is the trace's, whatever the server did.
        self.assertGreater(d["achieved_qps"], 100)
        self.assertLess(d["achieved_qps"], 300)
        self.assertIn("latency ms", err)  # the table went to stderr, the JSON to stdout
        self.assertEqual(d["quality"], {"embedding": 1, "svm": 0.8, "bayes": 0.6, "keysearch": 0.4})

    def test_latency_counts_from_the_intended_time(self):
        # One connection to a 5 ms model cannot carry 400 qps (2.5 ms apart):
        # requests wait for the connection, and that wait is latency. A
        # closed-loop client would report ~5 ms and quietly send at 200 qps.
        server = Server("keysearch=5")
        try:
            code, d, err = bench(server.endpoint, "--models", "keysearch:5", "--tloc", "5000",
                                 "--rate", "400", "--cv", "0", "--requests", "200",
                                 "--connections", "1", "--quiet")
        finally:
            server.close()
        self.assertEqual(code, 0, err)
        self.assertEqual(d["completed"], 200)
        self.assertEqual(d["generator"]["peak_connections"], 1)
        self.assertGreater(d["generator"]["queued_for_connection"], 100)
        self.assertLess(d["server_elapsed_ms"]["p50"], 20)
        # The last request is due at 0.5 s but served around 1 s.
        self.assertGreater(d["latency_ms"]["max"], 250)
        self.assertGreater(d["latency_ms"]["p99"], 5 * d["server_elapsed_ms"]["p99"])
        self.assertNotIn("] sent ", err)  # --quiet: no progress line (the table is there)
        self.assertIn("latency ms", err)

    def test_wall_time_bound_stops_the_run(self):
        start = time.monotonic()
        code, d, err = bench(self.server.endpoint, "--models", TALK_MODELS, "--rate", "20",
                             "--requests", "100000", "--duration-s", "1")
        self.assertEqual(code, 0, err)
        self.assertLess(time.monotonic() - start, 10)
        self.assertTrue(d["timed_out"])
        self.assertGreater(d["sent"], 5)
        self.assertLess(d["sent"], 60)
        self.assertEqual(d["sent"], d["completed"] + d["transport_errors"] + d["unanswered_bench_timeout"])

    def test_connections_closed_while_idle_are_retried(self):
        # The server drops connections idle for 0.2 s; requests 0.4 s apart
        # always find their pooled connection closed, and are resent once on
        # a new one: no transport errors.
        server = Server("keysearch=1", "--idle-timeout-s", "0.2")
        try:
            code, d, err = bench(server.endpoint, "--models", "keysearch:1", "--rate", "2.5",
                                 "--cv", "0", "--requests", "4", "--quiet")
        finally:
            server.close()
        self.assertEqual(code, 0, err)
        self.assertEqual((d["completed"], d["transport_errors"]), (4, 0))
        self.assertGreaterEqual(d["generator"]["retries"], 1)
        self.assertEqual(d["answered_by_tloc_pct"], 100)

    def test_interrupt_reports_what_was_measured(self):
        proc = subprocess.Popen([TBMS_BIN, "bench", "--url", self.server.endpoint, "--models",
                                 "keysearch:5", "--rate", "50", "--requests", "100000", "--json", "-"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Interrupt once it is sending: its first progress update (each second) says so.
        seen = ""
        while not seen.endswith(("\r", "\n")) and len(seen) < 10000:  # bounded; no sleep
            char = proc.stderr.read(1)
            if not char:
                break
            seen += char
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        d = json.loads(out)
        self.assertTrue(d["interrupted"])
        self.assertGreater(d["sent"], 0)
        self.assertEqual(d["sent"], d["completed"] + d["transport_errors"] + d["unanswered_bench_timeout"])

    def test_non_loopback_targets_are_refused_before_sending(self):
        before = tries(self.server)
        for url in ("http://10.0.0.1:1", "http://8.8.8.8:%d" % self.server.port,
                    "http://example.com:%d" % self.server.port, "http://[2001:db8::1]:80"):
            start = time.monotonic()
            proc = subprocess.run([TBMS_BIN, "bench", "--url", url, "--models", TALK_MODELS,
                                   "--rate", "100", "--requests", "10", "--json", "-"],
                                  capture_output=True, text=True, timeout=30)
            self.assertEqual(proc.returncode, 2, (url, proc.stderr))
            self.assertIn("only targets loopback", proc.stderr)
            self.assertEqual(proc.stdout, "")
            self.assertLess(time.monotonic() - start, 5, "refused without trying to connect")
        self.assertEqual(tries(self.server), before)
        # localhost is loopback.
        code, d, err = bench("http://localhost:%d" % self.server.port, "--models", "keysearch:5",
                             "--rate", "100", "--requests", "10", "--quiet")
        self.assertEqual(code, 0, err)
        self.assertEqual(d["completed"], 10)

    def test_bad_flags_exit_2(self):
        for flag, value in (("--cv", "0.5"), ("--models", "a:x"), ("--models", "a,a"),
                            ("--quality", "nosuch=1"), ("--quality", "svm=2"),
                            ("--instance", "a b"), ("--url", "ftp://127.0.0.1:1"),
                            ("--url", "http://127.0.0.1:99999")):
            flags = {"--url": self.server.endpoint, "--models": TALK_MODELS, "--rate": "10"}
            flags[flag] = value
            args = [x for item in flags.items() for x in item]
            proc = subprocess.run([TBMS_BIN, "bench", *args], capture_output=True, text=True, timeout=30)
            self.assertEqual(proc.returncode, 2, (flags, proc.stderr))
            self.assertIn("tbms bench: ", proc.stderr)
        # Out-of-range numbers are caught by the flag parser (its own exit code).
        proc = subprocess.run([TBMS_BIN, "bench", "--models", TALK_MODELS, "--rate", "0"],
                              capture_output=True, text=True, timeout=30)
        self.assertNotEqual(proc.returncode, 0)

    def test_only_http_errors_exit_1(self):
        proc = subprocess.run([TBMS_BIN, "bench", "--url", self.server.endpoint, "--models", "gpt",
                               "--rate", "100", "--requests", "5", "--json", "-"],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        d = json.loads(proc.stdout)
        self.assertEqual((d["completed"], d["http_errors"], d["http_status"]), (5, 5, {"404": 5}))
        self.assertIn("unknown model 'gpt'", proc.stderr)

    def test_unreachable_server_exits_1(self):
        proc = subprocess.run([TBMS_BIN, "bench", "--url", "http://127.0.0.1:1", "--models", TALK_MODELS,
                               "--rate", "10"], capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("cannot connect", proc.stderr)



class GrpcBenchTest(unittest.TestCase):
    """--grpc HOST:PORT: the same tries as ModelInfers of model "try", on one channel."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(TALK_SIMULATE, "--grpc-port", "0", *PLANNED)
        cls.grpc = grpc_address(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_a_run_over_grpc_is_complete_and_consistent(self):
        before = tries(self.server)
        code, d, err = bench(self.grpc, "--models", TALK_MODELS, "--tloc", "50", "--cross-request", "1",
                             "--cross-lag", "10", "--rate", "200", "--requests", "300", "--quiet", target="--grpc")
        self.assertEqual(code, 0, err)
        self.assertEqual(d["grpc"], self.grpc)
        self.assertEqual((d["sent"], d["completed"], d["http_errors"], d["transport_errors"]), (300, 300, 0, 0))
        self.assertEqual(tries(self.server) - before, 300)  # each a try of the broker's, not a plain infer
        self.assertGreaterEqual(d["answered_by_tloc_pct"], 75, d)
        self.assertLessEqual(set(d["by_model"]), {"embedding", "svm", "bayes", "keysearch"})
        self.assertEqual(d["latency_ms"]["count"], 300)
        self.assertIn("to gRPC " + self.grpc, err)

    def test_the_wall_time_bound_stops_a_run_over_grpc(self):
        start = time.monotonic()
        code, d, err = bench(self.grpc, "--models", TALK_MODELS, "--rate", "20", "--requests", "100000",
                             "--duration-s", "1", target="--grpc")
        self.assertEqual(code, 0, err)
        self.assertLess(time.monotonic() - start, 10)
        self.assertTrue(d["timed_out"])
        self.assertEqual(d["sent"], d["completed"] + d["transport_errors"] + d["unanswered_bench_timeout"])

    def test_refusals_are_counted_by_their_grpc_code(self):
        code, _, err = bench(self.grpc, "--models", "nope", "--rate", "100", "--requests", "5", target="--grpc")
        self.assertEqual(code, 1)
        self.assertIn("gRPC NOT_FOUND 5", err)
        self.assertIn("no request succeeded (first error: gRPC NOT_FOUND: unknown model 'nope')", err)
        code, _, err = bench("10.1.2.3:8001", "--models", "svm", "--rate", "1", target="--grpc")
        self.assertEqual(code, 2)
        self.assertIn("only targets loopback", err)


if __name__ == "__main__":
    unittest.main()
