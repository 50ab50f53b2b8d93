"""Python client for TBMS (time-based model serving).

The server receives a question together with a ranked list of candidates
and a time limit (``tloc``, milliseconds).  It answers with the best result
that fits in the time limit, or with no answer at all (``answer`` is
``null``) when nothing could be produced in time.  The candidates are one of:

* models (``"models"``): single models, best first;
* mixes (``"mixes"``): ensembles whose members run together and whose
  outputs are combined by an aggregator (``max``, ``avg`` or ``vote``);
* a task (``"task"``): a candidate list configured on the server, whose
  ``tloc``, ``crossRequest``, ``crossLag`` and ``priority`` the call may
  override.

Two flavours of the same API are provided:

* the names used in the talk: :data:`tbmsClient`, :func:`tbmsList`,
  :func:`tbmsMixList`, :func:`tbmsTry`, :func:`tbmsMixTry` and
  :func:`tbmsTaskTry` (the tries return just the answer, ``""`` when there
  is none);
* PEP 8 names: :class:`Client`, :func:`model_list`, :func:`mix_list`,
  :func:`try_models`, :func:`try_mixes` and :func:`try_task` (the tries
  return a full :class:`TryResult`).

The talk's example::

    client = tbmsClient(ENDPOINT, ACCESSID, ACCESSKEY, INSTANCENAME)
    models = tbmsList({"embedding": {"est": 35}, "svm": {"est": 25},
                       "bayes": {"est": 15}, "keysearch": {"est": 5}})
    answer = tbmsTry(client, models, question, tloc=50, crossRequest=1,
                     crossLag=10, priority=0)
    mixes = tbmsMixList(
        {"mix1": [{"embedding": {"est": 35}}, {"svm": {"est": 25}},
                  {"mix": "max"}],
         "mix2": [{"bayes": {"est": 15}}, {"keysearch": {"est": 5}},
                  {"mix": "avg"}]})
    answer = tbmsMixTry(client, mixes, question, tloc=50, crossRequest=1,
                        crossLag=10)

Every request is signed with the access key (``TBMS-HMAC-SHA256``, see
``docs/security.md``): the key itself is never sent, shown in ``repr()``,
put in an exception message or logged.  ``https://`` endpoints are
verified against the system's CAs, or against ``ca_file`` / ``ssl_context``.

This module holds the sync :class:`Client` and the module-level tries; the
rest lives in :mod:`tbms.specs`, :mod:`tbms.results`, :mod:`tbms.errors`,
:mod:`tbms.signing`, :mod:`tbms.transport` and :mod:`tbms.base` (what the
sync and the async client share), and is re-exported here, so that
``from tbms.client import ...`` keeps working.  The asyncio flavour is
:mod:`tbms.aio`.

Only the Python standard library is used.
"""

from __future__ import annotations

import http.client
# Not used here: kept reachable as tbms.client.secrets and tbms.client.time,
# which are the modules themselves, so patching their token_hex / time (to
# pin a signature's nonce and timestamp) reaches tbms.signing.
import secrets  # noqa: F401
import ssl
import time  # noqa: F401
from typing import Any, Mapping, Optional, Union

from .base import (DEFAULT_HEALTH_TIMEOUT_S, DEFAULT_TASK_TIMEOUT_S,
                   DEFAULT_TIMEOUT_MARGIN_S, _ClientBase, _Request)
from .errors import (TbmsAuthError, TbmsBadRequest, TbmsError, TbmsHTTPError,
                     TbmsTimeout, TbmsTransportError)
from .results import Attempt, TryResult, _answer_or_empty
from .signing import AUTH_SCHEME, authorization_header, sign, string_to_sign
from .specs import (MAX_MIX_MEMBERS, MIX_AGGREGATORS, MixSpec, ModelSpec,
                    mix_list, model_list, tbmsList, tbmsMixList)
from .transport import (MAX_RESPONSE_BYTES, _TRANSPORT_FAILURES, _reply_too_large,
                        _socket_is_stale, _worth_retrying)

__all__ = [
    "AUTH_SCHEME",
    "DEFAULT_HEALTH_TIMEOUT_S",
    "DEFAULT_TASK_TIMEOUT_S",
    "DEFAULT_TIMEOUT_MARGIN_S",
    "MAX_MIX_MEMBERS",
    "MIX_AGGREGATORS",
    "Attempt",
    "Client",
    "MixSpec",
    "ModelSpec",
    "TbmsAuthError",
    "TbmsBadRequest",
    "TbmsError",
    "TbmsHTTPError",
    "TbmsTimeout",
    "TbmsTransportError",
    "TryResult",
    "authorization_header",
    "mix_list",
    "model_list",
    "sign",
    "string_to_sign",
    "tbmsClient",
    "tbmsList",
    "tbmsMixList",
    "tbmsMixTry",
    "tbmsTaskTry",
    "tbmsTry",
    "try_mixes",
    "try_models",
    "try_task",
]


class Client(_ClientBase):
    """Connection to one TBMS server.

    The client keeps a single persistent (keep-alive) HTTP connection,
    opened lazily on the first request.  If the server closed the idle
    connection in the meantime, the client reconnects once, transparently.

    Thread safety: a client is **not** thread-safe.  Use one client per
    thread, or guard a shared client with a ``threading.Lock`` (which
    serializes the requests).

    Every request (tries and health checks alike) is signed with the
    access key (:data:`AUTH_SCHEME`, see :func:`authorization_header`); the
    key is never sent and never appears in ``repr()``, in exception
    messages or in logs.  Read it from the environment or a file rather
    than writing it in code.

    Use it as a context manager, or call :meth:`close` when done::

        with Client("https://tbms.example:8443", "nianjianQA-1",
                    os.environ["TBMS_ACCESS_KEY"], "nianjianQA",
                    ca_file="tbms-ca.pem") as client:
            result = client.try_models({"svm": {"est": 25}}, "hi", tloc=50)

    Args:
        endpoint: server base URL, ``http://host:port`` or
            ``https://host:port``, optionally with a path prefix.
        access_id: access id, sent with every request.
        access_key: access key; only signs requests, is never sent.
        instance: the instance (the client application, INSTANCENAME)
            whose tries these are: ``/v1/instances/{instance}/try``.
        timeout: client-side timeout in seconds for every request.  When
            ``None``, a try request waits ``tloc / 1000 +``
            :data:`DEFAULT_TIMEOUT_MARGIN_S` seconds and a health check
            :data:`DEFAULT_HEALTH_TIMEOUT_S` seconds.
        ssl_context: TLS settings of an ``https`` endpoint (keyword only).
            Default: ``ssl.create_default_context()``, which checks the
            server's certificate against the system's CAs and its host name.
        ca_file: path of a PEM CA certificate, or of the server's own
            self-signed certificate, to trust instead of the system's CAs
            (keyword only); the host name is still checked, so the
            certificate must name the endpoint's host (subjectAltName).
            A shortcut for ``ssl_context=ssl.create_default_context(
            cafile=ca_file)``.

    Raises:
        ValueError: a bad endpoint, id, key, instance or timeout; TLS
            settings with an ``http://`` endpoint; both ``ssl_context`` and
            ``ca_file``.
        OSError, ssl.SSLError: ``ca_file`` cannot be read or parsed.
    """


    def __init__(self, endpoint: str, access_id: str, access_key: str,
                 instance: str, timeout: Optional[float] = None, *,
                 ssl_context: Optional[ssl.SSLContext] = None,
                 ca_file: Optional[str] = None) -> None:
        super().__init__(endpoint, access_id, access_key, instance, timeout,
                         ssl_context=ssl_context, ca_file=ca_file)
        self._conn: Optional[http.client.HTTPConnection] = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connection (a later call reopens one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- public API --------------------------------------------------------

    def try_models(self, models: Any, question: str, tloc: Union[int, float],
                   cross_request: int = 0, cross_lag: Union[int, float] = 0,
                   priority: int = 0, inputs: Optional[Mapping] = None,
                   timeout: Optional[float] = None, *,
                   hedge: Optional[str] = None) -> TryResult:
        """Ask the server to answer ``question`` within ``tloc`` ms.

        Args:
            models: ranked models, in any form accepted by :func:`model_list`.
            question: the question text.
            tloc: time limit in milliseconds (> 0).
            cross_request: cross-request setting (``crossRequest``, int >= 0).
            cross_lag: cross-request lag in milliseconds (``crossLag``, >= 0).
            priority: request priority (int).
            inputs: extra input fields sent next to ``"question"``.
            timeout: client-side timeout in seconds for this call; overrides
                the client's timeout and the ``tloc``-based default.
            hedge: when fallbacks launch while a better attempt runs:
                ``"at_risk"`` (the server's default: only once no attempt in
                flight is likely to answer by ``tloc``) or ``"expected"``
                (the talk's est timer); ``None`` sends nothing.

        Returns:
            A :class:`TryResult`; its ``answer`` is ``None`` when no answer
            was produced in time.

        Raises:
            ValueError: invalid arguments (nothing is sent).
            TbmsTimeout: no response within the client-side timeout.
            TbmsTransportError: connection or protocol failure.
            TbmsBadRequest: the server answered 4xx.
            TbmsHTTPError: the server answered 5xx.
        """
        return self._call(self._models_request(
            models, question, tloc, cross_request, cross_lag, priority,
            inputs, timeout, hedge))

    def try_mixes(self, mixes: Any, question: str, tloc: Union[int, float],
                  cross_request: int = 0, cross_lag: Union[int, float] = 0,
                  priority: int = 0, inputs: Optional[Mapping] = None,
                  timeout: Optional[float] = None, *,
                  hedge: Optional[str] = None) -> TryResult:
        """Like :meth:`try_models`, with ranked mixes as the candidates.

        Each mix runs its members together and combines their outputs with
        its aggregator; the result's ``model`` is the name of the mix that
        answered.

        Args:
            mixes: ranked mixes, in any form accepted by :func:`mix_list`.
            question, tloc, cross_request, cross_lag, priority, inputs,
            timeout, hedge: as for :meth:`try_models`.

        Returns:
            A :class:`TryResult`, as for :meth:`try_models`.

        Raises:
            The same exceptions as :meth:`try_models`.
        """
        return self._call(self._mixes_request(
            mixes, question, tloc, cross_request, cross_lag, priority,
            inputs, timeout, hedge))

    def try_task(self, task: str, question: str,
                 tloc: Optional[Union[int, float]] = None,
                 cross_request: Optional[int] = None,
                 cross_lag: Optional[Union[int, float]] = None,
                 priority: Optional[int] = None,
                 inputs: Optional[Mapping] = None,
                 timeout: Optional[float] = None, *,
                 hedge: Optional[str] = None) -> TryResult:
        """Answer ``question`` with the candidates of a server-side task.

        The task (configured on the server for this instance) supplies the
        ranked candidates and the defaults of ``tloc``, ``crossRequest``,
        ``crossLag`` and ``priority``; only the arguments given here (not
        ``None``) are sent, and they override the task's defaults.

        Args:
            task: task name, e.g. ``"qa"``.
            question: the question text.
            tloc: time limit in milliseconds (> 0), or ``None``.
            cross_request: ``crossRequest`` (int >= 0), or ``None``.
            cross_lag: ``crossLag`` in milliseconds (>= 0), or ``None``.
            priority: request priority (int), or ``None``.
            hedge: as for :meth:`try_models`; ``None`` takes the task's.
            inputs: extra input fields sent next to ``"question"``.
            timeout: client-side timeout in seconds for this call.  When
                ``None``: the client's timeout, else ``tloc / 1000 +``
                :data:`DEFAULT_TIMEOUT_MARGIN_S` when ``tloc`` is given,
                else :data:`DEFAULT_TASK_TIMEOUT_S`.

        Returns:
            A :class:`TryResult`, as for :meth:`try_models`.

        Raises:
            The same exceptions as :meth:`try_models`; an unknown task is
            a :class:`TbmsBadRequest` (404).
        """
        return self._call(self._task_request(
            task, question, tloc, cross_request, cross_lag, priority, inputs,
            timeout, hedge))

    def live(self) -> bool:
        """Return True if the server reports itself live (HTTP 200).

        Raises:
            TbmsTransportError: the server could not be reached.
        """
        return self._call(self._health_request("live"))

    def ready(self) -> bool:
        """Return True if the server is ready to serve (HTTP 200); False
        otherwise, e.g. 503 while draining.

        Raises:
            TbmsTransportError: the server could not be reached.
        """
        return self._call(self._health_request("ready"))

    # -- transport ---------------------------------------------------------

    def _call(self, request: _Request) -> Any:
        """Send ``request``; return what its reply reads as."""
        return request.read(*self._send(request))

    def _send(self, request: _Request) -> tuple:
        """Perform the exchange; return ``(status, reason, body_bytes)``.

        A request that fails with a connection error on a *reused*
        keep-alive connection (the server closed it while idle) is retried
        once on a fresh connection.  Each attempt is signed afresh: had the
        server recorded the first nonce, a resend of it would be refused
        as a replay.  Any other failure is raised as :class:`TbmsTimeout`
        or :class:`TbmsTransportError`.
        """
        for attempt in (1, 2):
            headers = self._headers(request)
            conn, reused = self._connection(request.timeout)
            try:
                return self._exchange(conn, request, headers)
            except (*_TRANSPORT_FAILURES, ValueError) as exc:  # http.client's bad framing is a ValueError
                self.close()
                if attempt == 2 or not _worth_retrying(exc, reused):
                    raise self._transport_error(exc, request) from exc
            except BaseException:  # an interrupt mid-read: the connection is in no state to reuse
                self.close()
                raise
        raise AssertionError("unreachable")

    def _connection(self, timeout: float) -> tuple:
        """Return ``(connection, reused)`` with ``timeout`` applied."""
        conn = self._conn
        if conn is not None and conn.sock is not None and (
                _socket_is_stale(conn.sock)):
            self.close()
            conn = None
        if conn is None:
            conn = self._new_connection(timeout)
            self._conn = conn
        conn.timeout = timeout
        reused = conn.sock is not None
        if reused:
            conn.sock.settimeout(timeout)
        return conn, reused

    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        """Create (but do not open) a connection to the server."""
        if self._scheme == "https":
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout,
                context=self._ssl_context)
        return http.client.HTTPConnection(
            self._host, self._port, timeout=timeout)

    @staticmethod
    def _exchange(conn: http.client.HTTPConnection, request: _Request,
                  headers: dict) -> tuple:
        """Perform one HTTP exchange; return ``(status, reason, body)``."""
        conn.request(request.method, request.path, body=request.body,
                     headers=headers)
        response = conn.getresponse()
        data = response.read(MAX_RESPONSE_BYTES + 1)
        if len(data) > MAX_RESPONSE_BYTES:
            raise _reply_too_large()
        if response.length:  # read(amt) returns a body cut short without a word
            raise http.client.IncompleteRead(data, response.length)
        return response.status, response.reason, data


#: Talk-style alias of :class:`Client`.
tbmsClient = Client


# --------------------------------------------------------------------------
# Module-level helpers
# --------------------------------------------------------------------------

def try_models(client: Client, models: Any, question: str,
               tloc: Union[int, float] = 50, cross_request: int = 0,
               cross_lag: Union[int, float] = 0, priority: int = 0,
               timeout: Optional[float] = None, *,
               hedge: Optional[str] = None) -> TryResult:
    """Run a try request with ``client``; see :meth:`Client.try_models`."""
    return client.try_models(models, question, tloc,
                             cross_request=cross_request,
                             cross_lag=cross_lag, priority=priority,
                             timeout=timeout, hedge=hedge)


def tbmsTry(client: Client, models: Any, question: str,  # noqa: N802
            tloc: Union[int, float] = 50, crossRequest: int = 0,  # noqa: N803
            crossLag: Union[int, float] = 0,  # noqa: N803
            priority: int = 0) -> Any:
    """Talk-style try: return just the answer.

    Returns:
        The answer (a string, or the JSON value as-is when the server
        returned a non-string answer), or ``""`` when there is no answer.

    Raises:
        The same exceptions as :meth:`Client.try_models`.
    """
    result = try_models(client, models, question, tloc=tloc,
                        cross_request=crossRequest, cross_lag=crossLag,
                        priority=priority)
    return _answer_or_empty(result)


def try_mixes(client: Client, mixes: Any, question: str,
              tloc: Union[int, float] = 50, cross_request: int = 0,
              cross_lag: Union[int, float] = 0, priority: int = 0,
              timeout: Optional[float] = None, *,
              hedge: Optional[str] = None) -> TryResult:
    """Run a try over mixes with ``client``; see :meth:`Client.try_mixes`."""
    return client.try_mixes(mixes, question, tloc,
                            cross_request=cross_request,
                            cross_lag=cross_lag, priority=priority,
                            timeout=timeout, hedge=hedge)


def tbmsMixTry(client: Client, mixes: Any, question: str,  # noqa: N802
               tloc: Union[int, float] = 50,
               crossRequest: int = 0,  # noqa: N803
               crossLag: Union[int, float] = 0,  # noqa: N803
               priority: int = 0) -> Any:
    """Talk-style try over mixes: return just the answer.

    Returns:
        The answer as :func:`tbmsTry` returns it, ``""`` when there is none.

    Raises:
        The same exceptions as :meth:`Client.try_mixes`.
    """
    result = try_mixes(client, mixes, question, tloc=tloc,
                       cross_request=crossRequest, cross_lag=crossLag,
                       priority=priority)
    return _answer_or_empty(result)


def try_task(client: Client, task: str, question: str,
             tloc: Optional[Union[int, float]] = None,
             cross_request: Optional[int] = None,
             cross_lag: Optional[Union[int, float]] = None,
             priority: Optional[int] = None,
             timeout: Optional[float] = None, *,
             hedge: Optional[str] = None) -> TryResult:
    """Run a task try with ``client``; see :meth:`Client.try_task`."""
    return client.try_task(task, question, tloc=tloc,
                           cross_request=cross_request, cross_lag=cross_lag,
                           priority=priority, timeout=timeout, hedge=hedge)


def tbmsTaskTry(client: Client, task: str, question: str,  # noqa: N802
                tloc: Optional[Union[int, float]] = None,
                crossRequest: Optional[int] = None,  # noqa: N803
                crossLag: Optional[Union[int, float]] = None,  # noqa: N803
                priority: Optional[int] = None) -> Any:
    """Talk-style task try: return just the answer.

    Only the arguments given (not ``None``) are sent; the server fills in
    the task's defaults for the others.

    Returns:
        The answer as :func:`tbmsTry` returns it, ``""`` when there is none.

    Raises:
        The same exceptions as :meth:`Client.try_task`.
    """
    result = try_task(client, task, question, tloc=tloc,
                      cross_request=crossRequest, cross_lag=crossLag,
                      priority=priority)
    return _answer_or_empty(result)
