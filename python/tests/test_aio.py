"""Tests of tbms.aio.AsyncClient against the in-process fake server."""

import asyncio
import os
import shutil
import socket
import sys
import tempfile
import threading
import unittest
from unittest import mock

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(TESTS_DIR)
for _path in (PYTHON_DIR, TESTS_DIR):  # tbms, and the fake_server helper
    if _path not in sys.path:
        sys.path.insert(0, _path)

import tbms  # noqa: E402
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
    parse_authorization,
    self_signed_tls,
)
from tbms import (  # noqa: E402
    AsyncClient,
    TbmsAuthError,
    TbmsBadRequest,
    TbmsHTTPError,
    TbmsTimeout,
    TbmsTransportError,
    TryResult,
    async_try_mixes,
    async_try_models,
    async_try_task,
    tbmsAsyncMixTry,
    tbmsAsyncTaskTry,
    tbmsAsyncTry,
)

KEYS = {"demo": "demo-key"}
NULL_RESPONSE = {"answer": None, "model": None, "rank": None,
                 "downgraded": False, "reason": "deadline",
                 "elapsed_ms": 50.1, "attempts": []}


class AsyncServerTestCase(unittest.IsolatedAsyncioTestCase):
    """A fake server that checks signatures, and an AsyncClient of it."""

    def setUp(self) -> None:
        self.fake = FakeTbms().start()
        self.addCleanup(self.fake.stop)
        self.fake.keys = dict(KEYS)  # a badly signed request gets a 401
        self.fake.route("POST", TRY_PATH, body=FULL_RESPONSE)
        self.fake.route("GET", LIVE_PATH, body={})
        self.fake.route("GET", READY_PATH, body={})

    async def asyncSetUp(self) -> None:
        self.client = self.new_client()

    def new_client(self, **kwargs) -> AsyncClient:
        client = AsyncClient(self.fake.endpoint, "demo", "demo-key",
                             INSTANCE, **kwargs)
        self.addAsyncCleanup(client.close)
        return client

    async def wait_for_fake(self, predicate) -> None:
        """Wait, off the event loop, until the fake server's state meets
        ``predicate`` (bounded by the fake's BLOCK_LIMIT_S)."""
        self.assertTrue(await asyncio.to_thread(self.fake.wait_until,
                                                predicate))

    def assert_all_signed(self) -> None:
        for request in self.fake.requests:
            self.assertIsNone(request.auth_problem(KEYS))


class TryTest(AsyncServerTestCase):
    """Model, mix and task tries: what is sent, what comes back."""

    async def test_model_try(self) -> None:
        result = await self.client.try_models(
            TALK_MODELS, "q", 50, cross_request=1, cross_lag=10,
            inputs={"lang": "zh"})
        self.assertIsInstance(result, TryResult)
        self.assertEqual((result.answer, result.model, result.rank),
                         ("Beijing", "svm", 1))
        self.assertEqual([a.state for a in result.attempts],
                         ["cancelled", "done"])
        (request,) = self.fake.requests
        self.assertEqual((request.method, request.path), ("POST", TRY_PATH))
        self.assertEqual(request.json(), {
            "inputs": {"question": "q", "lang": "zh"},
            "models": [{"name": "embedding", "est": 35},
                       {"name": "svm", "est": 25},
                       {"name": "bayes", "est": 15},
                       {"name": "keysearch", "est": 5}],
            "tloc": 50, "crossRequest": 1, "crossLag": 10, "priority": 0})
        self.assertEqual(request.headers["Content-Type"], "application/json")

    async def test_mix_try(self) -> None:
        self.fake.route("POST", TRY_PATH, body=MIX_RESPONSE)
        result = await self.client.try_mixes(TALK_MIXES, "q", 50)
        self.assertEqual(result.model, "mix1")
        body = self.fake.requests[0].json()
        self.assertEqual([mix["aggregator"] for mix in body["mixes"]],
                         ["max", "avg"])
        self.assertNotIn("models", body)

    async def test_task_try_sends_only_given_overrides(self) -> None:
        result = await self.client.try_task("qa", "q", cross_lag=5)
        self.assertTrue(result.ok)
        self.assertEqual(self.fake.requests[0].json(), {
            "inputs": {"question": "q"}, "task": "qa", "crossLag": 5})

    async def test_module_level_tries(self) -> None:
        self.assertTrue((await async_try_models(
            self.client, TALK_MODELS, "q", tloc=50)).ok)
        self.assertTrue((await async_try_mixes(
            self.client, TALK_MIXES, "q")).ok)
        self.assertTrue((await async_try_task(self.client, "qa", "q")).ok)
        self.assertEqual(await tbmsAsyncTry(
            self.client, TALK_MODELS, "q", tloc=50, crossRequest=1,
            crossLag=10), "Beijing")
        self.assertEqual(await tbmsAsyncMixTry(
            self.client, TALK_MIXES, "q"), "Beijing")
        self.fake.route("POST", TRY_PATH, body=NULL_RESPONSE)
        self.assertEqual(await tbmsAsyncTaskTry(self.client, "qa", "q"), "")
        bodies = [r.json() for r in self.fake.requests]
        self.assertEqual([next(k for k in ("models", "mixes", "task")
                               if k in body) for body in bodies],
                         ["models", "mixes", "task"] * 2)
        self.assertEqual((bodies[3]["crossRequest"], bodies[3]["crossLag"]),
                         (1, 10))

    async def test_health(self) -> None:
        self.assertTrue(await self.client.live())
        self.assertTrue(await self.client.ready())
        self.fake.route("GET", READY_PATH, status=503,
                        body={"error": "draining"})
        self.assertFalse(await self.client.ready())
        self.assertEqual([r.method for r in self.fake.requests], ["GET"] * 3)

    async def test_invalid_arguments_send_nothing(self) -> None:
        with self.assertRaisesRegex(ValueError, "tloc"):
            await self.client.try_models(TALK_MODELS, "q", 0)
        with self.assertRaisesRegex(ValueError, "aggregator"):
            await self.client.try_mixes({"m": [{"svm": 5}, {"mix": "min"}]},
                                        "q", 50)
        with self.assertRaisesRegex(ValueError, "task"):
            await self.client.try_task("", "q")
        self.assertEqual(self.fake.requests, [])


class SigningTest(AsyncServerTestCase):
    """The fake verifies every signature as docs/security.md says."""

    async def test_every_kind_of_request_is_signed(self) -> None:
        await self.client.try_models(TALK_MODELS, "q", 50)
        await self.client.try_mixes(TALK_MIXES, "q", 50)
        await self.client.try_task("qa", "q")
        self.assertTrue(await self.client.live())
        self.assertEqual(len(self.fake.requests), 4)
        self.assert_all_signed()
        nonces = {parse_authorization(r.headers["Authorization"])["nonce"]
                  for r in self.fake.requests}
        self.assertEqual(len(nonces), 4)
        self.assertNotIn("demo-key", str(self.fake.requests[0].headers))

    async def test_prefix_and_quoted_instance_are_signed(self) -> None:
        path = "/tbms/v1/instances/my%20qa%2F1/try"
        self.fake.route("POST", path, body=FULL_RESPONSE)
        async with AsyncClient(self.fake.endpoint + "/tbms/", "demo",
                               "demo-key", "my qa/1") as client:
            self.assertTrue((await client.try_models(TALK_MODELS, "q", 50)).ok)
        self.assertEqual(self.fake.requests[0].path, path)
        self.assert_all_signed()

    async def test_wrong_key_is_refused(self) -> None:
        async with AsyncClient(self.fake.endpoint, "demo", "other-key",
                               INSTANCE) as client:
            with self.assertRaises(TbmsAuthError) as caught:
                await client.try_models(TALK_MODELS, "q", 50)
        self.assertEqual(str(caught.exception), "TBMS 401: bad signature")


class ErrorTest(AsyncServerTestCase):
    """HTTP statuses and transport failures map to the sync exceptions."""

    async def raised(self, status: int, **reply) -> Exception:
        self.fake.route("POST", TRY_PATH, status=status, **reply)
        with self.assertRaises(TbmsHTTPError) as caught:
            await self.client.try_models(TALK_MODELS, "q", 50)
        self.assertEqual(caught.exception.status, status)
        return caught.exception

    async def test_400_is_a_bad_request(self) -> None:
        error = await self.raised(400, body={"error": "tloc must be > 0"})
        self.assertIsInstance(error, TbmsBadRequest)
        self.assertNotIsInstance(error, TbmsAuthError)
        self.assertEqual(str(error), "TBMS 400: tloc must be > 0")

    async def test_401_and_403_are_auth_errors(self) -> None:
        for status in (401, 403):
            with self.subTest(status):
                error = await self.raised(status, body={"error": "refused"})
                self.assertIsInstance(error, TbmsAuthError)
                self.assertEqual(error.message, "refused")

    async def test_5xx_is_an_http_error(self) -> None:
        error = await self.raised(500, body={"error": "model crashed"})
        self.assertNotIsInstance(error, TbmsBadRequest)
        self.assertEqual(str(error), "TBMS 500: model crashed")
        error = await self.raised(502, raw=b"Bad gateway")
        self.assertEqual(str(error), "TBMS 502: Bad gateway")

    async def test_bad_json_is_a_transport_error(self) -> None:
        self.fake.route("POST", TRY_PATH, raw=b"not json")
        with self.assertRaisesRegex(TbmsTransportError, "invalid response"):
            await self.client.try_models(TALK_MODELS, "q", 50)

    async def test_timeout(self) -> None:
        self.fake.route("POST", TRY_PATH, block=True)
        with self.assertRaises(TbmsTimeout) as caught:
            await self.client.try_models(TALK_MODELS, "q", 50, timeout=0.2)
        self.assertIn("0.2 s", str(caught.exception))
        self.assertTrue(await self.client.live())  # usable again afterwards

    async def test_connection_refused(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = AsyncClient(f"http://127.0.0.1:{port}", "demo", "k",
                             INSTANCE)
        with self.assertRaises(TbmsTransportError) as caught:
            await client.try_models(TALK_MODELS, "q", 50)
        self.assertNotIsInstance(caught.exception, TbmsTimeout)
        self.assertIn(f"127.0.0.1:{port}", str(caught.exception))
        await client.close()


class ConnectionTest(AsyncServerTestCase):
    """Keep-alive reuse, the bounded pool, concurrency and close()."""

    async def test_two_calls_share_one_connection(self) -> None:
        await self.client.try_models(TALK_MODELS, "q1", 50)
        await self.client.try_models(TALK_MODELS, "q2", 50)
        first, second = self.fake.requests
        self.assertEqual(first.client_address, second.client_address)
        self.assertEqual(self.fake.connections, 1)

    async def test_reconnects_when_server_closed_connection(self) -> None:
        self.fake.route("POST", TRY_PATH, body=FULL_RESPONSE, close=True)
        self.assertTrue((await self.client.try_models(
            TALK_MODELS, "q1", 50)).ok)
        self.assertTrue((await self.client.try_models(
            TALK_MODELS, "q2", 50)).ok)
        self.assertEqual(self.fake.connections, 2)
        self.assert_all_signed()

    async def test_retries_once_on_unseen_stale_connection(self) -> None:
        self.fake.route("POST", TRY_PATH, body=FULL_RESPONSE, close=True)
        with mock.patch("tbms.aio._Connection.is_stale", return_value=False):
            self.assertTrue((await self.client.try_models(
                TALK_MODELS, "q1", 50)).ok)
            self.assertTrue((await self.client.try_models(
                TALK_MODELS, "q2", 50)).ok)
        self.assertEqual([r.json()["inputs"]["question"]
                          for r in self.fake.requests], ["q1", "q2"])
        self.assert_all_signed()

    async def test_concurrent_tries_run_at_once(self) -> None:
        # Each reply waits until all three requests have arrived, so the
        # tries can only succeed if they are in flight together.
        self.fake.barrier = threading.Barrier(3)
        questions = ["q0", "q1", "q2"]
        results = await asyncio.gather(*(
            self.client.try_models(TALK_MODELS, q, 50, timeout=30)
            for q in questions))
        self.assertTrue(all(result.ok for result in results))
        self.assertEqual(sorted(r.json()["inputs"]["question"]
                                for r in self.fake.requests), questions)
        self.assertEqual(self.fake.connections, 3)

    async def test_pool_is_bounded(self) -> None:
        client = self.new_client(max_connections=2)
        self.fake.barrier = threading.Barrier(2)  # replies go out in pairs
        results = await asyncio.gather(*(
            client.try_models(TALK_MODELS, f"q{i}", 50, timeout=30)
            for i in range(4)))
        self.assertEqual(len(results), 4)
        self.assertEqual(self.fake.connections, 2)  # reused, not reopened

    async def test_close_closes_connections_and_client_stays_usable(
            self) -> None:
        await self.client.try_models(TALK_MODELS, "q", 50)
        await self.client.close()
        await self.wait_for_fake(lambda: self.fake.disconnections == 1)
        self.assertTrue((await self.client.try_models(
            TALK_MODELS, "q", 50)).ok)
        self.assertEqual(self.fake.connections, 2)

    async def test_async_with_closes(self) -> None:
        async with AsyncClient(self.fake.endpoint, "demo", "demo-key",
                               INSTANCE) as client:
            self.assertTrue(await client.live())
        await self.wait_for_fake(lambda: self.fake.disconnections == 1)

    async def test_close_fails_a_call_in_flight(self) -> None:
        self.fake.route("POST", TRY_PATH, block=True)
        call = asyncio.create_task(
            self.client.try_models(TALK_MODELS, "q", 50, timeout=30))
        await self.wait_for_fake(lambda: len(self.fake.requests) == 1)
        await self.client.close()
        with self.assertRaises(TbmsTransportError) as caught:
            await call
        self.assertNotIsInstance(caught.exception, TbmsTimeout)

    async def test_close_does_not_send_a_call_in_flight_again(self) -> None:
        self.assertTrue(await self.client.live())  # the try goes out on a reused connection
        self.fake.route("POST", TRY_PATH, block=True)
        call = asyncio.create_task(
            self.client.try_models(TALK_MODELS, "q", 50, timeout=30))
        await self.wait_for_fake(lambda: len(self.fake.requests) == 2)
        await self.client.close()
        with self.assertRaises(TbmsTransportError):
            await call
        self.assertEqual(len(self.fake.requests), 2)  # not resent on a new connection

    async def test_a_reply_too_large_is_a_transport_error(self) -> None:
        self.fake.route("POST", TRY_PATH, raw=b"x" * (tbms.transport.MAX_RESPONSE_BYTES + 1))
        with self.assertRaisesRegex(TbmsTransportError, "larger than"):
            await self.client.try_models(TALK_MODELS, "q", 50, timeout=30)

    async def test_module_level_tries_take_hedge(self) -> None:
        await async_try_models(self.client, TALK_MODELS, "q", tloc=50, hedge="expected")
        await async_try_mixes(self.client, TALK_MIXES, "q", hedge="at_risk")
        await async_try_task(self.client, "qa", "q", hedge="expected")
        self.assertEqual([r.json()["hedge"] for r in self.fake.requests], ["expected", "at_risk", "expected"])

    async def test_bad_max_connections(self) -> None:
        for bad in (0, -1, 1.5, True, "2"):
            with self.subTest(bad):
                with self.assertRaisesRegex(ValueError, "max_connections"):
                    AsyncClient(self.fake.endpoint, "demo", "k", INSTANCE,
                                max_connections=bad)

    async def test_repr_hides_the_key(self) -> None:
        self.assertNotIn("demo-key", repr(self.client))
        self.assertIn("AsyncClient", repr(self.client))


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
class HttpsTest(unittest.IsolatedAsyncioTestCase):
    """Signed tries over TLS to a fake server with a self-signed cert."""

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
        self.fake.keys = dict(KEYS)
        self.fake.route("POST", TRY_PATH, body=FULL_RESPONSE)

    async def test_ca_file(self) -> None:
        async with AsyncClient(self.fake.endpoint, "demo", "demo-key",
                               INSTANCE, ca_file=self.cert) as client:
            self.assertEqual(await tbmsAsyncTry(client, TALK_MODELS, "q"),
                             "Beijing")
            self.assertTrue((await client.try_models(
                TALK_MODELS, "q", 50)).ok)
        self.assertEqual(self.fake.connections, 1)
        for request in self.fake.requests:
            self.assertIsNone(request.auth_problem(KEYS))

    async def test_unknown_certificate_is_refused(self) -> None:
        async with AsyncClient(self.fake.endpoint, "demo", "demo-key",
                               INSTANCE) as client:
            with self.assertRaisesRegex(TbmsTransportError,
                                        "CERTIFICATE_VERIFY_FAILED"):
                await client.try_models(TALK_MODELS, "q", 50)
        self.assertEqual(self.fake.requests, [])


class ApiTest(unittest.TestCase):
    """The async names are exported from tbms."""

    def test_exports(self) -> None:
        for name in ("AsyncClient", "async_try_models", "async_try_mixes",
                     "async_try_task", "tbmsAsyncTry", "tbmsAsyncMixTry",
                     "tbmsAsyncTaskTry"):
            self.assertIn(name, tbms.__all__)
            self.assertIs(getattr(tbms, name), getattr(tbms.aio, name))


if __name__ == "__main__":
    unittest.main()
