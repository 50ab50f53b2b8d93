"""Tests of the TBMS Python client against an in-process fake server."""

import hashlib
import math
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
from typing import Any, Optional
from unittest import mock

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(TESTS_DIR)
for _path in (PYTHON_DIR, TESTS_DIR):  # tbms, and the fake_server helper
    if _path not in sys.path:
        sys.path.insert(0, _path)

import tbms  # noqa: E402
from tbms import (  # noqa: E402
    AUTH_SCHEME,
    DEFAULT_TASK_TIMEOUT_S,
    Attempt,
    Client,
    MixSpec,
    ModelSpec,
    TbmsAuthError,
    TbmsBadRequest,
    TbmsError,
    TbmsHTTPError,
    TbmsTimeout,
    TbmsTransportError,
    TryResult,
    authorization_header,
    mix_list,
    model_list,
    sign,
    string_to_sign,
    tbmsClient,
    tbmsList,
    tbmsMixList,
    tbmsMixTry,
    tbmsTaskTry,
    tbmsTry,
    try_mixes,
    try_models,
    try_task,
)
from fake_server import (  # noqa: E402
    FULL_RESPONSE,
    INSTANCE,
    LIVE_PATH,
    MIX_RESPONSE,
    READY_PATH,
    TALK_MIXES,
    TALK_MODELS,
    TRY_PATH,
    FakeTbms,
    Recorded,
    auth_problem,
    parse_authorization,
    self_signed_tls,
)

TALK_MIXES_JSON = [
    {"name": "mix1", "members": [{"name": "embedding", "est": 35},
                                 {"name": "svm", "est": 25}],
     "aggregator": "max"},
    {"name": "mix2", "members": [{"name": "bayes", "est": 15},
                                 {"name": "keysearch", "est": 5}],
     "aggregator": "avg"},
]

NULL_RESPONSE = {
    "answer": None, "model": None, "rank": None, "downgraded": False,
    "reason": "deadline", "elapsed_ms": 50.1, "attempts": [],
}
VERSION_RESPONSE = {
    "answer": "Beijing", "model": "svm", "version": "2", "rank": 1,
    "downgraded": True, "reason": "predicted_late", "elapsed_ms": 25.1,
    "attempts": [
        {"model": "embedding", "version": "1", "rank": 0,
         "state": "skipped", "started_ms": 0.002, "latency_ms": 0},
        {"model": "svm", "version": "2", "rank": 1, "state": "succeeded",
         "started_ms": 0.003, "latency_ms": 25.06},
    ],
}


class ServerTestCase(unittest.TestCase):
    """Base class: a fake server and a client connected to it."""

    def setUp(self) -> None:
        self.fake = FakeTbms().start()
        self.addCleanup(self.fake.stop)
        self.client = tbmsClient(self.fake.endpoint, "demo", "demo-key",
                                 INSTANCE)
        self.addCleanup(self.client.close)
        self.fake.route("POST", TRY_PATH, body=FULL_RESPONSE)

    def only_request(self) -> Recorded:
        self.assertEqual(len(self.fake.requests), 1)
        return self.fake.requests[0]


class TryRequestTest(ServerTestCase):
    """What the client sends."""

    def test_talk_request_body_path_and_headers(self) -> None:
        models = tbmsList(TALK_MODELS)
        tbmsTry(self.client, models, "question?", tloc=50, crossRequest=1,
                crossLag=10, priority=0)
        request = self.only_request()
        self.assertEqual(request.method, "POST")
        self.assertEqual(request.path, TRY_PATH)
        self.assertEqual(request.json(), {
            "inputs": {"question": "question?"},
            "models": [{"name": "embedding", "est": 35},
                       {"name": "svm", "est": 25},
                       {"name": "bayes", "est": 15},
                       {"name": "keysearch", "est": 5}],
            "tloc": 50,
            "crossRequest": 1,
            "crossLag": 10,
            "priority": 0,
        })
        self.assertIsNone(request.auth_problem({"demo": "demo-key"}))
        self.assertNotIn("X-TBMS-Access-Id", request.headers)
        self.assertEqual(request.headers["Content-Type"], "application/json")
        self.assertNotIn("demo-key", str(request.headers))

    def test_defaults_version_and_extra_inputs(self) -> None:
        self.client.try_models([("svm", 25, "2")], "q", 80,
                               inputs={"lang": "zh"})
        self.assertEqual(self.only_request().json(), {
            "inputs": {"question": "q", "lang": "zh"},
            "models": [{"name": "svm", "est": 25, "version": "2"}],
            "tloc": 80, "crossRequest": 0, "crossLag": 0, "priority": 0,
        })

    def test_instance_is_quoted_and_endpoint_slash_ignored(self) -> None:
        self.fake.route("POST", "/v1/instances/my%20qa%2F1/try",
                        body=FULL_RESPONSE)
        with Client(self.fake.endpoint + "/", "demo", "k", "my qa/1") as c:
            self.assertTrue(c.try_models({"svm": 25}, "q", 50).ok)
        self.assertEqual(self.only_request().path,
                         "/v1/instances/my%20qa%2F1/try")

    def test_sign_is_the_single_place_for_auth_headers(self) -> None:
        class SigningClient(Client):
            def _sign(self, method, path, body):
                headers = super()._sign(method, path, body)
                headers["X-Test-Signature"] = f"{method} {path} {len(body)}"
                return headers

        with SigningClient(self.fake.endpoint, "demo", "k", INSTANCE) as c:
            c.try_models({"svm": 25}, "q", 50)
        request = self.only_request()
        self.assertIsNone(request.auth_problem({"demo": "k"}))
        self.assertEqual(request.headers["X-Test-Signature"],
                         f"POST {TRY_PATH} {len(request.body)}")


class TryResponseTest(ServerTestCase):
    """How the client reads answers."""

    def test_tbms_try_returns_answer(self) -> None:
        answer = tbmsTry(self.client, tbmsList(TALK_MODELS), "q")
        self.assertEqual(answer, "Beijing")

    def test_tbms_try_returns_empty_string_for_null_answer(self) -> None:
        self.fake.route("POST", TRY_PATH, body=NULL_RESPONSE)
        self.assertEqual(tbmsTry(self.client, TALK_MODELS, "q"), "")

    def test_tbms_try_returns_non_string_answer_as_is(self) -> None:
        self.fake.route("POST", TRY_PATH,
                        body=dict(FULL_RESPONSE, answer={"label": 3}))
        self.assertEqual(tbmsTry(self.client, TALK_MODELS, "q"),
                         {"label": 3})

    def test_result_fields(self) -> None:
        result = try_models(self.client, TALK_MODELS, "q", tloc=50,
                            cross_request=1, cross_lag=10)
        self.assertIsInstance(result, TryResult)
        self.assertTrue(result.ok)
        self.assertEqual(result.answer, "Beijing")
        self.assertEqual(result.model, "svm")
        self.assertEqual(result.rank, 1)
        self.assertTrue(result.downgraded)
        self.assertEqual(result.reason, "predicted_late")
        self.assertEqual(result.elapsed_ms, 12.34)
        self.assertEqual(result.attempts, [
            Attempt("embedding", 0, "cancelled", 25.0),
            Attempt("svm", 1, "done", 11.5),
        ])
        self.assertEqual(result.raw, FULL_RESPONSE)

    def test_null_answer_is_not_ok(self) -> None:
        self.fake.route("POST", TRY_PATH, body=NULL_RESPONSE)
        result = self.client.try_models(TALK_MODELS, "q", 50)
        self.assertFalse(result.ok)
        self.assertIsNone(result.answer)
        self.assertIsNone(result.model)
        self.assertEqual(result.reason, "deadline")
        self.assertEqual(result.attempts, [])

    def test_versions_are_parsed(self) -> None:
        self.fake.route("POST", TRY_PATH, body=VERSION_RESPONSE)
        result = self.client.try_models(TALK_MODELS, "q", 50)
        self.assertEqual((result.model, result.version), ("svm", "2"))
        self.assertEqual(result.attempts, [
            Attempt("embedding", 0, "skipped", 0, 0.002, version="1"),
            Attempt("svm", 1, "succeeded", 25.06, 0.003, version="2"),
        ])

    def test_versions_default_to_none(self) -> None:
        result = self.client.try_models(TALK_MODELS, "q", 50)
        self.assertIsNone(result.version)
        self.assertEqual([a.version for a in result.attempts], [None, None])


class MixTryTest(ServerTestCase):
    """tbmsMixTry / try_mixes: request bodies and answers."""

    def test_talk_mix_request_body(self) -> None:
        mixes = tbmsMixList(TALK_MIXES)
        tbmsMixTry(self.client, mixes, "question?", tloc=50, crossRequest=1,
                   crossLag=10)
        request = self.only_request()
        self.assertEqual((request.method, request.path), ("POST", TRY_PATH))
        self.assertEqual(request.json(), {
            "inputs": {"question": "question?"},
            "mixes": TALK_MIXES_JSON,
            "tloc": 50,
            "crossRequest": 1,
            "crossLag": 10,
            "priority": 0,
        })
        self.assertIsNone(request.auth_problem({"demo": "demo-key"}))

    def test_member_without_est_and_with_version(self) -> None:
        self.client.try_mixes(
            {"m": [{"mix": "vote"}, {"svm": {}},
                   {"bayes": {"est": 0, "version": "2"}}]},
            "q", 80, priority=3, inputs={"lang": "zh"})
        self.assertEqual(self.only_request().json(), {
            "inputs": {"question": "q", "lang": "zh"},
            "mixes": [{"name": "m",
                       "members": [{"name": "svm"},
                                   {"name": "bayes", "est": 0,
                                    "version": "2"}],
                       "aggregator": "vote"}],
            "tloc": 80, "crossRequest": 0, "crossLag": 0, "priority": 3,
        })

    def test_tbms_mix_try_returns_answer(self) -> None:
        self.fake.route("POST", TRY_PATH, body=MIX_RESPONSE)
        self.assertEqual(tbmsMixTry(self.client, TALK_MIXES, "q"), "Beijing")

    def test_tbms_mix_try_returns_empty_string_for_null_answer(self) -> None:
        self.fake.route("POST", TRY_PATH, body=NULL_RESPONSE)
        self.assertEqual(tbmsMixTry(self.client, TALK_MIXES, "q"), "")

    def test_try_mixes_returns_result(self) -> None:
        self.fake.route("POST", TRY_PATH, body=MIX_RESPONSE)
        result = try_mixes(self.client, tbmsMixList(TALK_MIXES), "q",
                           tloc=50, cross_request=1, cross_lag=10)
        self.assertIsInstance(result, TryResult)
        self.assertTrue(result.ok)
        self.assertEqual((result.model, result.rank, result.version),
                         ("mix1", 0, None))
        self.assertEqual(result.attempts,
                         [Attempt("mix1", 0, "succeeded", 35.1, 0.001)])

    def test_invalid_arguments_send_nothing(self) -> None:
        cases = {
            "bad mixes": (dict(mixes={"m": [{"svm": {}}]}), "exactly one"),
            "model list": (dict(mixes=tbmsList(TALK_MODELS)), "MixSpec"),
            "zero tloc": (dict(tloc=0), "tloc"),
            "negative crossLag": (dict(crossLag=-1), "crossLag"),
            "float priority": (dict(priority=0.5), "priority"),
            "int question": (dict(question=1), "question"),
        }
        for label, (overrides, message) in cases.items():
            args = dict(client=self.client, mixes=TALK_MIXES, question="q",
                        tloc=50)
            args.update(overrides)
            with self.subTest(label):
                with self.assertRaisesRegex(ValueError, message):
                    tbmsMixTry(**args)
        with self.assertRaisesRegex(ValueError, "timeout"):
            self.client.try_mixes(TALK_MIXES, "q", 50, timeout=-1)
        self.assertEqual(self.fake.requests, [])


class TaskTryTest(ServerTestCase):
    """tbmsTaskTry / try_task: only the given fields are sent."""

    def test_task_only_body(self) -> None:
        tbmsTaskTry(self.client, "qa", "question?")
        self.assertEqual(self.only_request().json(), {
            "inputs": {"question": "question?"}, "task": "qa"})

    def test_overrides_are_sent(self) -> None:
        tbmsTaskTry(self.client, "qa", "q", tloc=50, crossRequest=1,
                    crossLag=10, priority=0)
        self.assertEqual(self.only_request().json(), {
            "inputs": {"question": "q"}, "task": "qa", "tloc": 50,
            "crossRequest": 1, "crossLag": 10, "priority": 0})

    def test_some_overrides_and_inputs(self) -> None:
        self.client.try_task("qa", "q", cross_lag=5, priority=-2,
                             inputs={"lang": "zh"})
        self.assertEqual(self.only_request().json(), {
            "inputs": {"question": "q", "lang": "zh"}, "task": "qa",
            "crossLag": 5, "priority": -2})

    def test_hedge_is_sent_when_given_and_checked(self) -> None:
        self.client.try_task("qa", "q", hedge="expected")
        self.assertEqual(self.only_request().json(), {
            "inputs": {"question": "q"}, "task": "qa", "hedge": "expected"})
        self.fake.requests.clear()
        self.client.try_models(TALK_MODELS, "q", 50, hedge="at_risk")
        self.assertEqual(self.only_request().json()["hedge"], "at_risk")
        self.fake.requests.clear()
        with self.assertRaisesRegex(ValueError, "hedge"):
            self.client.try_models(TALK_MODELS, "q", 50, hedge="sometimes")
        self.assertEqual(self.fake.requests, [])

    def test_a_reply_too_large_is_a_transport_error(self) -> None:
        self.fake.route("POST", TRY_PATH, raw=b"x" * (tbms.transport.MAX_RESPONSE_BYTES + 1))
        with self.assertRaisesRegex(TbmsTransportError, "larger than"):
            self.client.try_models(TALK_MODELS, "q", 50)

    def test_answer_and_empty_answer(self) -> None:
        self.fake.route("POST", TRY_PATH, body=VERSION_RESPONSE)
        self.assertEqual(tbmsTaskTry(self.client, "qa", "q"), "Beijing")
        result = try_task(self.client, "qa", "q", tloc=50)
        self.assertEqual((result.model, result.version), ("svm", "2"))
        self.fake.route("POST", TRY_PATH, body=NULL_RESPONSE)
        self.assertEqual(tbmsTaskTry(self.client, "qa", "q"), "")

    def test_unknown_task_raises_bad_request(self) -> None:
        self.fake.route("POST", TRY_PATH, status=404,
                        body={"error": "unknown task 'qa2'"})
        with self.assertRaises(TbmsBadRequest) as caught:
            tbmsTaskTry(self.client, "qa2", "q")
        self.assertEqual(caught.exception.status, 404)

    def test_timeout_without_tloc(self) -> None:
        self.assertEqual(self.client._try_timeout(None, None),
                         DEFAULT_TASK_TIMEOUT_S)
        self.assertEqual(self.client._try_timeout(None, 0.3), 0.3)
        client = Client(self.fake.endpoint, "demo", "k", INSTANCE, timeout=2)
        self.assertEqual(client._try_timeout(None, None), 2)

    def test_invalid_arguments_send_nothing(self) -> None:
        cases = {
            "empty task": (dict(task=""), "task"),
            "blank task": (dict(task=" "), "task"),
            "int task": (dict(task=1), "task"),
            "None question": (dict(question=None), "question"),
            "zero tloc": (dict(tloc=0), "tloc"),
            "string tloc": (dict(tloc="50"), "tloc"),
            "negative crossRequest": (dict(crossRequest=-1), "crossRequest"),
            "nan crossLag": (dict(crossLag=math.nan), "crossLag"),
            "bool priority": (dict(priority=True), "priority"),
        }
        for label, (overrides, message) in cases.items():
            args = dict(client=self.client, task="qa", question="q")
            args.update(overrides)
            with self.subTest(label):
                with self.assertRaisesRegex(ValueError, message):
                    tbmsTaskTry(**args)
        self.assertEqual(self.fake.requests, [])


class ErrorTest(ServerTestCase):
    """Error statuses and transport failures."""

    def test_400_raises_bad_request_with_server_message(self) -> None:
        self.fake.route("POST", TRY_PATH, status=400,
                        body={"error": "tloc must be > 0"})
        with self.assertRaises(TbmsBadRequest) as caught:
            tbmsTry(self.client, TALK_MODELS, "q")
        self.assertEqual(caught.exception.status, 400)
        self.assertEqual(caught.exception.message, "tloc must be > 0")
        self.assertEqual(str(caught.exception), "TBMS 400: tloc must be > 0")
        self.assertIsInstance(caught.exception, TbmsHTTPError)

    def test_500_raises_http_error(self) -> None:
        self.fake.route("POST", TRY_PATH, status=500,
                        body={"error": "model crashed"})
        with self.assertRaises(TbmsHTTPError) as caught:
            self.client.try_models(TALK_MODELS, "q", 50)
        self.assertNotIsInstance(caught.exception, TbmsBadRequest)
        self.assertEqual(caught.exception.status, 500)
        self.assertEqual(str(caught.exception), "TBMS 500: model crashed")

    def test_error_without_json_body_uses_text(self) -> None:
        self.fake.route("POST", TRY_PATH, status=502, raw=b"Bad gateway")
        with self.assertRaises(TbmsHTTPError) as caught:
            self.client.try_models(TALK_MODELS, "q", 50)
        self.assertEqual(str(caught.exception), "TBMS 502: Bad gateway")

    def test_bad_json_raises_transport_error(self) -> None:
        self.fake.route("POST", TRY_PATH, raw=b"not json")
        with self.assertRaises(TbmsTransportError) as caught:
            self.client.try_models(TALK_MODELS, "q", 50)
        self.assertNotIsInstance(caught.exception, TbmsTimeout)
        self.assertIn("invalid response", str(caught.exception))

    def test_malformed_attempts_raise_transport_error(self) -> None:
        self.fake.route("POST", TRY_PATH,
                        body=dict(FULL_RESPONSE, attempts="none"))
        with self.assertRaises(TbmsTransportError):
            self.client.try_models(TALK_MODELS, "q", 50)

    def test_connection_refused_raises_transport_error(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = Client(f"http://127.0.0.1:{port}", "demo", "k", INSTANCE)
        self.addCleanup(client.close)
        with self.assertRaises(TbmsTransportError) as caught:
            client.try_models(TALK_MODELS, "q", 50)
        self.assertNotIsInstance(caught.exception, TbmsTimeout)
        self.assertIn(f"127.0.0.1:{port}", str(caught.exception))
        with self.assertRaises(TbmsTransportError):
            client.live()

    def test_server_not_answering_raises_timeout(self) -> None:
        self.fake.route("POST", TRY_PATH, block=True)
        self.fake.route("GET", LIVE_PATH, body={})
        with self.assertRaises(TbmsTimeout) as caught:
            self.client.try_models(TALK_MODELS, "q", 50, timeout=0.2)
        self.assertIsInstance(caught.exception, TbmsTransportError)
        self.assertIn("0.2 s", str(caught.exception))
        self.assertTrue(self.client.live())  # usable again afterwards

    def test_exception_hierarchy(self) -> None:
        for cls in (TbmsTransportError, TbmsTimeout, TbmsHTTPError,
                    TbmsBadRequest):
            self.assertTrue(issubclass(cls, TbmsError))


class ConnectionTest(ServerTestCase):
    """Keep-alive handling and timeouts."""

    def test_keep_alive_reuses_one_connection(self) -> None:
        self.client.try_models(TALK_MODELS, "q1", 50)
        self.client.try_models(TALK_MODELS, "q2", 50)
        first, second = self.fake.requests
        self.assertEqual(first.client_address, second.client_address)
        self.assertEqual(self.fake.connections, 1)

    def test_reconnects_when_server_closed_idle_connection(self) -> None:
        self.fake.route("POST", TRY_PATH, body=FULL_RESPONSE, close=True)
        self.assertTrue(self.client.try_models(TALK_MODELS, "q1", 50).ok)
        self.assertTrue(self.client.try_models(TALK_MODELS, "q2", 50).ok)
        self.assertEqual(len(self.fake.requests), 2)
        self.assertEqual(self.fake.connections, 2)

    def test_retries_once_when_stale_connection_is_not_detected(self) -> None:
        self.fake.route("POST", TRY_PATH, body=FULL_RESPONSE, close=True)
        with mock.patch("tbms.client._socket_is_stale", return_value=False):
            self.assertTrue(self.client.try_models(TALK_MODELS, "q1", 50).ok)
            self.assertTrue(self.client.try_models(TALK_MODELS, "q2", 50).ok)
        self.assertEqual([r.json()["inputs"]["question"]
                          for r in self.fake.requests], ["q1", "q2"])

    def test_default_timeout_derives_from_tloc(self) -> None:
        self.assertAlmostEqual(self.client._try_timeout(50, None), 1.05)
        self.assertEqual(self.client._try_timeout(50, 0.3), 0.3)
        client = Client(self.fake.endpoint, "demo", "k", INSTANCE, timeout=2)
        self.assertEqual(client._try_timeout(50, None), 2)
        self.assertEqual(client._try_timeout(50, 0.3), 0.3)

    def test_context_manager_closes(self) -> None:
        self.fake.route("GET", LIVE_PATH, body={})
        with Client(self.fake.endpoint, "demo", "k", INSTANCE) as client:
            self.assertTrue(client.live())
            self.assertIsNotNone(client._conn)
        self.assertIsNone(client._conn)


class HealthTest(ServerTestCase):
    """live() and ready()."""

    def test_live_and_ready(self) -> None:
        self.fake.route("GET", LIVE_PATH, body={})
        self.fake.route("GET", READY_PATH, body={})
        self.assertTrue(self.client.live())
        self.assertTrue(self.client.ready())
        self.assertEqual([r.path for r in self.fake.requests],
                         [LIVE_PATH, READY_PATH])
        self.assertEqual(self.fake.requests[0].method, "GET")
        for request in self.fake.requests:
            self.assertIsNone(request.auth_problem({"demo": "demo-key"}))

    def test_ready_false_when_draining(self) -> None:
        self.fake.route("GET", LIVE_PATH, body={})
        self.fake.route("GET", READY_PATH, status=503,
                        body={"error": "draining"})
        self.assertFalse(self.client.ready())
        self.assertTrue(self.client.live())
        self.assertEqual(self.fake.connections, 1)


# docs/security.md, "Worked example".
VECTOR_ID = "demo-id"
VECTOR_KEY = "demo-secret-key-0123456789"
VECTOR_TARGET = "/v1/instances/nianjianQA/try"
VECTOR_TIMESTAMP = 1764390000
VECTOR_NONCE = "4f3c2a1b9d8e7f60"
VECTOR_BODY = (b'{"inputs":{"question":"What is the capital of China?"},'
               b'"task":"qa"}')
VECTOR_STRING_TO_SIGN = (
    "TBMS-HMAC-SHA256\n"
    "POST\n"
    "/v1/instances/nianjianQA/try\n"
    "1764390000\n"
    "4f3c2a1b9d8e7f60\n"
    "e1cde46df15cae344a2c5ad090a20a11231bb3e75d99718029b28627437db959")
VECTOR_SIGNATURE = (
    "7bad50815413ff8d8c90f81d54bde9d9e95a19d624e2129799121ad9e3ca2575")
EMPTY_SHA256 = (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
SECRET = "s3cret-key-that-must-never-show"


class SigningTest(unittest.TestCase):
    """The pure signing functions against docs/security.md."""

    def test_documented_test_vector(self) -> None:
        self.assertEqual(
            string_to_sign("POST", VECTOR_TARGET, VECTOR_TIMESTAMP,
                           VECTOR_NONCE, VECTOR_BODY),
            VECTOR_STRING_TO_SIGN)
        self.assertEqual(
            sign(VECTOR_KEY, "POST", VECTOR_TARGET, VECTOR_TIMESTAMP,
                 VECTOR_NONCE, VECTOR_BODY),
            VECTOR_SIGNATURE)

    def test_documented_header(self) -> None:
        self.assertEqual(AUTH_SCHEME, "TBMS-HMAC-SHA256")
        self.assertEqual(
            authorization_header(VECTOR_ID, VECTOR_KEY, "POST",
                                 VECTOR_TARGET, VECTOR_BODY,
                                 timestamp=VECTOR_TIMESTAMP,
                                 nonce=VECTOR_NONCE),
            f"TBMS-HMAC-SHA256 Credential=demo-id, Timestamp=1764390000, "
            f"Nonce=4f3c2a1b9d8e7f60, Signature={VECTOR_SIGNATURE}")

    def test_client_sign_reproduces_the_vector(self) -> None:
        client = Client("http://127.0.0.1:1", VECTOR_ID, VECTOR_KEY, INSTANCE)
        with mock.patch("tbms.client.time.time",
                        return_value=VECTOR_TIMESTAMP + 0.9), \
                mock.patch("tbms.client.secrets.token_hex",
                           return_value=VECTOR_NONCE) as token_hex:
            headers = client._sign("POST", VECTOR_TARGET, VECTOR_BODY)
        token_hex.assert_called_once_with(16)
        fields = parse_authorization(headers["Authorization"])
        self.assertEqual(list(headers), ["Authorization"])
        self.assertEqual((fields["id"], fields["ts"], fields["nonce"],
                          fields["sig"]),
                         (VECTOR_ID, str(VECTOR_TIMESTAMP), VECTOR_NONCE,
                          VECTOR_SIGNATURE))

    def test_empty_body_and_method_case(self) -> None:
        text = string_to_sign("get", "/v2/health/live?x=1", 5, "nonce-01",
                              b"")
        self.assertEqual(text.split("\n"), [
            "TBMS-HMAC-SHA256", "GET", "/v2/health/live?x=1", "5",
            "nonce-01", EMPTY_SHA256])
        body = b" {}\n"  # hashed byte for byte, whitespace included
        self.assertEqual(
            string_to_sign("POST", "/", 5, "nonce-01", body).split("\n")[-1],
            hashlib.sha256(body).hexdigest())

    def test_fresh_timestamp_and_nonce(self) -> None:
        before = int(time.time())
        first = parse_authorization(
            authorization_header("id", "key", "GET", "/", b""))
        second = parse_authorization(
            authorization_header("id", "key", "GET", "/", b""))
        self.assertLessEqual(before, int(first["ts"]))
        self.assertLessEqual(int(first["ts"]), time.time())
        self.assertRegex(first["nonce"], r"\A[0-9a-f]{32}\Z")
        self.assertNotEqual(first["nonce"], second["nonce"])

    def test_bad_timestamp_or_nonce(self) -> None:
        cases = {
            "float timestamp": dict(timestamp=1.5),
            "negative timestamp": dict(timestamp=-1),
            "bool timestamp": dict(timestamp=True),
            "short nonce": dict(nonce="abc"),
            "long nonce": dict(nonce="a" * 65),
            "comma in nonce": dict(nonce="abcdefgh, Signature=00"),
        }
        for label, overrides in cases.items():
            args = dict(timestamp=1, nonce="abcdefgh")
            args.update(overrides)
            with self.subTest(label):
                with self.assertRaises(ValueError):
                    authorization_header("id", "key", "GET", "/", b"",
                                         **args)

    def test_verifier_rejects_tampering(self) -> None:
        """The test's verifier must fail on a wrong key, body or target,
        or the signed-request tests below would prove nothing."""
        header = authorization_header(VECTOR_ID, VECTOR_KEY, "POST",
                                      VECTOR_TARGET, VECTOR_BODY)
        headers = {"Authorization": header}
        keys = {VECTOR_ID: VECTOR_KEY}
        self.assertIsNone(auth_problem("POST", VECTOR_TARGET, headers,
                                       VECTOR_BODY, keys))
        cases = {
            "wrong key": ("POST", VECTOR_TARGET, VECTOR_BODY,
                          {VECTOR_ID: VECTOR_KEY + "x"}),
            "other id": ("POST", VECTOR_TARGET, VECTOR_BODY, {"x": "y"}),
            "body": ("POST", VECTOR_TARGET, VECTOR_BODY + b" ", keys),
            "target": ("POST", VECTOR_TARGET + "?a=1", VECTOR_BODY, keys),
            "method": ("GET", VECTOR_TARGET, VECTOR_BODY, keys),
        }
        for label, (method, target, body, case_keys) in cases.items():
            with self.subTest(label):
                self.assertIsNotNone(auth_problem(method, target, headers,
                                                  body, case_keys))
        self.assertEqual(auth_problem("POST", VECTOR_TARGET, headers,
                                      VECTOR_BODY, keys,
                                      now=time.time() + 301),
                         "stale timestamp")


class SignedRequestTest(ServerTestCase):
    """Every request the client sends carries a valid signature."""

    KEYS = {"demo": "demo-key"}

    def setUp(self) -> None:
        super().setUp()
        self.fake.keys = dict(self.KEYS)  # the fake now answers 401 if bad
        self.fake.route("GET", LIVE_PATH, body={})
        self.fake.route("GET", READY_PATH, body={})

    def assert_all_signed(self, expected_count: int) -> None:
        self.assertEqual(len(self.fake.requests), expected_count)
        for request in self.fake.requests:
            with self.subTest(method=request.method, path=request.path):
                self.assertIsNone(request.auth_problem(self.KEYS))
                self.assertNotIn("X-TBMS-Access-Id", request.headers)

    def test_every_kind_of_request_is_signed(self) -> None:
        self.assertTrue(self.client.try_models(TALK_MODELS, "q", 50).ok)
        self.assertTrue(self.client.try_mixes(TALK_MIXES, "q", 50).ok)
        self.assertTrue(self.client.try_task("qa", "q").ok)
        self.assertEqual(tbmsTry(self.client, TALK_MODELS, "q"), "Beijing")
        self.assertTrue(self.client.live())
        self.assertTrue(self.client.ready())
        self.assert_all_signed(6)
        self.assertEqual([r.method for r in self.fake.requests],
                         ["POST"] * 4 + ["GET"] * 2)

    def test_target_includes_prefix_and_quoted_instance(self) -> None:
        path = "/tbms/v1/instances/my%20qa%2F1/try"
        self.fake.route("POST", path, body=FULL_RESPONSE)
        with Client(self.fake.endpoint + "/tbms/", "demo", "demo-key",
                    "my qa/1") as client:
            self.assertTrue(client.try_models({"svm": 25}, "q", 50).ok)
        self.assertEqual(self.only_request().path, path)
        self.assert_all_signed(1)

    def test_reconnect_is_signed(self) -> None:
        self.fake.route("POST", TRY_PATH, body=FULL_RESPONSE, close=True)
        self.client.try_models(TALK_MODELS, "q1", 50)
        self.client.try_models(TALK_MODELS, "q2", 50)
        self.assert_all_signed(2)

    def test_retry_on_stale_connection_is_signed_afresh(self) -> None:
        self.fake.route("POST", TRY_PATH, body=FULL_RESPONSE, close=True)
        nonces = iter(["nonce-first", "nonce-lost", "nonce-retry"])
        with mock.patch("tbms.client._socket_is_stale", return_value=False), \
                mock.patch("tbms.client.secrets.token_hex",
                           side_effect=lambda _: next(nonces)):
            self.assertTrue(self.client.try_models(TALK_MODELS, "q1", 50).ok)
            self.assertTrue(self.client.try_models(TALK_MODELS, "q2", 50).ok)
        self.assert_all_signed(2)  # the lost attempt never reached it
        self.assertEqual(
            [parse_authorization(r.headers["Authorization"])["nonce"]
             for r in self.fake.requests], ["nonce-first", "nonce-retry"])

    def test_each_request_has_its_own_nonce(self) -> None:
        self.client.try_models(TALK_MODELS, "q", 50)
        self.client.try_models(TALK_MODELS, "q", 50)
        first, second = [parse_authorization(r.headers["Authorization"])
                         for r in self.fake.requests]
        self.assertNotEqual(first["nonce"], second["nonce"])
        self.assertNotEqual(first["sig"], second["sig"])

    def test_wrong_key_is_refused(self) -> None:
        with Client(self.fake.endpoint, "demo", "other-key",
                    INSTANCE) as client:
            with self.assertRaises(TbmsAuthError) as caught:
                client.try_models(TALK_MODELS, "q", 50)
        self.assertEqual(str(caught.exception), "TBMS 401: bad signature")


class AuthErrorTest(ServerTestCase):
    """401 and 403 raise TbmsAuthError, other 4xx TbmsBadRequest."""

    def test_401_and_403(self) -> None:
        for status, message in ((401, "unknown access id 'demo'"),
                                (403, "key not valid for instance 'x'")):
            self.fake.route("POST", TRY_PATH, status=status,
                            body={"error": message})
            with self.subTest(status):
                with self.assertRaises(TbmsAuthError) as caught:
                    tbmsTry(self.client, TALK_MODELS, "q")
                self.assertIsInstance(caught.exception, TbmsBadRequest)
                self.assertEqual(caught.exception.status, status)
                self.assertEqual(caught.exception.message, message)

    def test_other_4xx_is_not_an_auth_error(self) -> None:
        self.fake.route("POST", TRY_PATH, status=429,
                        body={"error": "too many requests"})
        with self.assertRaises(TbmsBadRequest) as caught:
            self.client.try_models(TALK_MODELS, "q", 50)
        self.assertNotIsInstance(caught.exception, TbmsAuthError)

    def test_health_check_refused_is_false(self) -> None:
        self.fake.route("GET", LIVE_PATH, status=401,
                        body={"error": "bad signature"})
        self.assertFalse(self.client.live())


class SecretTest(ServerTestCase):
    """The access key is never shown."""

    def assert_hidden(self, text: str) -> None:
        self.assertNotIn(SECRET, text)
        self.assertNotIn(SECRET[:12], text)

    def test_repr_and_str(self) -> None:
        client = Client(self.fake.endpoint, "demo", SECRET, INSTANCE)
        self.assert_hidden(repr(client))
        self.assert_hidden(str(client))
        self.assertIn("demo", repr(client))

    def test_not_sent(self) -> None:
        with Client(self.fake.endpoint, "demo", SECRET, INSTANCE) as client:
            client.try_models(TALK_MODELS, "q", 50)
        request = self.only_request()
        self.assert_hidden(str(request.headers))
        self.assert_hidden(request.body.decode())

    def raised_by(self, endpoint: str, **kwargs: Any) -> TbmsError:
        with Client(endpoint, "demo", SECRET, INSTANCE) as client:
            with self.assertRaises(TbmsError) as caught:
                client.try_models(TALK_MODELS, "q", 50, **kwargs)
        return caught.exception

    def test_error_messages(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            refused = f"http://127.0.0.1:{probe.getsockname()[1]}"
        errors = {"refused": self.raised_by(refused)}
        self.fake.route("POST", TRY_PATH, status=401,
                        body={"error": "bad signature"})
        errors["401"] = self.raised_by(self.fake.endpoint)
        self.fake.route("POST", TRY_PATH, block=True)
        errors["timeout"] = self.raised_by(self.fake.endpoint, timeout=0.1)
        for label, error in errors.items():
            with self.subTest(label):
                self.assert_hidden(str(error))
                self.assert_hidden(repr(error))
        self.assertIsInstance(errors["timeout"], TbmsTimeout)
        self.assertIsInstance(errors["401"], TbmsAuthError)

    def test_bad_key_errors_do_not_echo_it(self) -> None:
        for key in (SECRET + "\n", SECRET + "\udc80"):
            with self.subTest(repr(key[-1])):
                with self.assertRaises(ValueError) as caught:
                    Client(self.fake.endpoint, "demo", key, INSTANCE)
                self.assertIn("access_key", str(caught.exception))
                self.assert_hidden(str(caught.exception))
                self.assertIsNone(caught.exception.__context__)
        with self.assertRaises(ValueError) as caught:
            Client(self.fake.endpoint, "de\nmo", SECRET, INSTANCE)
        self.assert_hidden(str(caught.exception))


class EndpointTest(unittest.TestCase):
    """An endpoint keeps only what the client sends: a path prefix is kept
    (a proxy routing it), a query, fragment or password would be dropped, so
    they are refused."""

    def test_what_would_be_dropped_is_refused(self) -> None:
        for endpoint, message in (("http://127.0.0.1:8000/?x=1", "query or fragment"),
                                  ("http://127.0.0.1:8000#top", "query or fragment"),
                                  ("http://u:p@127.0.0.1:8000", "user:password")):
            with self.subTest(endpoint):
                with self.assertRaisesRegex(ValueError, message):
                    Client(endpoint, "demo", "k" * 16, "inst")


class AccessIdTest(unittest.TestCase):
    """An access id the header could not carry is refused before sending."""

    def test_ids_outside_the_servers_rule(self) -> None:
        for bad in ("a b", "a,b", "a=b", "x" * 129, "ü"):
            with self.subTest(bad):
                with self.assertRaisesRegex(ValueError, "access_id must be 1-128"):
                    Client("http://127.0.0.1:1", bad, "k", INSTANCE)
        Client("http://127.0.0.1:1", "team-a.key_1", "k", INSTANCE).close()


class TlsArgumentTest(unittest.TestCase):
    """ssl_context / ca_file need an https endpoint."""

    def test_refused_with_http(self) -> None:
        for kwargs in (dict(ssl_context=ssl.create_default_context()),
                       dict(ca_file="ca.pem")):
            with self.subTest(list(kwargs)):
                with self.assertRaisesRegex(ValueError, "https://"):
                    Client("http://127.0.0.1:1", "demo", "k", INSTANCE,
                           **kwargs)

    def test_bad_combinations(self) -> None:
        with self.assertRaisesRegex(ValueError, "not both"):
            Client("https://h:1", "demo", "k", INSTANCE,
                   ssl_context=ssl.create_default_context(), ca_file="x")
        with self.assertRaisesRegex(ValueError, "SSLContext"):
            Client("https://h:1", "demo", "k", INSTANCE, ssl_context="yes")
        with self.assertRaisesRegex(ValueError, "ca_file"):
            Client("https://h:1", "demo", "k", INSTANCE, ca_file="")
        with self.assertRaises(FileNotFoundError):
            Client("https://h:1", "demo", "k", INSTANCE,
                   ca_file="/nonexistent/ca.pem")

    def test_https_verifies_by_default(self) -> None:
        client = Client("https://h:1", "demo", "k", INSTANCE)
        context = client._ssl_context
        self.assertEqual(context.verify_mode, ssl.CERT_REQUIRED)
        self.assertTrue(context.check_hostname)
        own = ssl.create_default_context()
        client = Client("https://h:1", "demo", "k", INSTANCE,
                        ssl_context=own)
        self.assertIs(client._ssl_context, own)
        self.assertIsNone(Client("http://h:1", "demo", "k",
                                 INSTANCE)._ssl_context)


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
class HttpsTest(unittest.TestCase):
    """A signed try over TLS to a fake server with a self-signed cert."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory()
        cls.cert, cls.server_tls = self_signed_tls(cls.tmp.name)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def setUp(self) -> None:
        self.fake = FakeTbms(tls=self.server_tls).start()
        self.addCleanup(self.fake.stop)
        self.fake.keys = {"demo": "demo-key"}
        self.fake.route("POST", TRY_PATH, body=FULL_RESPONSE)
        self.assertTrue(self.fake.endpoint.startswith("https://"))

    def test_ca_file_trusts_self_signed_certificate(self) -> None:
        with Client(self.fake.endpoint, "demo", "demo-key", INSTANCE,
                    ca_file=self.cert) as client:
            self.assertEqual(tbmsTry(client, TALK_MODELS, "q"), "Beijing")
            self.assertTrue(client.try_models(TALK_MODELS, "q", 50).ok)
        self.assertEqual(self.fake.connections, 1)
        for request in self.fake.requests:
            self.assertIsNone(request.auth_problem(self.fake.keys))

    def test_ssl_context(self) -> None:
        context = ssl.create_default_context(cafile=self.cert)
        with Client(self.fake.endpoint, "demo", "demo-key", INSTANCE,
                    ssl_context=context) as client:
            self.assertTrue(client.try_models(TALK_MODELS, "q", 50).ok)

    def test_talk_example_with_ca_file(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("TBMS_")}
        env.update(TalkExampleTest.CREDENTIALS)
        done = subprocess.run(
            [sys.executable, TalkExampleTest.SCRIPT, "--endpoint",
             self.fake.endpoint, "--ca-file", self.cert, "q"],
            capture_output=True, text=True, timeout=30, check=False,
            env=env)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.splitlines(), ["Beijing", "Beijing"])

    def test_unknown_certificate_is_refused(self) -> None:
        with Client(self.fake.endpoint, "demo", "demo-key",
                    INSTANCE) as client:
            with self.assertRaisesRegex(TbmsTransportError,
                                        "CERTIFICATE_VERIFY_FAILED"):
                client.try_models(TALK_MODELS, "q", 50)
        self.assertEqual(self.fake.requests, [])


class ModelListTest(unittest.TestCase):
    """tbmsList / model_list."""

    def test_dict_keeps_order(self) -> None:
        specs = tbmsList(TALK_MODELS)
        self.assertEqual([s.name for s in specs],
                         ["embedding", "svm", "bayes", "keysearch"])
        self.assertEqual([s.est for s in specs], [35, 25, 15, 5])

    def test_accepted_forms_are_equivalent(self) -> None:
        expected = [ModelSpec("svm", 25), ModelSpec("bayes", 15.5, "v2")]
        forms = [
            {"svm": {"est": 25}, "bayes": {"est": 15.5, "version": "v2"}},
            {"svm": 25, "bayes": {"est": 15.5, "version": "v2"}},
            [("svm", 25), ("bayes", 15.5, "v2")],
            [{"name": "svm", "est": 25},
             {"name": "bayes", "est": 15.5, "version": "v2"}],
            expected,
        ]
        for form in forms:
            with self.subTest(form=form):
                self.assertEqual(model_list(form), expected)

    def test_to_json(self) -> None:
        self.assertEqual(ModelSpec("svm", 25).to_json(),
                         {"name": "svm", "est": 25})
        self.assertEqual(ModelSpec("svm", 25, "2").to_json(),
                         {"name": "svm", "est": 25, "version": "2"})
        self.assertEqual(ModelSpec("svm").to_json(), {"name": "svm"})
        self.assertEqual(ModelSpec("svm", version="2").to_json(),
                         {"name": "svm", "version": "2"})

    def test_est_may_be_zero_or_left_to_the_server(self) -> None:
        # As the server's models[].est: a number >= 0, or none (the model's own).
        self.assertEqual(tbmsList({"svm": {}})[0].to_json(), {"name": "svm"})
        self.assertEqual(tbmsList([("svm", 0)])[0].est, 0)

    def test_invalid_lists(self) -> None:
        cases = {
            "negative est": ([("svm", -1)], "est must be a number >= 0"),
            "string est": ({"svm": {"est": "25"}}, "est must be a number >= 0"),
            "bool est": ({"svm": {"est": True}}, "est must be a number >= 0"),
            "nan est": ({"svm": {"est": math.nan}}, "est must be a number >= 0"),
            "empty name": ({"": {"est": 5}}, "non-empty string"),
            "blank name": ([{"name": " ", "est": 5}], "non-empty string"),
            "int name": ([(3, 5)], "non-empty string"),
            "unknown field": ({"svm": {"ets": 5}}, "unknown field"),
            "bad version": ([("svm", 5, 2)], "version must be a string"),
            "empty": ({}, "empty"),
            "duplicate": ([("svm", 5), ("svm", 6)], "duplicate"),
            "string": ("svm", "models must be"),
            "number": (5, "models must be"),
            "bad item": (["svm"], "each model must be"),
        }
        for label, (models, message) in cases.items():
            with self.subTest(label):
                with self.assertRaisesRegex(ValueError, message):
                    tbmsList(models)


class MixListTest(unittest.TestCase):
    """tbmsMixList / mix_list."""

    def test_talk_mixes(self) -> None:
        mixes = tbmsMixList(TALK_MIXES)
        self.assertEqual(mixes, [
            MixSpec("mix1", (ModelSpec("embedding", 35), ModelSpec("svm", 25)),
                    "max"),
            MixSpec("mix2", (ModelSpec("bayes", 15),
                             ModelSpec("keysearch", 5)), "avg"),
        ])
        self.assertEqual([mix.to_json() for mix in mixes], TALK_MIXES_JSON)

    def test_accepted_forms_are_equivalent(self) -> None:
        expected = [MixSpec("m", (ModelSpec("svm", 25),
                                  ModelSpec("bayes", None, "2"),
                                  ModelSpec("keysearch", 0)), "vote")]
        forms = [
            {"m": [{"svm": {"est": 25}}, {"bayes": {"version": "2"}},
                   {"keysearch": {"est": 0}}, {"mix": "vote"}]},
            {"m": ({"mix": "vote"}, {"svm": 25}, {"bayes": {"version": "2"}},
                   {"keysearch": 0})},
            expected,
        ]
        for form in forms:
            with self.subTest(form=form):
                self.assertEqual(mix_list(form), expected)

    def test_member_without_est_is_sent_without_est(self) -> None:
        (mix,) = mix_list({"m": [{"svm": {}}, {"mix": "max"}]})
        self.assertIsNone(mix.members[0].est)
        self.assertEqual(mix.to_json(), {
            "name": "m", "members": [{"name": "svm"}], "aggregator": "max"})

    def test_thirty_two_members_allowed(self) -> None:
        entries = [{f"m{i}": {"est": i}} for i in range(32)]
        (mix,) = mix_list({"big": entries + [{"mix": "avg"}]})
        self.assertEqual(len(mix.members), 32)

    def test_invalid_mixes(self) -> None:
        too_many = [{f"m{i}": {"est": 1}} for i in range(33)]
        cases = {
            "empty": ({}, "mix list is empty"),
            "empty list": ([], "mix list is empty"),
            "string": ("mix1", "mixes must be"),
            "number": (5, "mixes must be"),
            "list of dicts": ([{"mix1": []}], "MixSpec"),
            "empty mix name": ({"": [{"svm": {}}, {"mix": "max"}]},
                               "mix name must be a non-empty string"),
            "int mix name": ({1: [{"svm": {}}, {"mix": "max"}]},
                             "mix name must be a non-empty string"),
            "mix not a list": ({"m": {"svm": {}, "mix": "max"}},
                               "must be a list"),
            "mix a string": ({"m": "svm"}, "must be a list"),
            "no models": ({"m": [{"mix": "max"}]}, "has no models"),
            "no entries": ({"m": []}, "exactly one"),
            "33 models": ({"m": too_many + [{"mix": "max"}]},
                          "33 models, at most 32"),
            "two-key entry": ({"m": [{"svm": {}, "bayes": {}},
                                     {"mix": "max"}]}, "one-key dict"),
            "empty entry": ({"m": [{}, {"mix": "max"}]}, "one-key dict"),
            "string entry": ({"m": ["svm", {"mix": "max"}]}, "one-key dict"),
            "no mix entry": ({"m": [{"svm": {}}]}, "exactly one .* got 0"),
            "two mix entries": ({"m": [{"svm": {}}, {"mix": "max"},
                                       {"mix": "avg"}]},
                                "exactly one .* got 2"),
            "unknown aggregator": ({"m": [{"svm": {}}, {"mix": "min"}]},
                                   "aggregator must be one of max, avg, "
                                   "vote, got 'min'"),
            "aggregator case": ({"m": [{"svm": {}}, {"mix": "MAX"}]},
                                "aggregator"),
            "aggregator dict": ({"m": [{"svm": {}}, {"mix": {"est": 1}}]},
                                "aggregator"),
            "empty model name": ({"m": [{"": {}}, {"mix": "max"}]},
                                 "model name must be a non-empty string"),
            "blank model name": ({"m": [{" ": {}}, {"mix": "max"}]},
                                 "model name must be a non-empty string"),
            "int model name": ({"m": [{3: {}}, {"mix": "max"}]},
                               "model name must be a non-empty string"),
            "negative est": ({"m": [{"svm": {"est": -1}}, {"mix": "max"}]},
                             "est must be a number >= 0"),
            "string est": ({"m": [{"svm": {"est": "25"}}, {"mix": "max"}]},
                           "est must be a number >= 0"),
            "bool est": ({"m": [{"svm": {"est": True}}, {"mix": "max"}]},
                         "est must be a number >= 0"),
            "inf est": ({"m": [{"svm": {"est": math.inf}}, {"mix": "max"}]},
                        "est must be a number >= 0"),
            "shorthand string est": ({"m": [{"svm": "25"}, {"mix": "max"}]},
                                     "est must be a number >= 0"),
            "None model": ({"m": [{"svm": None}, {"mix": "max"}]},
                           "must map to"),
            "unknown field": ({"m": [{"svm": {"ets": 5}}, {"mix": "max"}]},
                              r"unknown field\(s\) \['ets'\]"),
            "name field": ({"m": [{"svm": {"name": "x"}}, {"mix": "max"}]},
                           "unknown field"),
            "bad version": ({"m": [{"svm": {"version": 2}}, {"mix": "max"}]},
                            "version must be a string"),
            "duplicate spec": ([MixSpec("m", (ModelSpec("svm"),), "max")] * 2,
                               "duplicate mix 'm'"),
            "spec bad member": ([MixSpec("m", ("svm",), "max")],
                                "ModelSpec"),
            "spec bad aggregator": ([MixSpec("m", (ModelSpec("svm"),), "x")],
                                    "aggregator"),
        }
        for label, (spec, message) in cases.items():
            with self.subTest(label):
                with self.assertRaisesRegex(ValueError, message):
                    tbmsMixList(spec)

    def test_errors_name_the_mix_and_model(self) -> None:
        with self.assertRaises(ValueError) as caught:
            mix_list({"mix2": [{"bayes": {"est": -1}}, {"mix": "avg"}]})
        self.assertEqual(
            str(caught.exception),
            "mix 'mix2': model 'bayes': est must be a number >= 0 of "
            "milliseconds, got -1")


class ArgumentValidationTest(ServerTestCase):
    """Invalid try arguments raise ValueError and send nothing."""

    def test_invalid_try_arguments(self) -> None:
        cases = {
            "zero tloc": (dict(tloc=0), "tloc"),
            "negative tloc": (dict(tloc=-5), "tloc"),
            "string tloc": (dict(tloc="50"), "tloc"),
            "inf tloc": (dict(tloc=math.inf), "tloc"),
            "negative crossRequest": (dict(crossRequest=-1), "crossRequest"),
            "float crossRequest": (dict(crossRequest=1.5), "crossRequest"),
            "negative crossLag": (dict(crossLag=-1), "crossLag"),
            "float priority": (dict(priority=1.5), "priority"),
            "string priority": (dict(priority="0"), "priority"),
            "None question": (dict(question=None), "question"),
            "int question": (dict(question=12), "question"),
            "bad models": (dict(models={"svm": {"est": -1}}), "est"),
        }
        for label, (overrides, message) in cases.items():
            args = dict(client=self.client, models=TALK_MODELS,
                        question="q", tloc=50)
            args.update(overrides)
            with self.subTest(label):
                with self.assertRaisesRegex(ValueError, message):
                    tbmsTry(**args)
        self.assertEqual(self.fake.requests, [])

    def test_invalid_pep8_arguments(self) -> None:
        with self.assertRaisesRegex(ValueError, "timeout"):
            self.client.try_models(TALK_MODELS, "q", 50, timeout=0)
        with self.assertRaisesRegex(ValueError, "inputs"):
            self.client.try_models(TALK_MODELS, "q", 50,
                                   inputs={"question": "other"})
        self.assertEqual(self.fake.requests, [])

    def test_invalid_client_arguments(self) -> None:
        with self.assertRaisesRegex(ValueError, "endpoint"):
            Client("127.0.0.1:8000", "demo", "k", INSTANCE)
        with self.assertRaisesRegex(ValueError, "endpoint"):
            Client("ftp://host", "demo", "k", INSTANCE)
        with self.assertRaisesRegex(ValueError, "instance"):
            Client("http://h:1", "demo", "k", "")
        with self.assertRaisesRegex(ValueError, "access_id"):
            Client("http://h:1", "de\nmo", "k", INSTANCE)
        with self.assertRaisesRegex(ValueError, "timeout"):
            Client("http://h:1", "demo", "k", INSTANCE, timeout=-1)

    def test_repr_hides_access_key(self) -> None:
        self.assertNotIn("demo-key", repr(self.client))
        self.assertIn("demo", repr(self.client))


class ApiTest(unittest.TestCase):
    """Talk names are aliases of the PEP 8 names."""

    def test_aliases(self) -> None:
        self.assertIs(tbms.tbmsClient, tbms.Client)
        self.assertIs(tbms.tbmsList, tbms.model_list)
        self.assertIs(tbms.tbmsMixList, tbms.mix_list)
        for name in tbms.__all__:
            self.assertTrue(hasattr(tbms, name), name)


class TalkExampleTest(ServerTestCase):
    """examples/talk_example.py end to end (the fake checks signatures)."""

    SCRIPT = os.path.join(PYTHON_DIR, "examples", "talk_example.py")
    CREDENTIALS = {"TBMS_ACCESS_ID": "demo", "TBMS_ACCESS_KEY": "demo-key"}

    def setUp(self) -> None:
        super().setUp()
        self.fake.keys = {"demo": "demo-key"}

    def run_example(self, *args: str,
                    env: Optional[dict] = None) -> subprocess.CompletedProcess:
        """Run the example with ``env`` (default: the demo credentials) as
        its only TBMS_ variables, whatever the caller's environment."""
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith("TBMS_")}
        clean.update(self.CREDENTIALS if env is None else env)
        return subprocess.run(
            [sys.executable, self.SCRIPT, *args], capture_output=True,
            text=True, timeout=30, check=False, env=clean)

    def key_file(self, content: str) -> str:
        handle, path = tempfile.mkstemp(prefix="tbms-key-")
        self.addCleanup(os.remove, path)
        with os.fdopen(handle, "w", encoding="utf-8") as key_file:
            key_file.write(content)
        return path

    def test_prints_answers_of_models_then_mixes(self) -> None:
        done = self.run_example("--endpoint", self.fake.endpoint,
                                "What", "is", "the", "capital?")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.splitlines(), ["Beijing", "Beijing"])
        models, mixes = [r.json() for r in self.fake.requests]
        for body in (models, mixes):
            self.assertEqual(body["inputs"],
                             {"question": "What is the capital?"})
            self.assertEqual((body["tloc"], body["crossRequest"],
                              body["crossLag"], body["priority"]),
                             (50, 1, 10, 0))
        self.assertEqual(len(models["models"]), 4)
        self.assertEqual(mixes["mixes"], TALK_MIXES_JSON)
        self.assertNotIn("models", mixes)

    def test_prints_human_assist_without_answer(self) -> None:
        self.fake.route("POST", TRY_PATH, body=NULL_RESPONSE)
        done = self.run_example("--endpoint", self.fake.endpoint, "q")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.splitlines(),
                         ["human assist", "human assist"])

    def test_server_error_exits_1(self) -> None:
        self.fake.route("POST", TRY_PATH, status=400,
                        body={"error": "unknown model 'embedding'"})
        done = self.run_example("--endpoint", self.fake.endpoint, "q")
        self.assertEqual(done.returncode, 1)
        self.assertIn("TBMS 400: unknown model 'embedding'", done.stderr)

    def test_help(self) -> None:
        done = self.run_example("--help", env={"TBMS_ACCESS_KEY": SECRET})
        self.assertEqual(done.returncode, 0)
        for flag in ("--endpoint", "--access-key-file", "--ca-file",
                     "TBMS_ACCESS_KEY"):
            self.assertIn(flag, done.stdout)
        self.assertNotIn(SECRET, done.stdout)

    def test_missing_credentials_are_usage_errors(self) -> None:
        cases = {
            "no key": ({"TBMS_ACCESS_ID": "demo"}, "no access key"),
            "empty key": ({"TBMS_ACCESS_ID": "demo", "TBMS_ACCESS_KEY": ""},
                          "no access key"),
            "no id": ({"TBMS_ACCESS_KEY": "demo-key"}, "no access id"),
        }
        for label, (env, message) in cases.items():
            with self.subTest(label):
                done = self.run_example("--endpoint", self.fake.endpoint,
                                        "q", env=env)
                self.assertEqual(done.returncode, 2)
                self.assertIn(message, done.stderr)
        self.assertEqual(self.fake.requests, [])

    def test_arguments_override_environment(self) -> None:
        done = self.run_example(
            "--endpoint", self.fake.endpoint, "--access-id", "demo",
            "--access-key", "demo-key", "q",
            env={"TBMS_ACCESS_ID": "other", "TBMS_ACCESS_KEY": "wrong"})
        self.assertEqual(done.returncode, 0, done.stderr)

    def test_key_file(self) -> None:
        path = self.key_file("demo-key\n")
        done = self.run_example("--endpoint", self.fake.endpoint,
                                "--access-key-file", path, "q",
                                env={"TBMS_ACCESS_ID": "demo",
                                     "TBMS_ACCESS_KEY": "wrong"})
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.splitlines(), ["Beijing", "Beijing"])

    def test_bad_key_files(self) -> None:
        cases = {
            "missing": (os.path.join(PYTHON_DIR, "no-such.key"),
                        "cannot read --access-key-file"),
            "empty": (self.key_file("\n"), "is empty"),
        }
        for label, (path, message) in cases.items():
            with self.subTest(label):
                done = self.run_example("--endpoint", self.fake.endpoint,
                                        "--access-key-file", path, "q")
                self.assertEqual(done.returncode, 2)
                self.assertIn(message, done.stderr)
                self.assertIn(path, done.stderr)
        done = self.run_example("--access-key", "k", "--access-key-file",
                                cases["empty"][0], "q")
        self.assertEqual(done.returncode, 2)
        self.assertIn("not allowed with", done.stderr)

    def test_refused_key_exits_1_without_showing_it(self) -> None:
        done = self.run_example("--endpoint", self.fake.endpoint, "q",
                                env={"TBMS_ACCESS_ID": "demo",
                                     "TBMS_ACCESS_KEY": SECRET})
        self.assertEqual(done.returncode, 1)
        self.assertIn("TBMS 401: bad signature", done.stderr)
        self.assertNotIn(SECRET, done.stderr + done.stdout)

    def test_ca_file_with_http_endpoint(self) -> None:
        done = self.run_example("--endpoint", self.fake.endpoint,
                                "--ca-file", "ca.pem", "q")
        self.assertEqual(done.returncode, 2)
        self.assertIn("need an https:// endpoint", done.stderr)
        self.assertNotIn("Traceback", done.stderr)

    def test_unreadable_ca_file(self) -> None:
        done = self.run_example("--endpoint", "https://127.0.0.1:1",
                                "--ca-file", "/nonexistent/ca.pem", "q")
        self.assertEqual(done.returncode, 2)
        self.assertIn("cannot load --ca-file /nonexistent/ca.pem",
                      done.stderr)


if __name__ == "__main__":
    unittest.main()
