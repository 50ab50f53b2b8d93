"""End to end: `tbms serve --house DIR` — tasks, mixes, versions and A/B,
hot reload under traffic (poll and explicit), the repository API, the
KServe v2 REST API with tensors of every datatype, and `tbms house check`.
Needs TBMS_BIN and PYTHONPATH=python (ctest sets both)."""

import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.request
import time
import unittest

import tbms
from test_serve import Server, TBMS_BIN

DATATYPES = {
    "BOOL": [[True, False, True], [False, False, True]],
    "UINT8": [[0, 1, 255], [7, 8, 9]],
    "UINT16": [[0, 65535, 2], [3, 4, 5]],
    "UINT32": [[0, 4294967295, 2], [3, 4, 5]],
    "UINT64": [[0, 18446744073709551615, 2], [3, 4, 5]],
    "INT8": [[-128, 127, 0], [1, 2, 3]],
    "INT16": [[-32768, 32767, 0], [1, 2, 3]],
    "INT32": [[-2147483648, 2147483647, 0], [1, 2, 3]],
    "INT64": [[-9223372036854775808, 9223372036854775807, 0], [1, 2, 3]],
    "FP16": [[0.5, -2.0, 65504.0], [1.0, 0.25, 0.0]],
    "FP32": [[0.5, -2.5, 3.25], [1e-3, 1e30, 0.0]],
    "FP64": [[0.1, -2.5, 1e300], [5e-324, 1.0, 0.0]],
    "BYTES": [["a", "bc", ""], ["ü", "x y", "z"]],
}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def simulated_model(house, name, est, versions, extra=""):
    """A simulated model with `versions` = {number: simulated.toml text}."""
    write(os.path.join(house, name, "model.toml"),
          'backend = "simulated"\nest = %s\n%s' % (est, extra))
    for number, text in versions.items():
        write(os.path.join(house, name, str(number), "simulated.toml"), text)


def make_house(root):
    house = os.path.join(root, "house")
    simulated_model(house, "svm", 25, {1: "base_ms = 4\nscore = 0.8\n"})
    simulated_model(house, "bayes", 15, {1: "base_ms = 2\nscore = 0.6\n"})
    write(os.path.join(house, "mix1", "model.toml"),
          'backend = "mix"\nmembers = ["svm", "bayes"]\naggregator = "max"\n')
    write(os.path.join(house, "instances.toml"),
          '[instances.nianjianQA.tasks.qa]\nmodels = ["svm", "bayes"]\ntloc = 200\n'
          'crossRequest = 1\ncrossLag = 10\n'
          '[instances.limited]\nmax_rps = 0.5\n')
    return house


def answer_of(result):
    answer = result["answer"]
    return answer if isinstance(answer, dict) else {"answer": answer}


class HouseTest(unittest.TestCase):
    """Poll mode: tasks, mixes, versions and A/B, and reloads under traffic."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tbms-house-")
        self.house = make_house(self.root)
        self.server = Server(None, "--house", self.house, "--model-control", "poll",
                             "--poll-interval-s", "0.1")

    def tearDown(self):
        self.server.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def try_(self, body, instance="nianjianQA"):
        return self.server.post("/v1/instances/%s/try" % instance, body)

    def test_a_task_names_the_candidates_and_their_defaults(self):
        status, got = self.try_({"inputs": {"question": "q"}, "task": "qa"})
        self.assertEqual(status, 200, got)
        self.assertEqual(got["model"], "svm")
        self.assertEqual(got["version"], "1")
        self.assertEqual(answer_of(got)["score"], 0.8)
        status, got = self.try_({"inputs": {"question": "q"}, "task": "chat"})
        self.assertEqual((status, got["error"]), (404, "instance 'nianjianQA' has no task 'chat'"))
        status, got = self.try_({"inputs": {"question": "q"}, "task": "qa"}, instance="other")
        self.assertEqual((status, got["error"]), (404, "unknown instance 'other'"))

    def test_house_and_ad_hoc_mixes(self):
        status, got = self.try_({"inputs": {"question": "q"}, "models": [{"name": "mix1"}], "tloc": 200})
        self.assertEqual(status, 200, got)
        self.assertEqual(got["model"], "mix1")
        self.assertEqual(answer_of(got)["score"], 0.8)  # max
        client = tbms.tbmsClient(self.server.endpoint, "e2e", "e2e-key", "nianjianQA")
        mixes = tbms.tbmsMixList({"fast": [{"svm": {"est": 25}}, {"bayes": {"est": 15}}, {"mix": "avg"}]})
        answer = tbms.tbmsMixTry(client, mixes, "what?", tloc=200, crossRequest=1, crossLag=10)
        self.assertAlmostEqual(answer["score"], 0.7)  # avg of 0.8 and 0.6
        self.assertIn("svm answer to: what?", answer["answer"])  # the better-ranked member's text
        client.close()

    def wait_for(self, predicate, what, timeout_s=10):
        """Polls for an event of the real server (a reload of real files: no
        virtual clock reaches it); the outcome is asserted, not the timing."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        self.fail("timed out waiting for " + what)

    def index(self):
        status, got = self.server.post("/v2/repository/index", "")
        self.assertEqual(status, 200)
        return {(m["name"], m.get("version")): m for m in got}

    def test_versions_swap_under_traffic_and_no_request_fails(self):
        seen, failures, stop = [], [], threading.Event()

        def traffic():
            for _ in range(5000):  # bounded in count, and by the test's own steps
                if stop.is_set():
                    return
                status, got = self.try_({"inputs": {"question": "q"}, "models": [{"name": "svm"}],
                                         "tloc": 500})
                if status != 200 or got["answer"] is None:
                    failures.append((status, got))
                else:
                    seen.append(got["version"])

        thread = threading.Thread(target=traffic)
        thread.start()
        try:
            svm = os.path.join(self.house, "svm")
            # A new version: the default policy serves the latest only.
            write(os.path.join(svm, "2", "simulated.toml"), "base_ms = 3\nscore = 0.9\n")
            self.wait_for(lambda: seen and seen[-1] == "2", "version 2 to serve")
            # An A/B split between both.
            write(os.path.join(svm, "model.toml"), 'backend = "simulated"\nest = 25\n'
                  '[version_policy]\nall = true\n[weights]\n1 = 50\n2 = 50\n')
            mark = len(seen)
            self.wait_for(lambda: {"1", "2"} <= set(seen[mark:]), "both versions to serve")
            # A broken version: the others keep serving, the index says why.
            write(os.path.join(svm, "3", "simulated.toml"), "base_ms = oops\n")
            self.wait_for(lambda: self.index().get(("svm", "3"), {}).get("state") == "UNAVAILABLE",
                          "version 3 to be reported")
            mark = len(seen)
            self.wait_for(lambda: len(seen) > mark + 50, "traffic after the failed load")
        finally:
            stop.set()
            thread.join(timeout=30)
        self.assertEqual(failures, [])
        self.assertNotIn("3", seen)
        tail = seen[-100:]
        self.assertTrue(35 <= tail.count("1") <= 65, tail)  # a 50/50 split
        v3 = self.index()[("svm", "3")]
        self.assertIn("simulated.toml", v3["reason"])
        self.assertEqual(self.index()[("svm", "2")]["state"], "READY")
        # Each version is counted apart in the metrics.
        with urllib.request.urlopen(self.server.endpoint + "/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
        items = {}
        for version in ("1", "2"):
            match = re.search(r'tbms_batch_items_total\{model="svm",version="%s"[^}]*\} (\d+)' % version, metrics)
            self.assertIsNotNone(match, version)
            items[version] = int(match.group(1))
        self.assertGreater(items["1"], 0)
        self.assertGreater(items["2"], 0)

    def test_an_instance_over_its_quota_gets_429_and_retry_after(self):
        body = json.dumps({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 200})
        statuses = []
        for _ in range(2):  # the bucket holds one request; the next is 2 s away
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
            conn.request("POST", "/v1/instances/limited/try", body=body)
            resp = conn.getresponse()
            statuses.append((resp.status, resp.getheader("Retry-After"), json.loads(resp.read())))
            conn.close()
        self.assertEqual(statuses[0][0], 200, statuses)
        status, retry_after, got = statuses[1]
        self.assertEqual((status, retry_after), (429, "2"))
        self.assertEqual(got["error"], "instance 'limited' is over its max_rps of 0.5 requests per second")
        # Other instances are not limited by it.
        self.assertEqual(self.try_({"inputs": {"question": "q"}, "task": "qa"})[0], 200)

    def test_load_api_needs_explicit_mode(self):
        status, got = self.server.post("/v2/repository/models/svm/load", "")
        self.assertEqual(status, 400)
        self.assertIn("--model-control explicit", got["error"])


class ExplicitControlTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tbms-house-")
        self.house = make_house(self.root)
        self.server = Server(None, "--house", self.house, "--model-control", "explicit")

    def tearDown(self):
        self.server.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def try_svm(self):
        return self.server.post("/v1/instances/nianjianQA/try",
                                {"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 200})

    def test_unload_load_and_a_failed_load(self):
        self.assertEqual(self.server.post("/v2/repository/models/svm/unload", "")[0], 200)
        status, got = self.try_svm()  # known, not served: no answer, and why
        self.assertEqual((status, got["answer"], got["reason"]), (200, None, "unavailable"))
        self.assertEqual([a["state"] for a in got["attempts"]], ["unavailable"])
        status, got = self.server.get("/v2/models/svm/ready")
        self.assertEqual(status, 400)
        self.assertEqual(self.server.post("/v2/repository/models/svm/load", "")[0], 200)
        self.assertEqual(self.try_svm()[0], 200)
        # A change that does not load leaves version 1 serving.
        write(os.path.join(self.house, "svm", "1", "simulated.toml"), "base_ms = -1\n")
        status, got = self.server.post("/v2/repository/models/svm/load", "")
        self.assertEqual(status, 400, got)
        self.assertIn("simulated.toml:1", got["error"])
        status, got = self.try_svm()
        self.assertEqual((status, got["version"]), (200, "1"))
        status, got = self.server.post("/v2/repository/models/nothere/load", "")
        self.assertEqual((status, got["error"]), (404, "the house has no model 'nothere'"))
        self.assertEqual(self.server.post("/v2/repository/models/svm/fold", "")[0], 404)
        self.assertEqual(self.server.get("/v2/repository/models/svm/load")[0], 405)
        # The body: none, {} or empty parameters; a model loads from its folder, not from overrides.
        self.assertEqual(self.server.post("/v2/repository/models/bayes/load", {"parameters": {}})[0], 200)
        for body, message in (("garbage", "malformed JSON"),
                              ({"parameters": {"config": "{}"}}, "parameters are not supported"),
                              ({"params": {}}, "unknown field 'params'")):
            status, got = self.server.post("/v2/repository/models/bayes/load", body)
            self.assertEqual(status, 400, got)
            self.assertIn(message, got["error"])

    def test_loading_one_model_leaves_the_others_index_entries_alone(self):
        for _ in range(3):
            self.assertEqual(self.server.post("/v2/repository/models/svm/load", "")[0], 200)
        status, index = self.server.post("/v2/repository/index", "")
        self.assertEqual(status, 200)
        names = [(m["name"], m.get("version", "")) for m in index]
        self.assertEqual(len(names), len(set(names)), index)  # one entry per model and version
        self.assertTrue(all("reload failed" not in m.get("reason", "") for m in index), index)


class KServeV2Test(unittest.TestCase):
    """The Open Inference Protocol's REST API, from the public specification."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="tbms-house-")
        house = make_house(cls.root)
        for datatype in DATATYPES:  # identity models: what goes in comes out
            spec = '[[inputs]]\nname = "x"\ndatatype = "%s"\nshape = [-1, -1]\n' \
                   '[[outputs]]\nname = "y"\ndatatype = "%s"\nshape = [-1, -1]\n' % (datatype, datatype)
            simulated_model(house, "echo_" + datatype.lower(), 1, {1: "base_ms = 0\necho = true\n"}, spec)
        simulated_model(house, "labelled", 1, {1: "base_ms = 0\n"}, 'labels = { team = "search", tier = "2" }\n')
        cls.server = Server(None, "--house", house)

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_server_metadata_and_health(self):
        status, got = self.server.get("/v2")
        self.assertEqual(status, 200)
        self.assertEqual(got["name"], "tbms")
        self.assertIn("model_repository", got["extensions"])
        self.assertEqual(self.server.get("/v2/health/live")[0], 200)
        self.assertEqual(self.server.get("/v2/health/ready")[0], 200)

    def test_model_metadata_and_readiness(self):
        status, got = self.server.get("/v2/models/svm")
        self.assertEqual(status, 200)
        self.assertEqual(got["name"], "svm")
        self.assertEqual(got["versions"], ["1"])
        self.assertEqual(got["inputs"], [{"name": "question", "datatype": "BYTES", "shape": [1]}])
        self.assertEqual(self.server.get("/v2/models/svm/versions/1")[1]["versions"], ["1"])
        self.assertEqual(self.server.get("/v2/models/svm/ready")[0], 200)
        self.assertEqual(self.server.get("/v2/models/svm/versions/1/ready")[0], 200)
        self.assertEqual(self.server.get("/v2/models/svm/versions/9/ready")[0], 400)
        self.assertEqual(self.server.get("/v2/models/nope/ready")[0], 404)
        self.assertEqual(self.server.get("/v2/models/nope")[0], 404)
        self.assertEqual(self.server.get("/v2/models/svm/versions/9")[0], 404)
        self.assertEqual(self.server.get("/v2/models/svm/explain")[0], 404)
        self.assertNotIn("labels", got)  # svm has none

    def test_model_metadata_shows_the_labels(self):
        status, got = self.server.get("/v2/models/labelled")
        self.assertEqual(status, 200, got)
        self.assertEqual(got["labels"], {"team": "search", "tier": "2"})

    def test_infer_a_question_and_the_id_is_echoed(self):
        body = {"id": "req-7", "inputs": [{"name": "question", "datatype": "BYTES", "shape": [1],
                                           "data": ["what?"]}]}
        status, got = self.server.post("/v2/models/svm/infer", body)
        self.assertEqual(status, 200, got)
        self.assertEqual((got["model_name"], got["model_version"], got["id"]), ("svm", "1", "req-7"))
        [out] = got["outputs"]
        self.assertEqual((out["name"], out["datatype"], out["shape"]), ("answer", "BYTES", [1]))
        self.assertEqual(json.loads(out["data"][0])["answer"], "svm answer to: what?")
        status, got = self.server.post("/v2/models/svm/versions/1/infer", body)
        self.assertEqual(status, 200, got)

    def test_binary_tensor_data_in_and_out(self):
        """The binary tensor data extension: FP32 in as raw bytes after the JSON, out the same way."""
        import struct
        header = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3],
                                         "parameters": {"binary_data_size": 24}}],
                             "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}).encode()
        values = struct.pack("<6f", 0.5, -2.5, 3.25, 1.0, 0.0, 8.0)
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            conn.request("POST", "/v2/models/echo_fp32/infer", body=header + values,
                         headers={"Inference-Header-Content-Length": str(len(header)),
                                  "Content-Type": "application/octet-stream"})
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        self.assertEqual(resp.status, 200, body)
        self.assertEqual(resp.getheader("Content-Type"), "application/octet-stream")
        length = int(resp.getheader("Inference-Header-Content-Length"))
        [out] = json.loads(body[:length])["outputs"]
        self.assertEqual(out["parameters"], {"binary_data_size": 24})
        self.assertNotIn("data", out)
        self.assertEqual(body[length:], values)
        # A claim the body cannot pay is a 400 naming the field.
        status, got = self.server.post("/v2/models/echo_fp32/infer", header + values[:8],
                                       headers={"Inference-Header-Content-Length": str(len(header))})
        self.assertEqual(status, 400)
        self.assertIn("binary_data_size is 24 bytes, but 8 are left", got["error"])

    def test_every_datatype_round_trips(self):
        for datatype, data in DATATYPES.items():
            with self.subTest(datatype=datatype):
                body = {"inputs": [{"name": "x", "datatype": datatype, "shape": [2, 3], "data": data}]}
                status, got = self.server.post("/v2/models/echo_%s/infer" % datatype.lower(), body)
                self.assertEqual(status, 200, got)
                [out] = got["outputs"]
                self.assertEqual((out["name"], out["datatype"], out["shape"]), ("y", datatype, [2, 3]))
                flat = [x for row in data for x in row]
                if datatype == "FP32":
                    for a, b in zip(out["data"], flat):
                        self.assertAlmostEqual(a, b, delta=abs(b) * 1e-6)
                else:
                    self.assertEqual(out["data"], flat)
                flat_body = {"inputs": [{"name": "x", "datatype": datatype, "shape": [2, 3], "data": flat}]}
                again = self.server.post("/v2/models/echo_%s/infer" % datatype.lower(), flat_body)[1]
                self.assertEqual(again["outputs"], got["outputs"])
                self.assertIn("tbms_expected_ms", again["parameters"])  # for brokers sharing this server

    def test_bad_inferences_get_400_with_an_error(self):
        x = {"name": "x", "datatype": "INT32", "shape": [2, 2], "data": [1, 2, 3, 4]}
        cases = [
            ("not json", "malformed JSON"),
            ({"inputs": []}, "inputs"),
            ({"inputs": [dict(x, datatype="INT33")]}, "unknown datatype 'INT33'"),
            ({"inputs": [dict(x, shape=[2, 3])]}, "expected 6 elements"),
            ({"inputs": [dict(x, data=[1, 2, 3, 1e10])]}, "out of range for INT32"),
            ({"inputs": [dict(x, datatype="FP32")]}, "input 'x' must be INT32, got FP32"),
            ({"inputs": [dict(x, name="z")]}, "model 'echo_int32' has no input 'z'"),
            ({"inputs": [dict(x, shape=[4])], }, "input 'x' must have shape [-1,-1]"),
            ({"inputs": [x], "outputs": [{"name": "w"}]}, "model 'echo_int32' has no output 'w'"),
            ({"inputs": [x], "extra": 1}, "unknown"),
        ]
        for body, message in cases:
            with self.subTest(body=body):
                status, got = self.server.post("/v2/models/echo_int32/infer", body)
                self.assertEqual(status, 400, got)
                self.assertIn(message, got["error"])
        self.assertEqual(self.server.get("/v2/models/echo_int32/infer")[0], 405)
        self.assertEqual(self.server.post("/v2/models/nope/infer", {"inputs": [x]})[0], 404)

    def test_a_try_may_carry_tensors(self):
        body = {"inputs": [{"name": "question", "datatype": "BYTES", "shape": [1], "data": ["why?"]}],
                "task": "qa"}
        status, got = self.server.post("/v1/instances/nianjianQA/try", body)
        self.assertEqual(status, 200, got)
        self.assertEqual(answer_of(got)["answer"], "svm answer to: why?")


class HouseCheckTest(unittest.TestCase):
    def run_tbms(self, *args):
        return subprocess.run([TBMS_BIN, *args], capture_output=True, text=True, timeout=30)

    def test_check_reports_every_error_and_serve_refuses(self):
        root = tempfile.mkdtemp(prefix="tbms-house-")
        try:
            house = make_house(root)
            got = self.run_tbms("house", "check", house)
            self.assertEqual(got.returncode, 0, got.stderr)
            self.assertIn("house OK", got.stdout)
            write(os.path.join(house, "svm", "model.toml"), 'backend = "simulated"\nest = 25\nbatchsize = 4\n')
            write(os.path.join(house, "bayes", "1", "simulated.toml"), "base_ms = 'slow'\n")
            got = self.run_tbms("house", "check", house)
            self.assertEqual(got.returncode, 1)
            self.assertIn("svm/model.toml:3:1", got.stderr)
            self.assertIn("batchsize", got.stderr)
            self.assertIn("bayes/1/simulated.toml:1", got.stderr)
            got = self.run_tbms("serve", "--port", "0", "--house", house)
            self.assertEqual(got.returncode, 1)
            self.assertIn("batchsize", got.stderr)
            self.assertEqual(self.run_tbms("house", "check").returncode, 2)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def test_instances_is_replicas_deprecated_name(self):
        root = tempfile.mkdtemp(prefix="tbms-house-")
        try:
            house = make_house(root)
            simulated_model(house, "svm", 25, {1: "base_ms = 4\n"}, "instances = 2\n")
            got = self.run_tbms("house", "check", house)
            self.assertEqual(got.returncode, 0, got.stderr)
            self.assertIn("warning: " + house + "/svm/model.toml:3:13: model 'svm': instances is deprecated, "
                          "use replicas (see docs/house.md)", got.stderr)
            simulated_model(house, "svm", 25, {1: "base_ms = 4\n"}, "replicas = 2\ninstances = 2\n")
            got = self.run_tbms("house", "check", house)
            self.assertEqual(got.returncode, 1)
            self.assertIn("svm/model.toml:4:13: 'instances' is the deprecated name of 'replicas': give only "
                          "'replicas'", got.stderr)
        finally:
            shutil.rmtree(root, ignore_errors=True)


class NotActedOnYetTest(unittest.TestCase):
    """lag_target_ms (without the online tuner) and replicas' old name are
    accepted with a warning: `tbms house check` prints it (and exits 0), the
    server logs it once per model and key, not again when a poll reloads
    the model."""

    def test_check_and_serve_warn_once(self):
        root = tempfile.mkdtemp(prefix="tbms-house-")
        try:
            house = make_house(root)
            simulated_model(house, "svm", 25, {1: "base_ms = 4\n"}, 'lag_target_ms = 40\ninstances = 1\n')
            lag = "svm/model.toml:3:17: model 'svm': lag_target_ms is not acted on by the server yet, only by tbms tune (its default --lag-ms) (see docs/house.md)"
            device = "svm/model.toml:4:13: model 'svm': instances is deprecated, use replicas"
            got = subprocess.run([TBMS_BIN, "house", "check", house], capture_output=True, text=True, timeout=30)
            self.assertEqual(got.returncode, 0, got.stderr)
            self.assertIn("warning: " + house + "/" + lag, got.stderr)
            self.assertIn(device, got.stderr)
            self.assertEqual(got.stderr.count("warning: "), 2, got.stderr)

            server = Server(None, "--house", house, "--model-control", "poll", "--poll-interval-s", "0.05")
            try:
                # svm's model.toml changes, so a poll reloads it; then a new
                # model: once it is ready, the poll that reloaded svm is done.
                simulated_model(house, "svm", 20, {1: "base_ms = 4\n"}, 'lag_target_ms = 40\ninstances = 1\n')
                simulated_model(house, "late", 5, {1: "base_ms = 1\n"})
                deadline = time.monotonic() + 10
                while server.get("/v2/models/late/ready")[0] != 200 and time.monotonic() < deadline:
                    time.sleep(0.05)  # bounded by the deadline: a poll is due every 50 ms
                self.assertEqual(server.get("/v2/models/late/ready")[0], 200)
            finally:
                server.proc.kill()
                server.proc.wait(timeout=10)
                log = server.proc.stderr.read()
                server.close()
            self.assertEqual(log.count("tbms: warning: "), 2, log)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()


class AdaptiveBatchingTest(unittest.TestCase):
    """[batching] adaptive with lag_target_ms: the model serves (the online
    tuner's decisions are tested on the virtual clock, tests/tune), the
    batching in force is in /metrics and /v1/report, and the lag target is
    no longer a warning."""

    def test_an_adaptive_model_serves_and_reports_its_batching(self):
        root = tempfile.mkdtemp(prefix="tbms-house-")
        try:
            house = make_house(root)
            simulated_model(house, "svm", 25, {1: "base_ms = 4\nscore = 0.8\n"},
                            "lag_target_ms = 40\n[batching]\nmax_batch_size = 16\nadaptive = true\n")
            got = subprocess.run([TBMS_BIN, "house", "check", house], capture_output=True, text=True, timeout=30)
            self.assertEqual((got.returncode, got.stderr), (0, ""))
            server = Server(None, "--house", house)
            try:
                status, result = server.post("/v1/instances/nianjianQA/try", {"inputs": {"question": "q"}, "task": "qa"})
                self.assertEqual((status, result["model"]), (200, "svm"), result)
                with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as resp:
                    metrics = resp.read().decode()
                self.assertRegex(metrics, r'tbms_model_max_batch_size\{model="svm",version="1"\} 16\n')
                self.assertRegex(metrics, r'tbms_model_max_queue_delay_seconds\{model="svm",version="1"\} ')
                status, report = server.get("/v1/report")
                self.assertEqual(status, 200, report)
                svm = [m for m in report["models"] if m["model"] == "svm"][0]
                self.assertEqual(svm["max_batch_size"], 16)
                self.assertIn("max_queue_delay_ms", svm)
            finally:
                server.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)


class DevicesTest(unittest.TestCase):
    """devices.toml and instance groups, served: the report shows each
    device's occupancy, share, memory and what is free; a device is drained
    and resumed, and a model's replicas changed, while tries run — none
    fails (they fall back to the model on the other device); devices.toml
    changing reloads the model placed on it, again without a failed try."""

    DEVICES = '[gpu0]\nkind = "gpu"\nindex = 0\nmemory_mib = %d\n[cpu0]\nkind = "cpu"\n'

    def test_drain_resume_and_replicas_under_traffic(self):
        root = tempfile.mkdtemp(prefix="tbms-house-")
        try:
            house = make_house(root)
            write(os.path.join(house, "devices.toml"), self.DEVICES % 1024)
            simulated_model(house, "svm", 25, {1: "base_ms = 4\nscore = 0.8\n"},
                            '[[instance_group]]\ndevice = "gpu0"\nshare_pct = 50\nmemory_mib = 256\n')
            simulated_model(house, "bayes", 15, {1: "base_ms = 2\nscore = 0.6\n"},
                            '[[instance_group]]\ndevice = "cpu0"\n')
            got = subprocess.run([TBMS_BIN, "house", "check", house], capture_output=True, text=True, timeout=30)
            self.assertEqual((got.returncode, got.stderr), (0, ""))
            server = Server(None, "--house", house, "--model-control", "poll", "--poll-interval-s", "0.05")
            try:
                self.run_traffic(server, house)
            finally:
                server.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def run_traffic(self, server, house):
        answered, failures, stop = [], [], threading.Event()

        def traffic():
            for _ in range(20000):  # bounded in count, and by the test's own steps
                if stop.is_set():
                    return
                status, got = server.post("/v1/instances/nianjianQA/try", {"inputs": {"question": "q"}, "task": "qa"})
                if status != 200 or got["answer"] is None:
                    failures.append((status, got))
                else:
                    answered.append(got["model"])

        def wait_for(what, check):
            deadline = time.monotonic() + 20
            while not check() and time.monotonic() < deadline:
                time.sleep(0.02)  # bounded by the deadline
            self.assertTrue(check(), what)

        def metric(line):
            with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as resp:
                return line in resp.read().decode().split("\n")

        thread = threading.Thread(target=traffic)
        thread.start()
        try:
            wait_for("svm to answer", lambda: "svm" in answered[-10:])
            status, report = server.get("/v1/report")
            devices = {d["device"]: d for d in report["devices"]}
            self.assertEqual((devices["gpu0"]["kind"], devices["gpu0"]["capacity"]), ("gpu", 1))
            self.assertEqual((devices["gpu0"]["memory_mib"], devices["gpu0"]["reserved_mib"]), (1024, 256))
            self.assertAlmostEqual(devices["gpu0"]["occupancy_pct"] + devices["gpu0"]["free_pct"], 100)
            cell = [o for o in report["occupancy"] if o["device"] == "gpu0"][0]
            self.assertEqual((cell["model"], cell["share_pct"]), ("svm", 50))

            status, body = server.post("/v1/devices/gpu0/drain", {})
            self.assertEqual(status, 200, body)
            mark = len(answered)
            wait_for("bayes to answer for the drained svm", lambda: answered[mark + 20:] and set(answered[-10:]) == {"bayes"})
            self.assertTrue(metric('tbms_device_up{device="gpu0"} 0'))
            status, body = server.post("/v1/devices/gpu0/resume", {})
            self.assertEqual(status, 200, body)
            wait_for("svm to answer again", lambda: "svm" in answered[-10:])

            status, body = server.post("/v1/models/svm/replicas", {"count": 2})
            self.assertEqual(status, 200, body)
            self.assertTrue(metric('tbms_model_replicas{device="gpu0",model="svm"} 2'))

            # A device that changes reloads the model placed on it.
            write(os.path.join(house, "devices.toml"), self.DEVICES % 2048)
            wait_for("the new memory", lambda: metric('tbms_device_memory_bytes{device="gpu0"} 2147483648'))
            mark = len(answered)
            wait_for("svm to answer after the reload", lambda: "svm" in answered[mark:])
        finally:
            stop.set()
            thread.join(timeout=30)
        self.assertEqual(failures, [])

        for path, body, want in [("/v1/devices/tpu9/drain", {}, 404), ("/v1/models/svm/replicas", {"count": -1}, 400),
                                 ("/v1/models/svm/replicas", {"cnt": 1}, 400), ("/v1/models/nope/replicas", {"count": 1}, 404),
                                 ("/v1/models/mix1/replicas", {"count": 1}, 400),
                                 ("/v1/models/svm/replicas", '{"count": 1, "count": 2}', 400)]:
            status, got = server.post(path, body)
            self.assertEqual(status, want, (path, got))
            self.assertIn("error", got)
        status, got = server.get("/v1/devices/gpu0/drain")
        self.assertEqual(status, 405, got)
