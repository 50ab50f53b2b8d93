"""End to end: `tbms sim` from the command line — the Kubernetes topology
(--brokers x --workers, --local models, --hop-ms), the load ramp with the
autoscaling signal (--ramp, --hpa-target) as a table and as JSON, and bad
flags refused with a message and exit 2. Needs TBMS_BIN (ctest sets it)."""

import json
import os
import subprocess
import unittest

TBMS_BIN = os.environ.get("TBMS_BIN", "build/tbms")
# The deploy/k8s shape, small enough to run in a blink: keysearch on the brokers.
TOPOLOGY = ["--workers", "3", "--brokers", "2", "--local", "keysearch", "--replicas", "4,2,2,1",
            "--jitter", "none", "--quiet", "--tloc", "80"]


def sim(*args):
    return subprocess.run([TBMS_BIN, "sim", *args], capture_output=True, text=True, timeout=120)


class SimTopology(unittest.TestCase):
    def test_a_topology_run_reports_brokers_workers_and_the_signal(self):
        p = sim(*TOPOLOGY, "--requests", "3000", "--rate", "100", "--json", "--no-bound")
        self.assertEqual(p.returncode, 0, p.stderr)
        r = json.loads(p.stdout)
        self.assertEqual((r["servers"], r["workers"]), (2, 3))
        self.assertEqual(r["gpus"], 3 * 8 + 2)
        self.assertEqual(r["answered_by_tloc_pct"], 100)
        self.assertGreater(r["top_model_pct"], 99)
        self.assertLess(r["budget_use_p90"], 0.7)  # idle: 36 of 80 ms

    def test_the_table_names_the_topology(self):
        p = sim(*TOPOLOGY, "--requests", "2000", "--rate", "100", "--hop-ms", "2")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("2 broker(s) (round-robin) x 3 worker(s)", p.stdout)
        self.assertIn("per worker: embedding 4, svm 2, bayes 2; per broker: keysearch 1", p.stdout)
        self.assertIn("hop 2.00 ms", p.stdout)
        self.assertIn("autoscaling signal p90", p.stdout)


class SimRamp(unittest.TestCase):
    def test_the_ramp_shows_the_signal_before_the_answers_fall(self):
        p = sim(*TOPOLOGY, "--requests", "5000", "--ramp", "0.1:0.4:4", "--hpa-target", "0.65", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        r = json.loads(p.stdout)
        self.assertEqual([s["load"] for s in r["steps"]], [0.1, 0.2, 0.3, 0.4])
        signal = [s["budget_use_p90"] for s in r["steps"]]
        self.assertLess(signal[0], signal[-1])
        self.assertTrue(r["warns_first"])
        self.assertLess(r["signal_step"], r["answers_step"])
        self.assertGreater(r["steps"][r["signal_step"]]["hpa_wants"], 3)

    def test_the_ramp_table_gives_a_verdict_and_a_target(self):
        p = sim(*TOPOLOGY, "--requests", "5000", "--ramp", "0.1:0.4:4")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("signal p90  HPA wants", p.stdout)
        self.assertIn("the signal does NOT warn first", p.stdout)  # 0.9 is too late for this fleet
        self.assertRegex(p.stdout, r"a target of at most 0\.\d{3} scales up before the answers fall")


class SimFlags(unittest.TestCase):
    def test_servers_warm_up_as_the_demo_house_unless_told(self):
        for flags, says in (([], "warm-up 8"), (["--warmup", "0"], "warm-up 0")):
            p = sim("--requests", "200", "--gpus", "8", "--quiet", "--no-bound", *flags)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("hedge at_risk, " + says + "\n", p.stdout)

    def test_gpus_and_servers_together_size_each_server(self):
        p = sim("--gpus", "64", "--servers", "1", "--requests", "1000", "--quiet", "--no-bound", "--warmup", "0")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("fleet: 1 server(s) x 64 GPUs = 64 GPUs", p.stdout)  # pooled, not 8 of them
        p = sim("--gpus", "64", "--servers", "4", "--requests", "1000", "--quiet", "--no-bound", "--warmup", "0")
        self.assertIn("fleet: 4 server(s) x 16 GPUs = 64 GPUs", p.stdout)

    def test_bad_flags_are_refused(self):
        cases = [
            (["--workers", "2", "--gpus", "64"], "--brokers x --workers"),
            (["--workers", "2", "--servers", "4"], "--brokers x --workers"),
            (["--local", "keysearch"], "--local needs --workers"),
            (["--workers", "2", "--local", "nosuch"], "no model named 'nosuch'"),
            (["--workers", "2", "--local", "embedding,svm,bayes,keysearch"], "at least one model must run on them"),
            (["--ramp", "0.5:0.1:3"], "0 < FROM < TO"),
            (["--ramp", "0.1:0.5"], "FROM:TO:STEPS"),
            (["--ramp", "0.1:0.5:x"], "bad number"),
            (["--ramp", "0.1:0.5:3", "--rate", "100"], "--ramp sets the load of each step: leave out --rate"),
            (["--ramp", "0.1:0.5:3", "--load", "2"], "leave out --load"),
            (["--hpa-target", "0.5"], "--hpa-target applies to --ramp"),
            (["--hop-ms", "5"], "--hop-ms applies to --workers"),
            (["--brokers", "3"], "--brokers applies to --workers"),
            (["--gpus", "16", "--servers", "2", "--gpus-per-server", "4"], "leave out --gpus-per-server"),
            (["--replicas", "4,2,1,1", "--gpus-per-server", "16"], "leave out --gpus-per-server"),
            (["--gpus", "8", "--servers", "100"], "--gpus 8 is fewer than --servers"),
            (["--rate", "nan"], "--rate: 'nan' is not a finite number"),
            (["--seed", "-1"], "--seed: '-1' must not be negative"),
            (["--models", "a=0"], "--load 1.00 x a's capacity comes to inf requests per second"),
            (["--hop-ms", "-1"], "--hop-ms"),
            (["--warmup", "3"], "--warmup must be 0 or 8 to 100, not 3: a batch size is planned on its own times"),
            (["--warmup", "101"], "--warmup must be 0 or 8 to 100, not 101"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                p = sim("--requests", "10", "--quiet", *args)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn(message, p.stderr)


if __name__ == "__main__":
    unittest.main()
