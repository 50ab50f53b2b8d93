"""Tests of the TBMS Python client against an in-process fake server."""

import json
import math
import os
import socket
import subprocess
import sys
import threading
import unittest
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from unittest import mock

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

import tbms  # noqa: E402
from tbms import (  # noqa: E402
    DEFAULT_TASK_TIMEOUT_S,
    Attempt,
    Client,
    MixSpec,
    ModelSpec,
    TbmsBadRequest,
    TbmsError,
    TbmsHTTPError,
    TbmsTimeout,
    TbmsTransportError,
    TryResult,
    mix_list,
    model_list,
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

INSTANCE = "nianjianQA"
TRY_PATH = f"/v1/instances/{INSTANCE}/try"
LIVE_PATH = "/v2/health/live"
READY_PATH = "/v2/health/ready"
BLOCK_LIMIT_S = 10  # upper bound for a blocked handler, never reached
TALK_MODELS = {"embedding": {"est": 35}, "svm": {"est": 25},
               "bayes": {"est": 15}, "keysearch": {"est": 5}}
TALK_MIXES = {"mix1": [{"embedding": {"est": 35}}, {"svm": {"est": 25}},
                       {"mix": "max"}],
              "mix2": [{"bayes": {"est": 15}}, {"keysearch": {"est": 5}},
                       {"mix": "avg"}]}
TALK_MIXES_JSON = [
    {"name": "mix1", "members": [{"name": "embedding", "est": 35},
                                 {"name": "svm", "est": 25}],
     "aggregator": "max"},
    {"name": "mix2", "members": [{"name": "bayes", "est": 15},
                                 {"name": "keysearch", "est": 5}],
     "aggregator": "avg"},
]

FULL_RESPONSE = {
    "answer": "Beijing",
    "model": "svm",
    "rank": 1,
    "downgraded": True,
    "reason": "predicted_late",
    "elapsed_ms": 12.34,
    "attempts": [
        {"model": "embedding", "rank": 0, "state": "cancelled",
         "latency_ms": 25.0},
        {"model": "svm", "rank": 1, "state": "done", "latency_ms": 11.5},
    ],
}
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
MIX_RESPONSE = {
    "answer": "Beijing", "model": "mix1", "rank": 0, "downgraded": False,
    "reason": None, "elapsed_ms": 35.2,
    "attempts": [{"model": "mix1", "rank": 0, "state": "succeeded",
                  "started_ms": 0.001, "latency_ms": 35.1}],
}


@dataclass
class Reply:
    """Canned reply of the fake server."""

    status: int = 200
    body: Any = None
    raw: Optional[bytes] = None
    block: bool = False   # wait for FakeTbms.release, then drop the socket
    close: bool = False   # close the connection without telling the client


@dataclass
class Recorded:
    """One request received by the fake server."""

    method: str
    path: str
    headers: Any
    body: bytes
    client_address: tuple

    def json(self) -> Any:
        return json.loads(self.body)


class FakeTbms:
    """Threaded HTTP server returning canned replies and recording requests."""

    def __init__(self) -> None:
        self.routes = {}
        self.requests = []
        self.connections = 0
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0),
                                          self._handler_class())
        self.server.handle_error = lambda request, address: None
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeTbms":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(BLOCK_LIMIT_S)

    def route(self, method: str, path: str, **reply: Any) -> None:
        self.routes[(method, path)] = Reply(**reply)

    def _record(self, request: Recorded) -> Reply:
        with self._lock:
            self.requests.append(request)
        return self.routes.get((request.method, request.path),
                               Reply(404, {"error": "no such route"}))

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def _handler_class(self) -> type:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                fake._count_connection()

            def do_GET(self) -> None:  # noqa: N802
                self._serve()

            def do_POST(self) -> None:  # noqa: N802
                self._serve()

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                reply = fake._record(Recorded(self.command, self.path,
                                              self.headers, body,
                                              self.client_address))
                if reply.block:
                    fake.release.wait(BLOCK_LIMIT_S)
                    self.close_connection = True
                    return
                self.close_connection = reply.close
                data = reply.raw
                if data is None:
                    data = json.dumps(reply.body).encode("utf-8")
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


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
        self.assertEqual(request.headers["X-TBMS-Access-Id"], "demo")
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
        self.assertEqual(request.headers["X-TBMS-Access-Id"], "demo")
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
        self.assertEqual(request.headers["X-TBMS-Access-Id"], "demo")

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
        self.assertEqual(self.fake.requests[0].headers["X-TBMS-Access-Id"],
                         "demo")

    def test_ready_false_when_draining(self) -> None:
        self.fake.route("GET", LIVE_PATH, body={})
        self.fake.route("GET", READY_PATH, status=503,
                        body={"error": "draining"})
        self.assertFalse(self.client.ready())
        self.assertTrue(self.client.live())
        self.assertEqual(self.fake.connections, 1)


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

    def test_model_list_still_requires_est(self) -> None:
        with self.assertRaisesRegex(ValueError, "est must be a positive"):
            model_list([ModelSpec("svm")])

    def test_invalid_lists(self) -> None:
        cases = {
            "zero est": ({"svm": {"est": 0}}, "est must be a positive"),
            "negative est": ([("svm", -1)], "est must be a positive"),
            "string est": ({"svm": {"est": "25"}}, "est must be a positive"),
            "bool est": ({"svm": {"est": True}}, "est must be a positive"),
            "nan est": ({"svm": {"est": math.nan}}, "est must be a positive"),
            "empty name": ({"": {"est": 5}}, "non-empty string"),
            "blank name": ([{"name": " ", "est": 5}], "non-empty string"),
            "int name": ([(3, 5)], "non-empty string"),
            "missing est": ({"svm": {}}, "missing 'est'"),
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
    """examples/talk_example.py end to end."""

    SCRIPT = os.path.join(PYTHON_DIR, "examples", "talk_example.py")

    def run_example(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, self.SCRIPT, *args], capture_output=True,
            text=True, timeout=30, check=False)

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
        done = self.run_example("--help")
        self.assertEqual(done.returncode, 0)
        self.assertIn("--endpoint", done.stdout)


if __name__ == "__main__":
    unittest.main()
