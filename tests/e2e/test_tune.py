"""End to end: `tbms tune` from the command line — simulated models and a
built house's real backends profiled, the recommendation as a table and as
JSON (the keys issue 16 names), the model.toml patch (read back as TOML with
the house's key names), the plots as SVG (parsed as XML) and PNG, goals that
cannot be met (exit 1), and bad flags refused with a message and exit 2.
Needs TBMS_BIN (ctest sets it)."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
import unittest
import xml.etree.ElementTree as ET

from test_serve import TBMS_BIN, read_line


def tune(*args, timeout=120):
    return subprocess.run([TBMS_BIN, "tune", *args], capture_output=True, text=True, timeout=timeout)


class TuneSimulated(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="tbms-tune-")
        self.addCleanup(shutil.rmtree, self.out, ignore_errors=True)

    def test_json_names_the_recommendation(self):
        # T_b = 10 + 2 (b - 1): one replica needs batch 12 for 300 QPS and lags 50 ms;
        # two replicas at batch 3 lag 14 + 6.7 ms.
        p = tune("--simulate", "svm=10:2", "--qps", "300", "--lag-ms", "40", "--json", "--out", self.out)
        self.assertEqual(p.returncode, 0, p.stderr)
        r = json.loads(p.stdout)
        self.assertTrue(r["met"])
        self.assertTrue(r["needs_more_replicas"])
        self.assertEqual((r["max_batch_size"], r["instances"]), (3, 2))
        self.assertAlmostEqual(r["max_queue_delay_ms"], 2 * 1000 / 150, places=2)
        self.assertAlmostEqual(r["predicted_lag_ms"], 14 + 1000 / 150, places=2)
        self.assertAlmostEqual(r["qps_max"], 2 * 3 * 1000 / 14, places=2)
        self.assertEqual(r["curve"], [10 + 2 * b for b in range(16)])
        self.assertEqual(len(r["one_replica"]), 16)
        self.assertEqual(r["check"]["refused"], 0)
        self.assertLess(abs(r["check"]["mean_lag_ms"] - r["predicted_lag_ms"]), 0.25 * r["predicted_lag_ms"])

    def test_writes_a_patch_the_house_reads_and_the_plots(self):
        p = tune("--simulate", "svm=10:2", "--qps", "300", "--lag-ms", "40", "--out", self.out, "--quiet")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        folder = os.path.join(self.out, "svm")
        with open(os.path.join(folder, "model.toml.patch"), "rb") as f:
            patch = tomllib.load(f)
        self.assertEqual(patch, {"replicas": 2, "batching": {"max_batch_size": 3, "max_queue_delay_ms": 13.33}})
        for name in ("qps_lag", "replicas_lag", "occupancy", "cost"):
            root = ET.parse(os.path.join(folder, name + ".svg")).getroot()
            self.assertTrue(root.tag.endswith("svg"), name)
            if shutil.which("rsvg-convert"):
                with open(os.path.join(folder, name + ".png"), "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        # The patch's keys are the house's: a simulated model with them passes the check.
        house = tempfile.mkdtemp(prefix="tbms-house-")
        self.addCleanup(shutil.rmtree, house, ignore_errors=True)
        os.makedirs(os.path.join(house, "svm", "1"))
        with open(os.path.join(house, "svm", "model.toml"), "w") as f:
            f.write('backend = "simulated"\nest = 10\n')
            with open(os.path.join(folder, "model.toml.patch")) as p_in:
                f.write(p_in.read())
        with open(os.path.join(house, "svm", "1", "simulated.toml"), "w") as f:
            f.write("base_ms = 8\nper_item_ms = 2\n")
        check = subprocess.run([TBMS_BIN, "house", "check", house], capture_output=True, text=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_the_table_explains_the_more_replicas_case(self):
        p = tune("--simulate", "svm=10:2", "--qps", "300", "--lag-ms", "40", "--out", "", "--quiet")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("recommended: max_batch_size 3, max_queue_delay_ms 13.33, replicas 2", p.stdout)
        self.assertIn("no batch size meets both on one replica: batch 12 carries 300 QPS but lags 50.3 ms",
                      p.stdout)
        self.assertIn("check (the real batcher on a virtual clock", p.stdout)

    def test_several_models_give_a_list(self):
        p = tune("--simulate", "svm=10:2,bayes=5", "--qps", "100", "--lag-ms", "30", "--json", "--out", "",
                 "--quiet", "--check-requests", "0")
        self.assertEqual(p.returncode, 0, p.stderr)
        models = json.loads(p.stdout)["models"]
        self.assertEqual([m["model"] for m in models], ["svm", "bayes"])
        self.assertNotIn("check", models[0])

    def test_a_goal_that_cannot_be_met_exits_1_with_the_closest(self):
        p = tune("--simulate", "svm=10:2", "--qps", "300", "--lag-ms", "5", "--out", "", "--quiet")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("NOT MET, closest: max_batch_size 1", p.stdout)
        self.assertIn("one item alone takes 10.0 ms", p.stdout)

    def test_progress_goes_to_stderr(self):
        p = tune("--simulate", "svm=10:2", "--qps", "30", "--lag-ms", "40", "--out", "", "--max-batch", "5")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("profiling svm on simulated: batch 1/5", p.stderr)
        self.assertIn("batch 5/5", p.stderr)

    def test_the_online_ramp_compares_the_tuner_with_fixed_batching(self):
        p = tune("--simulate", "embedding=35:1", "--qps", "200", "--lag-ms", "100", "--out", "", "--quiet",
                 "--check-requests", "0", "--online-ramp", "0.1:1:4", "--step-s", "5", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        ramp = json.loads(p.stdout)["online_ramp"]
        self.assertEqual([round(s["qps"]) for s in ramp], [20, 80, 140, 200, 140, 80, 20])
        for step in ramp:
            self.assertEqual(set(step), {"qps", "online", "tuned@200", "greedy"})
            self.assertLessEqual(step["online"]["p99_ms"], 100, step)
        table = tune("--simulate", "embedding=35:1", "--qps", "200", "--lag-ms", "100", "--out", "", "--quiet",
                     "--online-ramp", "0.1:1:4", "--step-s", "5")
        self.assertIn("online ramp (virtual clock, 5.0 s per step, 1 replica(s), lag target 100.0 ms)", table.stdout)
        self.assertIn("steps over the target: online 0/7", table.stdout)

    def test_bad_flags_exit_2_with_a_message(self):
        cases = [
            ((), "--qps is required"),
            (("--qps", "10", "--lag-ms", "5"), "give --simulate or --house"),
            (("--simulate", "m=5", "--house", ".", "--qps", "10", "--lag-ms", "5"), "give --simulate or --house"),
            (("--simulate", "m=5", "--qps", "10"), "--simulate needs --lag-ms"),
            (("--simulate", "m=5", "--model", "m", "--qps", "10", "--lag-ms", "5"), "--model names a model of --house"),
            (("--simulate", "m=x", "--qps", "10", "--lag-ms", "5"), "--simulate"),
            (("--simulate", "m=5", "--qps", "0", "--lag-ms", "5"), "--qps"),
            (("--simulate", "m=5", "--qps", "10", "--lag-ms", "5", "--max-occupancy", "0"), "--max-occupancy"),
            (("--simulate", "m=5", "--qps", "10", "--lag-ms", "5", "--max-batch", "0"), "--max-batch"),
            (("--simulate", "m=5", "--qps", "10", "--lag-ms", "5", "--max-replicas", "5000"), "--max-replicas"),
            (("--house", "/nonexistent/house", "--qps", "10", "--lag-ms", "5"), "/nonexistent/house"),
            (("--simulate", "m=5", "--qps", "10", "--lag-ms", "5", "--online-ramp", "1:0.5:3"), "0 < FROM < TO"),
            (("--simulate", "m=5", "--qps", "10", "--lag-ms", "5", "--online-ramp", "0.1:1"), "FROM:TO:STEPS"),
            (("--simulate", "m=5", "--qps", "10", "--lag-ms", "5", "--step-s", "0"), "--step-s"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                p = tune(*args)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn(message, p.stderr)


class TuneHouse(unittest.TestCase):
    """A built house's real backends, profiled on this machine's CPU."""

    @classmethod
    def setUpClass(cls):
        cls.house = tempfile.mkdtemp(prefix="tbms-tune-house-")
        build = subprocess.run([TBMS_BIN, "house", "build", "--out", cls.house, "--limit", "2000"],
                               capture_output=True, text=True, timeout=300)
        if build.returncode != 0:
            raise RuntimeError("house build failed: " + build.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.house, ignore_errors=True)

    def test_a_real_backend_is_profiled_and_tuned(self):
        p = tune("--house", self.house, "--model", "keysearch", "--qps", "50", "--lag-ms", "50",
                 "--max-batch", "4", "--repeats", "3", "--json", "--out", "")
        self.assertIn(p.returncode, (0, 1), p.stderr)
        r = json.loads(p.stdout)
        self.assertEqual(r["model"], "keysearch")
        self.assertEqual(r["device"], "cpu")
        self.assertEqual(len(r["curve"]), 4)
        self.assertTrue(all(ms > 0 for ms in r["curve"]))
        self.assertIn("profiling keysearch on cpu", p.stderr)

    def test_a_real_backend_warms_up_before_it_serves(self):
        # [warmup] runs batches of each size on the real keysearch before the
        # server listens, and the load log says how many.
        house = tempfile.mkdtemp(prefix="tbms-warmup-house-")
        self.addCleanup(shutil.rmtree, house, ignore_errors=True)
        shutil.copytree(self.house, house, dirs_exist_ok=True)
        with open(os.path.join(house, "keysearch", "model.toml"), "a") as f:
            f.write("\n[warmup]\ncount = 8\n")
        keys = {"TBMS_ADMIN_KEY": "warmup-admin-secret-0123", "TBMS_NIANJIANQA_KEY": "warmup-instance-secret-0123"}
        server = subprocess.Popen([TBMS_BIN, "serve", "--house", house, "--port", "0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env={**os.environ, **keys})
        try:
            listening = read_line(server.stdout)
        finally:
            server.terminate()
            _, log = server.communicate(timeout=30)
        self.assertIn("serving", listening, log)
        # Every size up to 32, then the sizes each class's window keeps (WarmupSizes).
        match = re.search(r"loaded model 'keysearch' version 1, warmed up on (\d+) batches "
                          r"\((?:sizes 1-(\d+)|(\d+) sizes from 1 to (\d+))\)", log)
        self.assertIsNotNone(match, log)
        sizes = int(match.group(2) or match.group(3))
        self.assertEqual(int(match.group(1)), 9 * sizes)  # each size: one run, then 8 timed
        # A real model's warm-up takes real time: a line says so as it begins.
        starts = "warming up model 'keysearch' version 1: " + (
            "batch sizes 1-%d" % sizes if match.group(2) else "%d batch sizes from 1 to %s" % (sizes, match.group(4)))
        starts += ", 9 runs each"
        self.assertLess(log.index(starts), match.start(), log)
        self.assertNotIn("loaded model 'bayes' version 1, warmed", log)

    def test_house_errors_are_named(self):
        p = tune("--house", self.house, "--model", "nosuch", "--qps", "5", "--lag-ms", "50")
        self.assertEqual(p.returncode, 2)
        self.assertIn("the house has no model 'nosuch'", p.stderr)
        p = tune("--house", self.house, "--model", "mix1", "--qps", "5", "--lag-ms", "50")
        self.assertEqual(p.returncode, 2)
        self.assertIn("is a mix", p.stderr)
        p = tune("--house", self.house, "--model", "keysearch", "--qps", "5")
        self.assertEqual(p.returncode, 2)
        self.assertIn("has no lag_target_ms: give --lag-ms", p.stderr)


if __name__ == "__main__":
    unittest.main()
