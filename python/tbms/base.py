"""What the sync and the async client share: everything but the I/O.

A call (a try or a health check) is first built into a :class:`_Request`:
its arguments checked, its path and body bytes made, its timeout chosen
and the function that reads its reply picked.  :class:`tbms.Client` and
:class:`tbms.AsyncClient` then only send it, signed afresh by
:meth:`_ClientBase._headers` for each attempt, and hand the reply to
``request.read``.  So every rule about what is sent and how a reply is
read lives here, once.
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Union

from .errors import TbmsTransportError
from .results import TryResult
from .signing import _key_bytes, authorization_header
from .specs import mix_list, model_list
from .transport import (_parse_endpoint, _raise_for_status, _tls_context,
                        _transport_error)
from .validation import _check_task_try_args, _check_timeout, _check_try_args

#: Extra time (seconds) granted on top of ``tloc`` before the client gives up.
DEFAULT_TIMEOUT_MARGIN_S = 1.0

#: Timeout (seconds) of health checks when the client has no explicit timeout.
DEFAULT_HEALTH_TIMEOUT_S = 5.0

#: Timeout (seconds) of a task try that gives no ``tloc`` when the client has
#: no explicit timeout: the task's own ``tloc`` is known only to the server.
DEFAULT_TASK_TIMEOUT_S = 10.0

_USER_AGENT = "tbms-python/0.1"
_ACCESS_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


@dataclass(frozen=True)
class _Request:
    """One call, ready to send but not yet signed: each attempt is signed
    afresh, since a resent nonce would be refused as a replay."""

    method: str
    path: str  # the target as sent and signed, endpoint prefix included
    body: Optional[bytes]
    timeout: float  # seconds, client side
    read: Callable[[int, str, bytes], Any]  # (status, reason, body) -> result


def _read_try(status: int, reason: str, body: bytes) -> TryResult:
    """Read a try reply: an error status raises, else a TryResult."""
    _raise_for_status(status, reason, body)
    try:
        return TryResult.from_json(json.loads(body))
    except ValueError as exc:  # includes json.JSONDecodeError
        raise TbmsTransportError(
            f"invalid response from TBMS (HTTP {status}): {exc}") from exc


def _read_health(status: int, reason: str, body: bytes) -> bool:
    """Read a health reply: True on 200; any other status (503 while
    draining, 401 for a refused key) is a plain False."""
    return status == 200


HEDGES = ("at_risk", "expected")


def _check_hedge(hedge: Optional[str]) -> Optional[str]:
    """``hedge`` as given, when it is None or one of :data:`HEDGES`."""
    if hedge is not None and hedge not in HEDGES:
        raise ValueError(f"hedge must be one of {HEDGES}, got {hedge!r}")
    return hedge


class _ClientBase:
    """Settings, request building, signing and reply reading of a client;
    the arguments are those of :class:`tbms.Client`."""

    def __init__(self, endpoint: str, access_id: str, access_key: str,
                 instance: str, timeout: Optional[float] = None, *,
                 ssl_context: Optional[ssl.SSLContext] = None,
                 ca_file: Optional[str] = None) -> None:
        self._scheme, self._host, self._port, self._prefix = (
            _parse_endpoint(endpoint))
        for label, value in (("access_id", access_id),
                             ("access_key", access_key),
                             ("instance", instance)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{label} must be a non-empty string")
            if any(ord(char) < 32 or ord(char) == 127 for char in value):
                raise ValueError(
                    f"{label} must not contain control characters")
        if not _ACCESS_ID.fullmatch(access_id):
            raise ValueError(
                "access_id must be 1-128 characters of A-Z a-z 0-9 . _ - "
                f"(the server's rule), got {access_id!r}")
        _key_bytes(access_key)
        _check_timeout(timeout)
        self._ssl_context = _tls_context(self._scheme, ssl_context, ca_file)
        self.endpoint = endpoint.rstrip("/")
        self.access_id = access_id
        self._access_key = access_key
        self.instance = instance
        self.timeout = timeout

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(endpoint={self.endpoint!r}, "
                f"access_id={self.access_id!r}, instance={self.instance!r})")

    # -- building requests (arguments are checked before anything is sent)

    def _models_request(self, models: Any, question: str,
                        tloc: Union[int, float], cross_request: int,
                        cross_lag: Union[int, float], priority: int,
                        inputs: Optional[Mapping],
                        timeout: Optional[float],
                        hedge: Optional[str] = None) -> _Request:
        """The request of ``try_models``."""
        return self._candidates_request(
            "models", model_list(models), question, tloc, cross_request,
            cross_lag, priority, inputs, timeout, hedge)

    def _mixes_request(self, mixes: Any, question: str,
                       tloc: Union[int, float], cross_request: int,
                       cross_lag: Union[int, float], priority: int,
                       inputs: Optional[Mapping],
                       timeout: Optional[float],
                       hedge: Optional[str] = None) -> _Request:
        """The request of ``try_mixes``."""
        return self._candidates_request(
            "mixes", mix_list(mixes), question, tloc, cross_request,
            cross_lag, priority, inputs, timeout, hedge)

    def _candidates_request(self, key: str, specs: list, question: str,
                            tloc: Union[int, float], cross_request: int,
                            cross_lag: Union[int, float], priority: int,
                            inputs: Optional[Mapping],
                            timeout: Optional[float],
                            hedge: Optional[str] = None) -> _Request:
        """A try whose candidates are ``specs`` under ``key`` ("models" or
        "mixes")."""
        _check_try_args(question, tloc, cross_request, cross_lag, priority)
        _check_timeout(timeout)
        body = {
            "inputs": self._build_inputs(question, inputs),
            key: [spec.to_json() for spec in specs],
            "tloc": tloc,
            "crossRequest": cross_request,
            "crossLag": cross_lag,
            "priority": priority,
        }
        if _check_hedge(hedge) is not None:
            body["hedge"] = hedge
        return self._try_request(body, self._try_timeout(tloc, timeout))

    def _task_request(self, task: str, question: str,
                      tloc: Optional[Union[int, float]],
                      cross_request: Optional[int],
                      cross_lag: Optional[Union[int, float]],
                      priority: Optional[int], inputs: Optional[Mapping],
                      timeout: Optional[float],
                      hedge: Optional[str] = None) -> _Request:
        """The request of ``try_task``: only the overrides given (not
        ``None``) are sent, the server fills in the task's defaults."""
        _check_task_try_args(task, question, tloc, cross_request, cross_lag,
                             priority)
        _check_timeout(timeout)
        body = {"inputs": self._build_inputs(question, inputs), "task": task}
        for key, value in (("tloc", tloc), ("crossRequest", cross_request),
                           ("crossLag", cross_lag), ("priority", priority),
                           ("hedge", _check_hedge(hedge))):
            if value is not None:
                body[key] = value
        return self._try_request(body, self._try_timeout(tloc, timeout))

    def _try_request(self, body: dict, timeout: float) -> _Request:
        """A try body, POSTed to this client's instance."""
        instance = urllib.parse.quote(self.instance, safe="")
        return _Request("POST", f"{self._prefix}/v1/instances/{instance}/try",
                        json.dumps(body).encode("utf-8"), timeout, _read_try)

    def _health_request(self, which: str) -> _Request:
        """``GET /v2/health/<which>`` ("live" or "ready")."""
        timeout = self.timeout or DEFAULT_HEALTH_TIMEOUT_S
        return _Request("GET", f"{self._prefix}/v2/health/{which}", None,
                        timeout, _read_health)

    @staticmethod
    def _build_inputs(question: str, inputs: Optional[Mapping]) -> dict:
        """Merge the question into the optional extra inputs."""
        if inputs is None:
            return {"question": question}
        if not isinstance(inputs, Mapping):
            raise ValueError("inputs must be a dict")
        if "question" in inputs:
            raise ValueError("pass the question as 'question', not in inputs")
        return {"question": question, **inputs}

    def _try_timeout(self, tloc: Optional[float],
                     timeout: Optional[float]) -> float:
        """Client-side timeout (seconds) of a try request; ``tloc`` is
        ``None`` for a task try that leaves it to the task."""
        if timeout is not None:
            return timeout
        if self.timeout is not None:
            return self.timeout
        if tloc is None:
            return DEFAULT_TASK_TIMEOUT_S
        return tloc / 1000.0 + DEFAULT_TIMEOUT_MARGIN_S

    # -- signing -----------------------------------------------------------

    def _headers(self, request: _Request) -> dict:
        """All headers of one attempt at ``request``, authentication
        included (those of the HTTP framing aside: Host, Content-Length)."""
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        headers.update(self._sign(request.method, request.path,
                                  request.body or b""))
        return headers

    def _sign(self, method: str, path: str, body: bytes) -> dict:
        """Return the authentication headers of a request.

        This is the single place where credentials are attached: one
        ``Authorization`` header, signed over ``path`` (the full request
        target as sent) and the exact ``body`` bytes, with a fresh
        timestamp and nonce so that no two requests share a signature.
        """
        return {"Authorization": authorization_header(
            self.access_id, self._access_key, method, path, body)}

    # -- failures ----------------------------------------------------------

    def _transport_error(self, exc: BaseException,
                         request: _Request) -> TbmsTransportError:
        """The client exception of a failed exchange."""
        return _transport_error(exc, request.method, request.path,
                                self.endpoint, request.timeout)
