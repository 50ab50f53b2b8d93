"""End to end: the report channel. A server over the talk's simulated models
gets a bounded, deterministic mix of tries through the Python client; every
response is logged, and /v1/report, /metrics and `tbms report` must agree
with the log exactly. Needs TBMS_BIN and PYTHONPATH=python (ctest sets both).
"""

import collections
import http.client
import json
import os
import re
import subprocess
import unittest

import tbms
from test_serve import PLANNED, TALK, TBMS_BIN, Server

SIMULATE = "embedding=30,svm=10,bayes=5,keysearch=1"
REASONS = ("predicted_late", "error", "dropped_late", "deadline", "overdue", "infeasible", "unavailable", "overloaded")
PROMTOOL = "/usr/bin/promtool"


def get(port, path):
    """A raw GET; returns (status, content type, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read().decode()
    finally:
        conn.close()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse_metrics(text):
    """Samples of a Prometheus text exposition: [(name, {label: value}, float)]."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            raise AssertionError("not a sample line: %r" % line)
        name, labels_text, value = match.groups()
        labels = {}
        for key, raw in _LABEL.findall(labels_text or ""):
            labels[key] = re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), raw)
        samples.append((name, labels, float(value)))
    return samples


def launched(result):
    """Attempts that were launched: every reported one not skipped."""
    return sum(1 for a in result.attempts if a.state != "skipped")


class ReportChannelTest(unittest.TestCase):
    """The mix, once, in setUpClass; each test checks one output against the log."""

    # (instance, models, tloc, crossRequest, crossLag, count). Order matters:
    # "b" runs first, while svm's service time is still its prior (25 ms), so
    # svm is predicted late every time; "a" hedges with svm and teaches the
    # server svm's real 10 ms.
    MIX = (
        ("b", {"svm": {"est": 25}, "keysearch": {"est": 5}}, 20, 1, 10, 10),
        ("c", {"svm": {"est": 25}, "bayes": {"est": 15}}, 2, 1, 10, 5),
        ("a", TALK, 50, 1, 10, 30),
    )

    @classmethod
    def setUpClass(cls):
        cls.server = Server(SIMULATE, *PLANNED)
        cls.log = []  # (instance, task, TryResult), in order
        try:
            for instance, models, tloc, cross_request, cross_lag, count in cls.MIX:
                task = ">".join(models)
                with tbms.Client(cls.server.endpoint, "e2e", "e2e-key", instance) as client:
                    for i in range(count):  # bounded
                        result = client.try_models(tbms.tbmsList(models), "question %d" % i,
                                                   tloc=tloc, cross_request=cross_request,
                                                   cross_lag=cross_lag)
                        cls.log.append((instance, task, result))
            status, cls.report_type, body = get(cls.server.port, "/v1/report")
            if status != 200:
                raise RuntimeError("/v1/report: HTTP %d %s" % (status, body))
            cls.report = json.loads(body)
            status, cls.metrics_type, cls.metrics = get(cls.server.port, "/metrics")
            if status != 200:
                raise RuntimeError("/metrics: HTTP %d %s" % (status, cls.metrics))
        except BaseException:
            cls.server.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    # -- the log ---------------------------------------------------------

    def by_task(self):
        tasks = collections.defaultdict(list)
        for instance, task, result in self.log:
            tasks[(instance, task)].append(result)
        return tasks

    def test_the_mix_had_the_intended_outcomes(self):
        tasks = self.by_task()
        self.assertEqual(len(self.log), 45)
        for result in tasks[("b", "svm>keysearch")]:
            self.assertEqual(result.model, "keysearch", result.raw)
            self.assertTrue(result.downgraded)
            self.assertEqual(result.reason, "predicted_late")
            self.assertEqual([a.state for a in result.attempts], ["skipped", "succeeded"])
        for result in tasks[("c", "svm>bayes")]:
            self.assertIsNone(result.answer, result.raw)
            self.assertEqual(result.reason, "infeasible")
            self.assertEqual(launched(result), 0)
        talk = tasks[("a", "embedding>svm>bayes>keysearch")]
        self.assertEqual(len(talk), 30)
        # Normally embedding answers at 30 ms with svm hedged at 24; timing on
        # a loaded machine may vary, which the other tests take from the log.
        self.assertTrue(any(r.model == "embedding" for r in talk), [r.raw for r in talk])
        self.assertTrue(any(launched(r) > 1 for r in talk))

    # -- /v1/report ------------------------------------------------------

    def test_report_downgrade_table_matches_the_log(self):
        self.assertTrue(self.report_type.startswith("application/json"), self.report_type)
        rows = {(row["instance"], row["task"]): row for row in self.report["downgrade"]}
        tasks = self.by_task()
        self.assertEqual(set(rows), set(tasks))
        for key, results in tasks.items():
            with self.subTest(task=key):
                row = rows[key]
                tries = len(results)
                self.assertEqual(row["tries"], tries)
                answered = collections.Counter(r.model for r in results if r.answer is not None)
                models = key[1].split(">")
                self.assertEqual([a["model"] for a in row["answered"]], models)
                for rank, entry in enumerate(row["answered"]):
                    self.assertEqual(entry["rank"], rank)
                    self.assertEqual(entry["count"], answered[entry["model"]], entry)
                    self.assertAlmostEqual(entry["pct"], 100 * answered[entry["model"]] / tries,
                                           delta=0.001)
                none = sum(1 for r in results if r.answer is None)
                self.assertEqual(row["no_answer"]["count"], none)
                self.assertAlmostEqual(row["no_answer"]["pct"], 100 * none / tries, delta=0.001)
                reasons = collections.Counter(r.reason for r in results if r.reason)
                self.assertEqual(set(row["reasons"]), set(REASONS))
                for reason in REASONS:
                    self.assertEqual(row["reasons"][reason], reasons[reason], reason)
                extra = sum(max(0, launched(r) - 1) for r in results)
                self.assertEqual(row["extra_attempts"], extra)

    def test_report_lag_windows_hold_every_try(self):
        tasks = self.by_task()
        lag = {(row["instance"], row["task"]): row["windows"] for row in self.report["lag"]}
        self.assertEqual(set(lag), set(tasks))
        for key, windows in lag.items():
            with self.subTest(task=key):
                self.assertIn(len(windows), (1, 2))  # the mix may straddle a window's end
                self.assertEqual(sum(w["count"] for w in windows), len(tasks[key]))
                starts = [w["start"] for w in windows]
                self.assertEqual(starts, sorted(starts, reverse=True))  # newest first
                for w in windows:
                    self.assertRegex(w["start"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
                    self.assertLessEqual(w["p50_ms"], w["p99_ms"])
        # "c" answered at once; "b" within a few ms.
        for w in lag[("c", "svm>bayes")]:
            self.assertLess(w["avg_ms"], 2)

    def test_report_models_and_occupancy(self):
        names = ["bayes", "embedding", "keysearch", "svm"]  # registered in name order
        self.assertEqual([m["model"] for m in self.report["models"]], names)
        self.assertEqual([o["model"] for o in self.report["occupancy"]], names)
        launches = collections.Counter()
        answers = collections.Counter()
        for _, _, result in self.log:
            if result.answer is not None:
                answers[result.model] += 1
            for a in result.attempts:
                if a.state != "skipped":
                    launches[a.model] += 1
        for m in self.report["models"]:
            with self.subTest(model=m["model"]):
                # Every answer ran as an item; every item was a launch (a
                # hedge cancelled while queued never runs).
                self.assertGreaterEqual(m["items"], answers[m["model"]])
                self.assertLessEqual(m["items"], launches[m["model"]])
                self.assertLessEqual(m["batches"], m["items"])
                self.assertEqual(m["errors"], 0)
        for o in self.report["occupancy"]:
            self.assertEqual(o["device"], "cpu")
            self.assertEqual(o["replicas"], 1)
            self.assertGreaterEqual(o["pct"], 0)
            self.assertLessEqual(o["pct"], 100)
        self.assertEqual(self.report["pending_tries"], 0)
        series = self.report["series"]
        self.assertEqual(len(series["t"]), len(series["qps"]))
        self.assertEqual(len(series["t"]), len(series["lag_avg_ms"]))
        self.assertLessEqual(sum(series["qps"]), len(self.log))  # the current second is left out

    # -- /metrics --------------------------------------------------------

    def test_metrics_counters_match_the_log(self):
        self.assertEqual(self.metrics_type, "text/plain; version=0.0.4; charset=utf-8")
        samples = parse_metrics(self.metrics)
        tries, answers, no_answer, downgrades, extra = {}, {}, {}, {}, {}
        for name, labels, value in samples:
            key = (labels.get("instance"), labels.get("task"))
            if name == "tbms_tries_total":
                tries[key] = value
            elif name == "tbms_answers_total":
                answers[key + (labels["model"], int(labels["rank"]))] = value
            elif name == "tbms_no_answer_total":
                no_answer[key + (labels["reason"],)] = value
            elif name == "tbms_downgrades_total":
                downgrades[key + (labels["reason"],)] = value
            elif name == "tbms_extra_attempts_total":
                extra[key] = value
        tasks = self.by_task()
        self.assertEqual(set(tries), set(tasks))
        for key, results in tasks.items():
            with self.subTest(task=key):
                self.assertEqual(tries[key], len(results))
                for rank, model in enumerate(key[1].split(">")):
                    want = sum(1 for r in results if r.answer is not None and r.model == model)
                    self.assertEqual(answers[key + (model, rank)], want, model)
                for reason in REASONS:
                    self.assertEqual(no_answer[key + (reason,)],
                                     sum(1 for r in results if r.answer is None and r.reason == reason))
                    self.assertEqual(downgrades[key + (reason,)],
                                     sum(1 for r in results if r.downgraded and r.reason == reason))
                self.assertEqual(extra[key], sum(max(0, launched(r) - 1) for r in results))
        self.assertEqual(len(answers), sum(len(k[1].split(">")) for k in tasks))

    def test_metrics_pass_promtool(self):
        if not os.path.exists(PROMTOOL):
            self.skipTest("promtool not installed: apt-get install prometheus")
        done = subprocess.run([PROMTOOL, "check", "metrics"], input=self.metrics,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertEqual(done.stdout + done.stderr, "")

    # -- tbms report -----------------------------------------------------

    def test_tbms_report_prints_the_three_tables(self):
        done = subprocess.run([TBMS_BIN, "report", "--url", self.server.endpoint],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 0, done.stderr)
        for title in ("Down Grade %", "Lag time (10 min windows)", "Model resource occupancy %"):
            self.assertIn(title, done.stdout)
        for instance, task in self.by_task():
            self.assertIn("%s @%s" % (task, instance), done.stdout)
        for model in ("embedding", "svm", "bayes", "keysearch"):
            self.assertIn(model, done.stdout)


class ReportMergeTest(unittest.TestCase):
    """`tbms report` with several --url: one set of tables for a fleet —
    tries and answers summed, lag windows merged from their histograms, each
    server's devices its own rows."""

    def test_two_servers_reports_merge_into_one_table(self):
        servers = [Server("fast=2,slow=50"), Server("fast=2,slow=50")]
        try:
            tries = (3, 5)  # per server
            for server, n in zip(servers, tries):
                with server.client() as client:
                    for _ in range(n):
                        r = client.try_models(tbms.tbmsList({"fast": {"est": 2}}), "q", tloc=100)
                        self.assertEqual(r.model, "fast")
            urls = [arg for s in servers for arg in ("--url", s.endpoint)]
            done = subprocess.run([TBMS_BIN, "report", *urls], capture_output=True, text=True, timeout=30)
            self.assertEqual(done.returncode, 0, done.stderr)
            out = done.stdout
            self.assertIn("TBMS report from 2 servers", out)
            self.assertRegex(out, r"(?m)^tries\s+8$")
            self.assertRegex(out, r"(?m)^fast\s+100\.0$")
            self.assertRegex(out, r"(?m)^fast @e2e\s+\S+\s+8\s")  # one lag window, both servers' tries
            for s in servers:
                self.assertIn("%s cpu" % s.endpoint, out)
            # One server's own report still reads as before.
            one = subprocess.run([TBMS_BIN, "report", "--url", servers[0].endpoint],
                                 capture_output=True, text=True, timeout=30)
            self.assertRegex(one.stdout, r"(?m)^tries\s+3$")
            self.assertIn("top model's budget use, p90", one.stdout)
        finally:
            for s in servers:
                s.close()

    def test_one_unreachable_server_fails_the_merge_saying_which(self):
        server = Server("fast=2")
        try:
            done = subprocess.run([TBMS_BIN, "report", "--url", server.endpoint, "--url", "http://127.0.0.1:1"],
                                  capture_output=True, text=True, timeout=30)
            self.assertEqual(done.returncode, 1, done.stdout)
            self.assertIn("http://127.0.0.1:1", done.stderr)
            self.assertNotIn("Down Grade", done.stdout)
        finally:
            server.close()


class ReportCliErrorsTest(unittest.TestCase):

    def test_unreachable_server_exits_1(self):
        done = subprocess.run([TBMS_BIN, "report", "--url", "http://127.0.0.1:1"],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("tbms report", done.stderr)
        self.assertNotIn("Down Grade", done.stdout)


class GpuReadingsTest(unittest.TestCase):
    """With the driver's NVML (here a stand-in with known readings, built
    beside tbms: gpu 0 at 37%, 1 of 80 GiB used), the demo house's gpu0
    shows them in /v1/report, /metrics and tbms report; cpu0 shows none."""

    HOUSE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "house", "demo")
    KEYS = {"TBMS_ADMIN_KEY": "e2e-admin-secret-0123456789", "TBMS_NIANJIANQA_KEY": "e2e-instance-secret-0123456789"}

    def test_gpu0_shows_the_drivers_readings(self):
        fake = os.path.join(os.path.dirname(TBMS_BIN), "libfake_nvml.so")
        admin = ("admin", self.KEYS["TBMS_ADMIN_KEY"])
        server = Server(None, "--house", self.HOUSE, "--nvml-library", fake, env=self.KEYS, key=admin)
        try:
            status, report = server.get("/v1/report")
            self.assertEqual(status, 200, report)
            devices = {d["device"]: d for d in report["devices"]}
            self.assertEqual(devices["gpu0"]["gpu"],
                             {"utilization_pct": 37, "memory_used_bytes": 1 << 30, "memory_total_bytes": 80 << 30})
            self.assertNotIn("gpu", devices["cpu0"])

            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("GET", "/metrics", headers={"Authorization": tbms.authorization_header(*admin, "GET", "/metrics", b"")})
            samples = parse_metrics(conn.getresponse().read().decode())
            conn.close()
            gpu = {(name, labels["device"]): value for name, labels, value in samples
                   if name.startswith("tbms_device_gpu_")}
            self.assertEqual(gpu, {("tbms_device_gpu_utilization_ratio", "gpu0"): 0.37,
                                   ("tbms_device_gpu_memory_used_bytes", "gpu0"): 1 << 30,
                                   ("tbms_device_gpu_memory_total_bytes", "gpu0"): 80 << 30})

            done = subprocess.run([TBMS_BIN, "report", "--url", server.endpoint], capture_output=True, text=True,
                                  timeout=30, env={**os.environ, "TBMS_ACCESS_ID": admin[0], "TBMS_ACCESS_KEY": admin[1]})
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertRegex(done.stdout, r"GPU busy %\s+GPU memory GiB")
            self.assertRegex(done.stdout, r"(?m)^gpu0\s.*\s37\.0\s+1\.0 / 80\.0\s*$")
        finally:
            server.close()


class MetricsOffTest(unittest.TestCase):
    """--metrics off: tries are served, but nothing is counted or exposed."""

    def test_metrics_and_report_are_404(self):
        server = Server("svm=1", "--metrics", "off")
        try:
            with tbms.Client(server.endpoint, "e2e", "e2e-key", "a") as client:
                self.assertEqual(client.try_models({"svm": {"est": 1}}, "q", tloc=50).model, "svm")
            for path in ("/metrics", "/v1/report"):
                status, content_type, body = get(server.port, path)
                self.assertEqual(status, 404, path)
                self.assertTrue(content_type.startswith("application/json"), content_type)
                self.assertIn("error", json.loads(body))
            done = subprocess.run([TBMS_BIN, "report", "--url", server.endpoint],
                                  capture_output=True, text=True, timeout=30)
            self.assertEqual(done.returncode, 1)
            self.assertIn("404", done.stderr)
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main()
