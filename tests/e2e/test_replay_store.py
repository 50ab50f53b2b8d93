"""End to end: replay across servers with a shared store (docs/security.md,
"Replay across servers"). A real redis-server on a unix socket of its own
(started here, stopped at the end) holds the nonces of two servers on one
house: a signed request accepted by one is refused by the other and by the
first after a restart; with the store down, signed requests are refused
(503) by the default rule and accepted under --replay-store-down accept,
and taken again once the store is back. Needs TBMS_BIN, PYTHONPATH=python
and redis-server (scripts/setup installs it)."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import tbms
from test_security import A, ENV, QUESTION, TRY_A, make_house, request
from test_serve import Server, TBMS_BIN

BODY = json.dumps(QUESTION).encode()


class Redis:
    """redis-server on a unix socket, without persistence; stopped on close."""

    def __init__(self, root):
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server is missing: ./scripts/setup installs it")
        self.socket = os.path.join(root, "redis.sock")
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", self.socket, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket):  # bounded: it listens within milliseconds
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.01)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)


def signed():
    return {"Authorization": tbms.authorization_header(*A, "POST", TRY_A, BODY)}


class ReplayAcrossServersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="tbms-replay-")
        cls.house = make_house(cls.root)
        cls.redis = Redis(cls.root)
        cls.servers = []

    @classmethod
    def tearDownClass(cls):
        for server in cls.servers:
            server.close()
        cls.redis.close()
        shutil.rmtree(cls.root, ignore_errors=True)

    def serve(self, *flags):
        server = Server(None, "--house", self.house, "--replay-store", "unix:" + self.redis.socket, *flags, env=ENV)
        self.servers.append(server)
        return server

    def send(self, server, headers):
        return request(server.port, "POST", TRY_A, BODY, headers=headers)

    def test_a_request_accepted_by_one_server_is_refused_by_another_and_after_a_restart(self):
        first, second = self.serve(), self.serve()
        headers = signed()
        self.assertEqual(self.send(first, headers)[0], 200)
        status, body, _ = self.send(second, headers)
        self.assertEqual(status, 401, body)
        self.assertIn("was already used: a replayed request", body["error"])
        first.close()
        restarted = self.serve()
        self.assertEqual(self.send(restarted, headers)[0], 401)
        self.assertEqual(self.send(restarted, signed())[0], 200)

    def test_with_the_store_down_the_rule_decides_and_service_resumes_when_it_is_back(self):
        refusing, accepting = self.serve(), self.serve("--replay-store-down", "accept")
        self.assertEqual(self.send(refusing, signed())[0], 200)
        self.redis.close()
        try:
            status, body, _ = self.send(refusing, signed())
            self.assertEqual(status, 503, body)
            self.assertIn("the replay store at unix:", body["error"])
            headers = signed()
            self.assertEqual(self.send(accepting, headers)[0], 200)
            self.assertEqual(self.send(accepting, headers)[0], 401)  # its own cache still guards
            # Unsigned endpoints do not depend on the store.
            self.assertEqual(request(refusing.port, "GET", "/v2/health/ready")[0], 200)
        finally:
            self.redis = type(self).redis = Redis(self.root)
        # Calls fail fast for a second after a failure, then reconnect.
        deadline = time.monotonic() + 10
        while self.send(refusing, signed())[0] != 200:  # bounded by the deadline
            self.assertLess(time.monotonic(), deadline, "the server did not come back to the store")
            time.sleep(0.1)


class StallingRedis:
    """A stand-in for Redis on a unix socket that knows SET NX and GET, and
    can apply one SET without ever answering it: the reply a slow store
    sends too late. Each connection has a thread; closed at the end."""

    def __init__(self, root):
        self.path = os.path.join(root, "stalling.sock")
        self.keys = {}
        self.stall_next_set = False
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.path)
        self.listener.listen()
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        stream = conn.makefile("rb")
        try:
            while True:
                line = stream.readline()
                if not line:
                    return
                args = [stream.read(int(stream.readline()[1:]) + 2)[:-2] for _ in range(int(line[1:]))]
                reply = self._run(args)
                if reply is not None:
                    conn.sendall(reply)
        except (OSError, ValueError):
            return

    def _run(self, args):
        with self.lock:
            command = args[0].upper()
            if command == b"GET":
                value = self.keys.get(args[1])
                return b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value)
            if command == b"SET":
                fresh = args[1] not in self.keys
                if fresh:
                    self.keys[args[1]] = args[2]
                if self.stall_next_set:
                    self.stall_next_set = False
                    return None  # applied, never answered
                return b"+OK\r\n" if fresh else b"$-1\r\n"
            return b"+OK\r\n"

    def close(self):
        self.listener.close()
        for conn in self.conns:
            conn.close()


class SlowStoreTest(unittest.TestCase):
    def test_a_claim_whose_answer_comes_too_late_is_not_taken_for_a_replay(self):
        root = tempfile.mkdtemp(prefix="tbms-replay-slow-")
        store = StallingRedis(root)
        server = Server(None, "--house", make_house(root), "--replay-store", "unix:" + store.path,
                        "--replay-store-timeout-ms", "50", env=ENV)
        try:
            self.assertEqual(request(server.port, "POST", TRY_A, BODY, headers=signed())[0], 200)  # a kept connection
            store.stall_next_set = True  # the next SET lands, its answer never comes: the server sends it again
            status, body, _ = request(server.port, "POST", TRY_A, BODY, headers=signed())
            self.assertEqual(status, 200, body)
        finally:
            server.close()
            store.close()
            shutil.rmtree(root, ignore_errors=True)


class FlagsTest(unittest.TestCase):
    def run_serve(self, *flags):
        return subprocess.run([TBMS_BIN, "serve", "--port", "0", *flags], capture_output=True, text=True,
                              timeout=30, env={**os.environ, **ENV})

    def test_misused_flags_are_refused_with_a_reason(self):
        root = tempfile.mkdtemp(prefix="tbms-replay-flags-")
        try:
            house = make_house(root)
            cases = [
                (["--house", house, "--replay-store-down", "accept"], "--replay-store-down applies to --replay-store"),
                (["--simulate", "a=1", "--insecure-dev", "--replay-store", "127.0.0.1:6379"],
                 "--insecure-dev has none"),
                (["--house", house, "--replay-store", "nowhere"], "HOST:PORT or unix:PATH"),
                (["--house", house, "--replay-store", "127.0.0.1:1", "--replay-store-down", "maybe"], "maybe"),
            ]
            for flags, message in cases:
                with self.subTest(flags=flags):
                    got = self.run_serve(*flags)
                    self.assertNotEqual(got.returncode, 0)
                    self.assertIn(message, got.stderr)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
