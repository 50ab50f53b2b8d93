"""End to end: access keys, signed requests and isolation (docs/security.md).
A house with instances a and b, each with its own key and models, and an
admin key; every boundary is tried from the outside: unsigned, forged,
stale and replayed requests, one instance's key on the other's tries,
models, report and the admin endpoints, and the metrics address. Needs
TBMS_BIN and PYTHONPATH=python (ctest sets both)."""

import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import tbms
from test_house import simulated_model, write
from test_serve import Server, TBMS_BIN, grpc_address, read_line

A_SECRET = "a-secret-0123456789abcdef"
B_SECRET = "b-secret-0123456789abcdef"
ADMIN_SECRET = "admin-secret-0123456789ab"
C_SECRET = "c-secret-0123456789abcdef"
ENV = {"TBMS_TEST_A_KEY": A_SECRET, "TBMS_TEST_C_KEY": C_SECRET}
QUESTION = {"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 500}


def make_house(root):
    """Instance a may use svm and mix1; b may use bayes; admin: everything."""
    house = os.path.join(root, "house")
    simulated_model(house, "svm", 25, {1: "base_ms = 1\n"})
    simulated_model(house, "bayes", 15, {1: "base_ms = 1\n"})
    write(os.path.join(house, "mix1", "model.toml"),
          'backend = "mix"\nmembers = ["svm", "bayes"]\naggregator = "max"\n')
    for name, secret in (("b", B_SECRET), ("admin", ADMIN_SECRET)):
        write(os.path.join(house, ".keys", name + ".key"), secret + "\n")
        os.chmod(os.path.join(house, ".keys", name + ".key"), 0o600)
    write(os.path.join(house, "instances.toml"),
          '[admin]\nkeys = [{ id = "ops", secret_file = ".keys/admin.key" }]\n'
          '[instances.a]\nmodels = ["svm", "mix1"]\n'
          'keys = [{ id = "a1", secret_env = "TBMS_TEST_A_KEY" }]\n'
          '[instances.a.tasks.qa]\nmodels = ["svm"]\ntloc = 500\n'
          '[instances.b]\nmodels = ["bayes"]\n'
          'keys = [{ id = "b1", secret_file = ".keys/b.key" }]\n'
          '[instances.c]\nmax_rps = 0.5\n'
          'keys = [{ id = "c1", secret_env = "TBMS_TEST_C_KEY" }]\n')
    return house


def request(port, method, path, body=b"", key=None, headers=None):
    """One raw request, signed with key = (id, secret) unless headers give
    an Authorization; returns (status, parsed JSON or text, headers)."""
    headers = dict(headers or {})
    if key and "Authorization" not in headers:
        headers["Authorization"] = tbms.authorization_header(*key, method, path, body)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read().decode()
        try:
            data = json.loads(data) if data else None
        except ValueError:
            pass
        return resp.status, data, dict(resp.getheaders())
    finally:
        conn.close()


A = ("a1", A_SECRET)
B = ("b1", B_SECRET)
ADMIN = ("ops", ADMIN_SECRET)
TRY_A = "/v1/instances/a/try"
TRY_B = "/v1/instances/b/try"


class SignedRequestsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="tbms-security-")
        cls.house = make_house(cls.root)
        cls.server = Server(None, "--house", cls.house, "--model-control", "explicit",
                            "--metrics-address", "127.0.0.1:0", "--grpc-port", "0", env=ENV)
        cls.grpc = grpc_address(cls.server)
        line = read_line(cls.server.proc.stdout)
        cls.metrics_port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.root, ignore_errors=True)

    def call(self, method, path, payload=None, key=None, headers=None):
        body = json.dumps(payload).encode() if payload is not None else b""
        return request(self.server.port, method, path, body, key, headers)

    def assert_error(self, got, status, message):
        self.assertEqual(got[0], status, got[1])
        self.assertIn(message, got[1]["error"])
        for secret in (A_SECRET, B_SECRET, ADMIN_SECRET):
            self.assertNotIn(secret, json.dumps(got[1]))

    def test_health_and_static_files_need_no_key(self):
        self.assertEqual(self.call("GET", "/v2/health/live")[0], 200)
        self.assertEqual(self.call("GET", "/v2/health/ready")[0], 200)
        self.assertEqual(self.call("GET", "/dashboard")[0], 200)

    def test_unsigned_and_malformed_requests_get_401_naming_the_scheme(self):
        got = self.call("POST", TRY_A, QUESTION)
        self.assert_error(got, 401, "missing Authorization header")
        self.assertEqual(got[2]["WWW-Authenticate"], "TBMS-HMAC-SHA256")
        self.assert_error(self.call("POST", TRY_A, QUESTION, headers={"Authorization": "Basic YTpi"}),
                          401, "Authorization must be 'TBMS-HMAC-SHA256 Credential=")
        self.assert_error(self.call("POST", TRY_A, QUESTION, key=("nobody", A_SECRET)),
                          401, "unknown access id 'nobody'")

    def test_a_signed_try_is_answered_and_counted_under_its_instance(self):
        got = self.call("POST", TRY_A, QUESTION, key=A)
        self.assertEqual(got[0], 200, got[1])
        self.assertEqual(got[1]["model"], "svm")
        with tbms.Client(self.server.endpoint, *A, "a") as client:
            self.assertTrue(client.try_task("qa", "q").ok)

    def test_forged_stale_and_replayed_requests_are_refused(self):
        self.assert_error(self.call("POST", TRY_A, QUESTION, key=("a1", B_SECRET)), 401, "signature does not match")
        body = json.dumps(QUESTION).encode()
        # Signed over one body, sent with another.
        header = tbms.authorization_header(*A, "POST", TRY_A, body)
        forged = dict(QUESTION, tloc=1)
        self.assert_error(self.call("POST", TRY_A, forged, headers={"Authorization": header}),
                          401, "signature does not match")
        stale = tbms.authorization_header(*A, "POST", TRY_A, body, timestamp=int(time.time()) - 600)
        self.assert_error(self.call("POST", TRY_A, QUESTION, headers={"Authorization": stale}),
                          401, "s from the server's clock (at most 300 s)")
        fresh = tbms.authorization_header(*A, "POST", TRY_A, body)
        self.assertEqual(self.call("POST", TRY_A, QUESTION, headers={"Authorization": fresh})[0], 200)
        self.assert_error(self.call("POST", TRY_A, QUESTION, headers={"Authorization": fresh}),
                          401, "was already used: a replayed request")

    def test_one_instances_key_cannot_use_the_other(self):
        self.assert_error(self.call("POST", TRY_B, QUESTION, key=A), 403,
                          "this access key opens instance 'a', not 'b'")
        bayes = dict(QUESTION, models=[{"name": "bayes"}])
        self.assert_error(self.call("POST", TRY_A, bayes, key=A), 403, "instance 'a' may not use model 'bayes'")
        self.assertEqual(self.call("POST", TRY_B, bayes, key=B)[0], 200)
        self.assert_error(self.call("POST", TRY_B, QUESTION, key=B), 403, "instance 'b' may not use model 'svm'")
        with tbms.Client(self.server.endpoint, *A, "b") as client:
            with self.assertRaises(tbms.TbmsAuthError) as caught:
                client.try_models({"bayes": {"est": 15}}, "q", tloc=100)
            self.assertEqual(caught.exception.status, 403)
        # v2: metadata and infer of another instance's model.
        self.assert_error(self.call("GET", "/v2/models/bayes", key=A), 403, "instance 'a' may not use model 'bayes'")
        self.assertEqual(self.call("GET", "/v2/models/svm", key=A)[0], 200)
        infer = {"inputs": [{"name": "question", "datatype": "BYTES", "shape": [1], "data": ["q"]}]}
        self.assert_error(self.call("POST", "/v2/models/bayes/infer", infer, key=A), 403, "may not use model")
        self.assertEqual(self.call("POST", "/v2/models/svm/infer", infer, key=A)[0], 200)

    def test_reports_show_only_the_callers_instance(self):
        self.assertEqual(self.call("POST", TRY_A, QUESTION, key=A)[0], 200)
        self.assertEqual(self.call("POST", TRY_B, dict(QUESTION, models=[{"name": "bayes"}]), key=B)[0], 200)
        status, report, _ = self.call("GET", "/v1/report", key=B)
        self.assertEqual(status, 200)
        self.assertEqual(report["instance"], "b")
        self.assertEqual({row["instance"] for row in report["downgrade"]}, {"b"})
        self.assertEqual({m["model"] for m in report["models"]}, {"bayes"})
        self.assertNotIn("qps", report)  # server-wide figures are the admin's
        mixed = dict(QUESTION, models=[{"name": "mix1"}])
        self.assertEqual(self.call("POST", TRY_A, mixed, key=A)[0], 200)
        status, report, _ = self.call("GET", "/v1/report", key=A)
        self.assertEqual({m["model"] for m in report["models"]}, {"svm", "bayes"})  # mix1 opens bayes
        status, report, _ = self.call("GET", "/v1/report", key=ADMIN)
        self.assertEqual(status, 200)
        self.assertTrue({"a", "b"} <= {row["instance"] for row in report["downgrade"]})
        self.assert_error(self.call("GET", "/metrics", key=A), 403, "/metrics needs an admin key")
        status, text, _ = self.call("GET", "/metrics", key=ADMIN)
        self.assertEqual(status, 200)
        self.assertIn('tbms_tries_total{instance="a"', text)

    def test_an_instances_quota_covers_its_v2_infers(self):
        infer = {"inputs": [{"name": "question", "datatype": "BYTES", "shape": [1], "data": ["q"]}]}
        self.assertEqual(self.call("POST", "/v2/models/svm/infer", infer, key=("c1", C_SECRET))[0], 200)
        status, got, headers = self.call("POST", "/v2/models/svm/infer", infer, key=("c1", C_SECRET))
        self.assertEqual(status, 429, got)
        self.assertIn("instance 'c' is over its max_rps of 0.5", got["error"])
        self.assertEqual(headers["Retry-After"], "2")
        self.assertEqual(self.call("GET", "/v2/models/svm", key=("c1", C_SECRET))[0], 200)  # metadata is free

    def test_the_repository_needs_an_admin_key(self):
        self.assert_error(self.call("POST", "/v2/repository/index", key=A), 403, "needs an admin key")
        self.assert_error(self.call("POST", "/v2/repository/models/svm/unload", key=A), 403, "needs an admin key")
        self.assertEqual(self.call("POST", "/v2/repository/index", key=ADMIN)[0], 200)
        self.assertEqual(self.call("POST", "/v2/repository/models/mix1/load", key=ADMIN)[0], 200)

    def test_the_metrics_address_serves_reports_without_keys_and_nothing_else(self):
        status, text, _ = request(self.metrics_port, "GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn("tbms_tries_total", text)
        self.assertEqual(request(self.metrics_port, "GET", "/v1/report")[0], 200)
        status, got, _ = request(self.metrics_port, "POST", TRY_A, json.dumps(QUESTION).encode(), key=A)
        self.assertEqual(status, 404)
        self.assertIn("serves only /metrics", got["error"])

    def assert_the_cli_signs(self, args, refused):
        """`args` succeed signed from the environment, and fail with `refused`
        unsigned; returns the environment without credentials."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TBMS_ACCESS")}
        got = subprocess.run(args, capture_output=True, text=True, env={**env, "TBMS_ACCESS_ID": "a1",
                                                                         "TBMS_ACCESS_KEY": A_SECRET})
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertIn("model: svm (rank 0)", got.stdout)
        got = subprocess.run(args, capture_output=True, text=True, env=env)
        self.assertEqual(got.returncode, 1)
        self.assertIn(refused, got.stderr)
        return env

    def test_the_cli_signs_with_credentials_from_the_environment(self):
        args = [TBMS_BIN, "try", "--url", self.server.endpoint, "--instance", "a", "--models", "svm",
                "--tloc", "500", "q"]
        env = self.assert_the_cli_signs(args, "HTTP 401")
        got = subprocess.run(args + ["--access-id", "a1"], capture_output=True, text=True, env=env)
        self.assertEqual(got.returncode, 2)
        self.assertIn("needs its key", got.stderr)
        key_file = os.path.join(self.root, "a1.key")
        write(key_file, A_SECRET + "\n")
        got = subprocess.run(args + ["--access-id", "a1", "--access-key-file", key_file],
                             capture_output=True, text=True, env=env)
        self.assertEqual(got.returncode, 0, got.stderr)

    def test_the_cli_signs_a_try_over_grpc(self):
        args = [TBMS_BIN, "try", "--grpc", self.grpc, "--instance", "a", "--models", "svm", "--tloc", "500", "q"]
        env = self.assert_the_cli_signs(args, "gRPC UNAUTHENTICATED")
        got = subprocess.run(args[:-2] + ["2.5", "q"], capture_output=True, text=True, env=env)
        self.assertEqual(got.returncode, 2)
        self.assertIn("tloc over gRPC is whole milliseconds, not 2.5", got.stderr)


def self_signed(root):
    """A certificate for 127.0.0.1 and its key, made with the openssl CLI."""
    cert, key = os.path.join(root, "cert.pem"), os.path.join(root, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return cert, key


class TlsTest(unittest.TestCase):
    """--tls-cert/--tls-key: the main address speaks TLS; signed requests
    go through it from the Python client and the CLI, which verify it."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="tbms-tls-")
        cls.house = make_house(cls.root)
        cls.cert, cls.key = self_signed(cls.root)
        cls.server = Server(None, "--house", cls.house, "--tls-cert", cls.cert, "--tls-key", cls.key,
                            "--grpc-port", "0", env=ENV)
        cls.url = "https://127.0.0.1:%d" % cls.server.port
        cls.grpc = grpc_address(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_the_python_client_signs_over_tls(self):
        with tbms.Client(self.url, *A, "a", ca_file=self.cert) as client:
            self.assertTrue(client.ready())
            result = client.try_models({"svm": {"est": 25}}, "q", tloc=500)
            self.assertEqual(result.model, "svm")
            with self.assertRaises(tbms.TbmsAuthError):
                client.try_models({"bayes": {"est": 15}}, "q", tloc=500)

    def test_the_cli_verifies_the_server(self):
        args = [TBMS_BIN, "try", "--url", self.url, "--instance", "a", "--models", "svm", "--tloc", "500", "q"]
        env = {**os.environ, "TBMS_ACCESS_ID": "a1", "TBMS_ACCESS_KEY": A_SECRET}
        got = subprocess.run(args + ["--ca-file", self.cert], capture_output=True, text=True, env=env)
        self.assertEqual(got.returncode, 0, got.stderr)
        got = subprocess.run(args, capture_output=True, text=True, env=env)  # not signed by a CA it trusts
        self.assertEqual(got.returncode, 1)
        self.assertIn("certificate verify failed", got.stderr)

    def test_the_cli_verifies_the_server_over_grpc(self):
        args = [TBMS_BIN, "try", "--grpc", self.grpc, "--instance", "a", "--models", "svm", "--tloc", "500",
                "--timeout-ms", "5000", "q"]
        env = {**os.environ, "TBMS_ACCESS_ID": "a1", "TBMS_ACCESS_KEY": A_SECRET}
        got = subprocess.run(args + ["--ca-file", self.cert], capture_output=True, text=True, env=env)
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertIn("model: svm", got.stdout)
        got = subprocess.run(args, capture_output=True, text=True, env=env)  # plain text to a TLS port
        self.assertEqual(got.returncode, 1)
        self.assertIn("gRPC UNAVAILABLE", got.stderr)

    def test_plain_http_gets_no_answer(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            with self.assertRaises((http.client.HTTPException, OSError)):
                conn.request("GET", "/v2/health/live")
                conn.getresponse()
        finally:
            conn.close()

    def test_a_key_that_does_not_match_the_certificate_stops_the_server(self):
        other_root = os.path.join(self.root, "other")
        os.makedirs(other_root)
        _, other_key = self_signed(other_root)
        got = subprocess.run([TBMS_BIN, "serve", "--port", "0", "--simulate", "svm=1", "--insecure-dev",
                              "--tls-cert", self.cert, "--tls-key", other_key], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(got.returncode, 1)
        self.assertIn("cannot use --tls-key %s: key values mismatch" % other_key, got.stderr)


class StartUpTest(unittest.TestCase):
    """A server without keys refuses to start unless told --insecure-dev,
    which it announces loudly; bad key files stop it naming the file."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tbms-security-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def serve(self, *flags, env=None):
        return subprocess.run([TBMS_BIN, "serve", "--port", "0", *flags], capture_output=True, text=True,
                              timeout=30, env={**os.environ, **(env or {})})

    def test_no_keys_no_server(self):
        got = self.serve("--simulate", "svm=1")
        self.assertEqual(got.returncode, 1)
        self.assertIn("nobody could call this server", got.stderr)
        self.assertIn("--insecure-dev", got.stderr)

    def test_insecure_dev_warns_loudly(self):
        proc = subprocess.Popen([TBMS_BIN, "serve", "--port", "0", "--simulate", "svm=1", "--insecure-dev"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = read_line(proc.stdout)
            self.assertIn("NO authentication (--insecure-dev)", line)
            logged = [read_line(proc.stderr) for _ in range(2)]  # the model it loaded, and the warning
            self.assertIn("WARNING: --insecure-dev: requests are NOT authenticated", "".join(logged))
            port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
            status, got, _ = request(port, "POST", "/v1/instances/any/try", json.dumps(QUESTION).encode())
            self.assertEqual(status, 200, got)
        finally:
            proc.kill()
            proc.communicate(timeout=10)

    def test_a_key_file_others_may_read_stops_the_server_without_showing_the_secret(self):
        house = make_house(self.root)
        os.chmod(os.path.join(house, ".keys", "b.key"), 0o644)
        got = self.serve("--house", house, env=ENV)
        self.assertEqual(got.returncode, 1)
        self.assertIn("b.key' may be read by group or others: chmod 600 it", got.stderr)
        self.assertNotIn(B_SECRET, got.stderr + got.stdout)
        got = subprocess.run([TBMS_BIN, "house", "check", house], capture_output=True, text=True,
                             env={**os.environ, **ENV})
        self.assertEqual(got.returncode, 1)
        self.assertIn("chmod 600", got.stderr)


class KeyRotationTest(unittest.TestCase):
    """Poll mode: a key added to instances.toml opens the instance, one
    removed stops working, without a restart."""

    def test_keys_reload_with_the_house(self):
        root = tempfile.mkdtemp(prefix="tbms-security-")
        try:
            house = make_house(root)
            server = Server(None, "--house", house, "--model-control", "poll", "--poll-interval-s", "0.1", env=ENV)
            try:
                body = json.dumps(QUESTION).encode()
                self.assertEqual(request(server.port, "POST", TRY_B, body, key=("b2", B_SECRET))[0], 401)
                path = os.path.join(house, "instances.toml")
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                write(path, text.replace('keys = [{ id = "b1", secret_file = ".keys/b.key" }]',
                                         'keys = [{ id = "b2", secret_file = ".keys/b.key" }]'))
                bayes = json.dumps(dict(QUESTION, models=[{"name": "bayes"}])).encode()
                deadline = time.monotonic() + 10
                # Polls for the reload of a real file (no virtual clock reaches it); bounded.
                while request(server.port, "POST", TRY_B, bayes, key=("b2", B_SECRET))[0] != 200:
                    self.assertLess(time.monotonic(), deadline, "the new key never opened instance b")
                    time.sleep(0.05)
                status, got, _ = request(server.port, "POST", TRY_B, bayes, key=B)
                self.assertEqual(status, 401)
                self.assertIn("unknown access id 'b1'", got["error"])
                # A key file rewritten in place is a new secret for the same id.
                new_secret = "b-rotated-0123456789abcdef"
                write(os.path.join(house, ".keys", "b.key"), new_secret + "\n")
                while request(server.port, "POST", TRY_B, bayes, key=("b2", new_secret))[0] != 200:
                    self.assertLess(time.monotonic(), deadline + 10, "the rewritten key file was never read")
                    time.sleep(0.05)
                self.assertEqual(request(server.port, "POST", TRY_B, bayes, key=("b2", B_SECRET))[0], 401)
            finally:
                server.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
