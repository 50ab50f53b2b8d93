"""A fake TBMS server for the client tests, sync and async.

It runs in-process (a thread per connection), answers canned replies per
route, records every request and, with ``keys`` set, checks signatures as
docs/security.md says the server does.
"""

import hashlib
import hmac
import json
import os
import re
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

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
MIX_RESPONSE = {
    "answer": "Beijing", "model": "mix1", "rank": 0, "downgraded": False,
    "reason": None, "elapsed_ms": 35.2,
    "attempts": [{"model": "mix1", "rank": 0, "state": "succeeded",
                  "started_ms": 0.001, "latency_ms": 35.1}],
}


AUTH_WINDOW_S = 300
_AUTH_RE = re.compile(
    r"TBMS-HMAC-SHA256 Credential=(?P<id>[^,\s]+), Timestamp=(?P<ts>[0-9]+), "
    r"Nonce=(?P<nonce>[A-Za-z0-9_-]{8,64}), Signature=(?P<sig>[0-9a-f]{64})")


def parse_authorization(value: Optional[str]) -> Optional[dict]:
    """The fields of an Authorization header, or None if malformed."""
    match = _AUTH_RE.fullmatch(value or "")
    return match.groupdict() if match else None


def auth_problem(method: str, target: str, headers: Any, body: bytes,
                 keys: dict, now: Optional[float] = None) -> Optional[str]:
    """Check a received request as docs/security.md says the server does.

    Written from the document, apart from the client's code, so that a
    client bug is not mirrored here.  Returns None when the request is
    valid, else why not.  (No replay cache: the tests check the nonces.)
    """
    fields = parse_authorization(headers.get("Authorization"))
    if fields is None:
        return f"malformed Authorization: {headers.get('Authorization')!r}"
    if fields["id"] not in keys:
        return f"unknown access id {fields['id']!r}"
    now = time.time() if now is None else now
    if abs(now - int(fields["ts"])) > AUTH_WINDOW_S:
        return "stale timestamp"
    lines = ["TBMS-HMAC-SHA256", method, target, fields["ts"],
             fields["nonce"], hashlib.sha256(body).hexdigest()]
    expected = hmac.new(keys[fields["id"]].encode("utf-8"),
                        "\n".join(lines).encode("utf-8"),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["sig"]):
        return "bad signature"
    return None


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

    def auth_problem(self, keys: dict) -> Optional[str]:
        return auth_problem(self.method, self.path, self.headers, self.body,
                            keys)


class FakeTbms:
    """Threaded HTTP server returning canned replies and recording requests.

    With ``keys`` ({access id: key}) set, requests that fail
    :func:`auth_problem` get a 401 instead of their route's reply; with
    ``tls`` it serves https.  With ``barrier`` set, each request waits at
    it before its reply: n parties prove n requests in flight at once.
    """

    def __init__(self, tls: Optional[ssl.SSLContext] = None) -> None:
        self.routes = {}
        self.requests = []
        self.connections = 0
        self.disconnections = 0
        self.keys = {}
        self.release = threading.Event()
        self.barrier: Optional[threading.Barrier] = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0),
                                          self._handler_class())
        self.server.handle_error = lambda request, address: None
        self.scheme = "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket,
                                                 server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def start(self) -> "FakeTbms":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.barrier is not None:
            self.barrier.abort()  # frees handlers still waiting at it
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(BLOCK_LIMIT_S)

    def route(self, method: str, path: str, **reply: Any) -> None:
        self.routes[(method, path)] = Reply(**reply)

    def wait_until(self, predicate: Any) -> bool:
        """Wait until ``predicate()`` holds, checked whenever a request
        arrives or a connection ends; False if it still does not after
        BLOCK_LIMIT_S."""
        with self._changed:
            return self._changed.wait_for(predicate, BLOCK_LIMIT_S)

    def _record(self, request: Recorded) -> Reply:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()
        if self.keys:
            problem = request.auth_problem(self.keys)
            if problem is not None:
                return Reply(401, {"error": problem})
        return self.routes.get((request.method, request.path),
                               Reply(404, {"error": "no such route"}))

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def _count_disconnection(self) -> None:
        with self._changed:
            self.disconnections += 1
            self._changed.notify_all()

    def _handler_class(self) -> type:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                fake._count_connection()

            def finish(self) -> None:
                super().finish()
                fake._count_disconnection()

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
                if fake.barrier is not None:
                    fake.barrier.wait(BLOCK_LIMIT_S)
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


def self_signed_tls(directory: str) -> tuple:
    """Make a throw-away certificate for 127.0.0.1 in ``directory`` (needs
    the openssl command); return its path and a server TLS context."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext",
         "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=30)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    return cert, server_tls
