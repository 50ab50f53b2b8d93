"""End to end: the demo pipeline on a small WordNet subset — `tbms house
build` trains the four real text models, the house passes `tbms house check`,
`tbms serve` loads it, and the talk's client example runs against it. Bad
questions and corrupt artifacts get clear errors. Needs TBMS_BIN and
PYTHONPATH=python (ctest sets both) and Debian's wordnet-base."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import tbms
from test_serve import Server, TBMS_BIN

# The built house's keys come from the environment (tbms house build writes
# secret_env names; ./scripts/run fills them from build/keys/).
KEYS = {"TBMS_NIANJIANQA_KEY": "demo-instance-secret-0123456789", "TBMS_ADMIN_KEY": "demo-admin-secret-0123456789"}
TALK = {"embedding": {"est": 35}, "svm": {"est": 25}, "bayes": {"est": 15}, "keysearch": {"est": 5}}
MODELS = ["keysearch", "bayes", "svm", "embedding"]


class DemoPipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="tbms-demo-")
        cls.house = os.path.join(cls.root, "house")
        cls.build = subprocess.run([TBMS_BIN, "house", "build", "--out", cls.house, "--limit", "4000"],
                                   capture_output=True, text=True, timeout=300)
        if cls.build.returncode != 0:
            raise RuntimeError("house build failed: " + cls.build.stderr)
        cls.server = Server(None, "--house", cls.house, env=KEYS,
                            key=("nianjianQA", KEYS["TBMS_NIANJIANQA_KEY"]))

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_build_reports_progress_and_a_quality_table(self):
        for i, name in enumerate(MODELS, 1):
            self.assertIn("[%d/4] %s: training..." % (i, name), self.build.stdout)
        with open(os.path.join(self.house, "quality.md"), encoding="utf-8") as f:
            rows = [line for line in f if line.startswith("| ") and not line.startswith("| model")]
        top1 = {row.split("|")[1].strip(): float(row.split("|")[2]) for row in rows}
        self.assertEqual(sorted(top1), sorted(MODELS))
        for name, accuracy in top1.items():
            self.assertGreater(accuracy, 1 / 45, name)  # better than chance over 45 categories
        with open(os.path.join(self.house, "instances.toml"), encoding="utf-8") as f:
            ranked = re.search(r"models = \[(.*)\]", f.read()).group(1).replace('"', "").split(", ")
        self.assertEqual(ranked, sorted(MODELS, key=lambda m: -top1[m]))
        check = subprocess.run([TBMS_BIN, "house", "check", self.house], capture_output=True, text=True,
                               env={**os.environ, **KEYS})
        self.assertEqual(check.returncode, 0, check.stderr)

    def test_the_talks_example_runs_unchanged(self):
        client = tbms.tbmsClient(self.server.endpoint, "nianjianQA", KEYS["TBMS_NIANJIANQA_KEY"], "nianjianQA")
        models = tbms.tbmsList(TALK)
        question = "a domesticated carnivorous mammal that barks"
        answer = tbms.tbmsTry(client, models, question, tloc=500, crossRequest=1, crossLag=10, priority=0)
        self.assertIsInstance(answer, dict)
        self.assertRegex(answer["answer"], r"^(noun|verb|adj|adv)\.")
        mixes = tbms.tbmsMixList({"mix1": [{"embedding": {"est": 35}}, {"svm": {"est": 25}}, {"mix": "max"}],
                                  "mix2": [{"bayes": {"est": 15}}, {"keysearch": {"est": 5}}, {"mix": "avg"}]})
        answer = tbms.tbmsMixTry(client, mixes, question, tloc=500, crossRequest=1, crossLag=10)
        self.assertRegex(answer["answer"], r"^(noun|verb|adj|adv)\.")
        result = client.try_task("qa", question, tloc=500)
        self.assertTrue(result.ok, result.raw)
        client.close()

    def test_bad_questions_get_clear_errors(self):
        status, got = self.server.post("/v1/instances/nianjianQA/try",
                                       {"inputs": {"question": ""}, "task": "qa"})
        self.assertEqual((status, got["error"]), (400, "inputs.question must not be empty"))
        status, got = self.server.post("/v1/instances/nianjianQA/try",
                                       b'{"inputs": {"question": "\xff"}, "task": "qa"}')
        self.assertEqual(status, 400)
        self.assertIn("malformed JSON", got["error"])
        status, got = self.server.post("/v1/instances/nianjianQA/try",
                                       {"inputs": {"question": "x" * 70000}, "task": "qa"})
        self.assertEqual((status, got["error"]), (400, "inputs.question is longer than 65536 bytes"))
        status, got = self.server.post("/v1/instances/nianjianQA/try",
                                       {"inputs": {"question": "q"}, "models": [{"name": "gpt"}], "tloc": 50})
        self.assertEqual((status, got["error"]), (404, "unknown model 'gpt'"))

    def test_corrupt_and_missing_artifacts_are_refused(self):
        for model, artifact in (("bayes", "bayes.model"), ("svm", "features.txt"), ("embedding", "vectors.f32")):
            with self.subTest(model=model):
                broken = os.path.join(self.root, "broken-" + model)
                shutil.copytree(self.house, broken)
                with open(os.path.join(broken, model, "1", artifact), "r+b") as f:
                    f.truncate(7)
                got = subprocess.run([TBMS_BIN, "serve", "--port", "0", "--house", broken],
                                     capture_output=True, text=True, timeout=60, env={**os.environ, **KEYS})
                self.assertEqual(got.returncode, 1)
                self.assertIn(artifact, got.stderr)
                os.remove(os.path.join(broken, model, "1", artifact))
                got = subprocess.run([TBMS_BIN, "house", "check", broken], capture_output=True, text=True,
                                     env={**os.environ, **KEYS})
                self.assertEqual(got.returncode, 1)
                self.assertIn("missing artifact", got.stderr)
                shutil.rmtree(broken)


if __name__ == "__main__":
    unittest.main()
