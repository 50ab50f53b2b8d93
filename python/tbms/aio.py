"""asyncio flavour of the TBMS client.

:class:`AsyncClient` has the methods of :class:`tbms.Client`, as
coroutines, and the module-level tries have async twins::

    import asyncio, os
    from tbms import AsyncClient, tbmsAsyncTry, tbmsList

    async def main():
        async with AsyncClient("http://127.0.0.1:8000", "nianjianQA-1",
                               os.environ["TBMS_ACCESS_KEY"],
                               "nianjianQA") as client:
            models = tbmsList({"svm": {"est": 25}, "bayes": {"est": 15}})
            answers = await asyncio.gather(
                *(tbmsAsyncTry(client, models, q, tloc=50)
                  for q in ("q1", "q2", "q3")))

    asyncio.run(main())

========================  =====================================
sync (:mod:`tbms.client`)  async (this module)
========================  =====================================
``Client``                ``AsyncClient``
``try_models``            ``async_try_models``
``try_mixes``             ``async_try_mixes``
``try_task``              ``async_try_task``
``tbmsTry``               ``tbmsAsyncTry``
``tbmsMixTry``            ``tbmsAsyncMixTry``
``tbmsTaskTry``           ``tbmsAsyncTaskTry``
========================  =====================================

What is sent, how it is signed, how replies are read and which exception
each failure raises all come from :mod:`tbms.base` and
:mod:`tbms.transport`, shared with the sync client; this module only
moves the bytes, with ``asyncio.open_connection`` streams and a small
HTTP/1.1 framing of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import re
import ssl
from typing import Any, Mapping, Optional, Union

from .base import _ClientBase, _Request
from .results import TryResult, _answer_or_empty
from .transport import (MAX_RESPONSE_BYTES, _TRANSPORT_FAILURES, _reply_too_large,
                        _socket_is_stale, _worth_retrying)
from .validation import _is_int

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "AsyncClient",
    "async_try_mixes",
    "async_try_models",
    "async_try_task",
    "tbmsAsyncMixTry",
    "tbmsAsyncTaskTry",
    "tbmsAsyncTry",
]

#: Most connections an :class:`AsyncClient` holds open at once (default).
DEFAULT_MAX_CONNECTIONS = 10

_DEFAULT_PORTS = {"http": 80, "https": 443}
# The characters http.client refuses in a request target; refused here too,
# so that both clients fail alike instead of this one sending a broken line.
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")


# --------------------------------------------------------------------------
# HTTP/1.1 framing
# --------------------------------------------------------------------------

def _host_header(host: str, port: Optional[int], scheme: str) -> str:
    """The Host header, written as http.client writes it."""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return host
    return f"{host}:{port}"


def _encode_request(request: _Request, headers: dict) -> bytes:
    """The bytes of one request: request line, headers, body."""
    if _BAD_TARGET.search(request.path):
        raise http.client.InvalidURL(
            f"URL can't contain control characters: {request.path!r}")
    if request.body is not None:
        headers = {**headers, "Content-Length": str(len(request.body))}
    lines = [f"{request.method} {request.path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("latin-1") + (request.body or b"")


async def _read_response(reader: asyncio.StreamReader) -> tuple:
    """Read one reply; return ``(status, reason, body, keep_alive)``.

    Failures are raised as the ``http.client`` exceptions the sync client
    sees, so that both share one failure handling.
    """
    try:
        version, status, reason, headers = _parse_head(
            await _read_head(reader))
        while 100 <= status < 200 and status != 101:  # interim (100 Continue): the reply follows
            version, status, reason, headers = _parse_head(
                await _read_head(reader))
        body, framed = await _read_body(reader, status, headers)
    except asyncio.IncompleteReadError as exc:
        raise http.client.IncompleteRead(exc.partial) from None
    except asyncio.LimitOverrunError:
        raise http.client.LineTooLong("reply header") from None
    return status, reason, body, framed and _keeps_alive(version, headers)


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    """Read a reply's status line and headers.

    A connection closed before the first byte raises ``RemoteDisconnected``
    (as in http.client): a ``ConnectionError``, which makes a reused
    connection worth a retry.
    """
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        raise http.client.RemoteDisconnected(
            "Remote end closed connection without response") from None


def _parse_head(head: bytes) -> tuple:
    """Split a reply head into ``(version, status, reason, headers)``."""
    status_line, _, header_block = head.partition(b"\r\n")
    parts = status_line.decode("latin-1").split(None, 2)
    if (len(parts) < 2 or not parts[0].startswith("HTTP/")
            or not re.fullmatch(r"[0-9]{3}", parts[1])):
        raise http.client.BadStatusLine(status_line.decode("latin-1"))
    reason = parts[2].strip() if len(parts) == 3 else ""
    headers = http.client.parse_headers(io.BytesIO(header_block))
    return parts[0], int(parts[1]), reason, headers


async def _read_body(reader: asyncio.StreamReader, status: int,
                     headers: Any) -> tuple:
    """Read a reply body; return ``(body, framed)``, ``framed`` False when
    the body ran to the end of the connection (which is then spent)."""
    if status in (204, 304) or 100 <= status < 200:
        return b"", True
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return await _read_chunked(reader), True
    length = headers.get("Content-Length")
    if length is None:
        body = bytearray()
        while chunk := await reader.read(65536):  # to the end of the connection
            body += chunk
            if len(body) > MAX_RESPONSE_BYTES:
                raise _reply_too_large()
        return bytes(body), False
    if not re.fullmatch(r"[0-9]+", length.strip()):
        raise http.client.HTTPException(f"bad Content-Length {length!r}")
    if int(length) > MAX_RESPONSE_BYTES:
        raise _reply_too_large()
    return await reader.readexactly(int(length)), True



async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """Read a ``Transfer-Encoding: chunked`` body (the C++ server sends
    Content-Length, a proxy in front of it may not)."""
    chunks = []
    total = 0
    while True:
        size_field = (await reader.readuntil(b"\r\n")).split(b";")[0]
        if not re.fullmatch(rb"[0-9A-Fa-f]+", size_field.strip()):
            raise http.client.HTTPException(f"bad chunk size {size_field!r}")
        size = int(size_field.strip(), 16)
        if size == 0:
            break
        total += size
        if total > MAX_RESPONSE_BYTES:
            raise _reply_too_large()
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)  # the CRLF closing the chunk
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass  # trailer fields, unused
    return b"".join(chunks)


def _keeps_alive(version: str, headers: Any) -> bool:
    """Whether the server keeps the connection open after this reply."""
    tokens = headers.get("Connection", "").lower()
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


# --------------------------------------------------------------------------
# Connection pool
# --------------------------------------------------------------------------

class _Connection:
    """One keep-alive connection: its streams, and whether it already
    served a request (only then may a failure mean it had gone stale)."""

    def __init__(self, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False

    def is_stale(self) -> bool:
        """True if the server closed the idle connection, or sent
        something on it: either way it cannot carry a request."""
        if self.reader.at_eof() or self.writer.is_closing():
            return True
        sock = self.writer.get_extra_info("socket")
        return sock is None or _socket_is_stale(sock)

    def abort(self) -> None:
        """Drop the connection at once.  Every reply is fully framed, so
        nothing is lost, and a graceful TLS shutdown could wait on a
        server that does not answer."""
        self.writer.transport.abort()

    async def wait_closed(self) -> None:
        """Wait until the socket is closed."""
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


class _Pool:
    """At most ``size`` connections open; idle ones kept for reuse.

    ``connect`` opens a new :class:`_Connection`.  Every connection taken
    with :meth:`acquire` must be handed back with :meth:`release`.
    """

    def __init__(self, connect: Any, size: int) -> None:
        self._connect = connect
        self._slots = asyncio.Semaphore(size)
        self._idle: list = []  # most recently used last
        self._open: set = set()  # idle and in use, for close()
        self.closes = 0  # close() calls so far: a call under way sees one

    async def acquire(self, fresh: bool = False) -> _Connection:
        """Wait for a free slot; return an idle live connection, or a new
        one (always a new one when ``fresh``)."""
        await self._slots.acquire()
        try:
            conn = None if fresh else self._take_idle()
            if conn is None:
                conn = await self._connect()
                self._open.add(conn)
            return conn
        except BaseException:  # cancelled (timeout) or connect failed
            self._slots.release()
            raise

    def _take_idle(self) -> Optional[_Connection]:
        """The most recently used idle connection that is still alive (the
        likeliest not yet closed by the server's idle timeout)."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_stale():
                return conn
            self._discard(conn)
        return None

    def release(self, conn: _Connection, keep: bool) -> None:
        """Hand ``conn`` back: kept for reuse if ``keep`` and the pool was
        not closed meanwhile, else dropped; its slot is freed."""
        if keep and conn in self._open:
            conn.reused = True
            self._idle.append(conn)
        else:
            self._discard(conn)
        self._slots.release()

    def _discard(self, conn: _Connection) -> None:
        self._open.discard(conn)
        conn.abort()

    async def close(self) -> None:
        """Drop every connection, idle or in use, and wait until their
        sockets are closed."""
        self.closes += 1
        conns = list(self._open)
        self._open.clear()
        self._idle.clear()
        for conn in conns:
            conn.abort()
        for conn in conns:
            await conn.wait_closed()


# --------------------------------------------------------------------------
# AsyncClient
# --------------------------------------------------------------------------

class AsyncClient(_ClientBase):
    """asyncio connection to one TBMS server.

    The methods of :class:`tbms.Client` as coroutines, with the same
    arguments, defaults, validation, signing, results and exceptions::

        async with AsyncClient("https://tbms.example:8443", "nianjianQA-1",
                               os.environ["TBMS_ACCESS_KEY"], "nianjianQA",
                               ca_file="tbms-ca.pem") as client:
            result = await client.try_models({"svm": {"est": 25}}, "hi",
                                             tloc=50)

    Connections: a pool of at most ``max_connections`` keep-alive
    connections, opened as needed.  Concurrent calls (``asyncio.gather``)
    each use a connection of their own, and wait for one when all are
    busy.  A connection the server closed while idle is replaced; a call
    that fails on one that went stale undetected is retried once on a
    fresh connection, signed afresh, as :class:`tbms.Client` does.

    Timeouts: the timeout of :class:`tbms.Client` bounds the whole call,
    waiting for a free connection, connecting, TLS, sending and reading
    included (``asyncio.wait_for``), and raises :class:`tbms.TbmsTimeout`.

    Use a client within one event loop; it is not thread-safe.  Close it
    with ``await client.close()`` or ``async with``.

    Args:
        endpoint, access_id, access_key, instance, timeout, ssl_context,
        ca_file: as for :class:`tbms.Client`.
        max_connections: most connections open at once (keyword only,
            an int >= 1, default :data:`DEFAULT_MAX_CONNECTIONS`).

    Raises:
        ValueError, OSError, ssl.SSLError: as :class:`tbms.Client`; a bad
            ``max_connections``.
    """

    def __init__(self, endpoint: str, access_id: str, access_key: str,
                 instance: str, timeout: Optional[float] = None, *,
                 ssl_context: Optional[ssl.SSLContext] = None,
                 ca_file: Optional[str] = None,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        super().__init__(endpoint, access_id, access_key, instance, timeout,
                         ssl_context=ssl_context, ca_file=ca_file)
        if not _is_int(max_connections) or max_connections < 1:
            raise ValueError(
                f"max_connections must be an integer >= 1, "
                f"got {max_connections!r}")
        self.max_connections = max_connections
        self._host_header = _host_header(self._host, self._port, self._scheme)
        self._pool = _Pool(self._connect, max_connections)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection; a call still in flight fails with
        :class:`tbms.TbmsTransportError`.  A later call opens new ones."""
        await self._pool.close()

    # -- public API (documented on tbms.Client) ----------------------------

    async def try_models(self, models: Any, question: str,
                         tloc: Union[int, float], cross_request: int = 0,
                         cross_lag: Union[int, float] = 0, priority: int = 0,
                         inputs: Optional[Mapping] = None,
                         timeout: Optional[float] = None, *,
                         hedge: Optional[str] = None) -> TryResult:
        """Async :meth:`tbms.Client.try_models`."""
        return await self._call(self._models_request(
            models, question, tloc, cross_request, cross_lag, priority,
            inputs, timeout, hedge))

    async def try_mixes(self, mixes: Any, question: str,
                        tloc: Union[int, float], cross_request: int = 0,
                        cross_lag: Union[int, float] = 0, priority: int = 0,
                        inputs: Optional[Mapping] = None,
                        timeout: Optional[float] = None, *,
                        hedge: Optional[str] = None) -> TryResult:
        """Async :meth:`tbms.Client.try_mixes`."""
        return await self._call(self._mixes_request(
            mixes, question, tloc, cross_request, cross_lag, priority,
            inputs, timeout, hedge))

    async def try_task(self, task: str, question: str,
                       tloc: Optional[Union[int, float]] = None,
                       cross_request: Optional[int] = None,
                       cross_lag: Optional[Union[int, float]] = None,
                       priority: Optional[int] = None,
                       inputs: Optional[Mapping] = None,
                       timeout: Optional[float] = None, *,
                       hedge: Optional[str] = None) -> TryResult:
        """Async :meth:`tbms.Client.try_task`."""
        return await self._call(self._task_request(
            task, question, tloc, cross_request, cross_lag, priority, inputs,
            timeout, hedge))

    async def live(self) -> bool:
        """Async :meth:`tbms.Client.live`."""
        return await self._call(self._health_request("live"))

    async def ready(self) -> bool:
        """Async :meth:`tbms.Client.ready`."""
        return await self._call(self._health_request("ready"))

    # -- transport ---------------------------------------------------------

    async def _call(self, request: _Request) -> Any:
        """Send ``request``; return what its reply reads as."""
        return request.read(*await self._send(request))

    async def _send(self, request: _Request) -> tuple:
        """Perform the exchange within the request's timeout; return
        ``(status, reason, body_bytes)``.

        Raises:
            TbmsTimeout, TbmsTransportError: as :meth:`tbms.Client._send`.
        """
        try:
            return await asyncio.wait_for(self._send_with_retry(request),
                                          request.timeout)
        except _TRANSPORT_FAILURES as exc:  # the timeout's TimeoutError too
            raise self._transport_error(exc, request) from exc

    async def _send_with_retry(self, request: _Request) -> tuple:
        """One exchange, retried once on a fresh connection if it failed
        on a reused one that had gone stale (see :func:`_worth_retrying`).
        Each attempt is signed afresh: a resent nonce is a replay."""
        closes = self._pool.closes
        for attempt in (1, 2):
            conn = await self._pool.acquire(fresh=attempt == 2)
            try:
                return await self._exchange(conn, request)
            except _TRANSPORT_FAILURES as exc:
                # A close() meanwhile failed the call: it is not sent again.
                if (attempt == 2 or self._pool.closes != closes
                        or not _worth_retrying(exc, conn.reused)):
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, conn: _Connection, request: _Request) -> tuple:
        """One request and its reply on ``conn``, which goes back to the
        pool for reuse only if the reply was read whole and the server
        keeps the connection open (not on a failure or a cancellation)."""
        keep = False
        try:
            headers = {"Host": self._host_header, **self._headers(request)}
            conn.writer.write(_encode_request(request, headers))
            await conn.writer.drain()
            status, reason, body, keep = await _read_response(conn.reader)
            return status, reason, body
        finally:
            self._pool.release(conn, keep)

    async def _connect(self) -> _Connection:
        """Open a new connection to the server (TLS for https)."""
        port = self._port or _DEFAULT_PORTS[self._scheme]
        reader, writer = await asyncio.open_connection(
            self._host, port, ssl=self._ssl_context)
        return _Connection(reader, writer)


# --------------------------------------------------------------------------
# Module-level helpers, the async twins of tbms.client's
# --------------------------------------------------------------------------

async def async_try_models(client: AsyncClient, models: Any, question: str,
                           tloc: Union[int, float] = 50,
                           cross_request: int = 0,
                           cross_lag: Union[int, float] = 0,
                           priority: int = 0,
                           timeout: Optional[float] = None,
                           hedge: Optional[str] = None) -> TryResult:
    """Async :func:`tbms.try_models`: see :meth:`AsyncClient.try_models`."""
    return await client.try_models(models, question, tloc,
                                   cross_request=cross_request,
                                   cross_lag=cross_lag, priority=priority,
                                   timeout=timeout, hedge=hedge)


async def async_try_mixes(client: AsyncClient, mixes: Any, question: str,
                          tloc: Union[int, float] = 50,
                          cross_request: int = 0,
                          cross_lag: Union[int, float] = 0,
                          priority: int = 0,
                          timeout: Optional[float] = None,
                          hedge: Optional[str] = None) -> TryResult:
    """Async :func:`tbms.try_mixes`: see :meth:`AsyncClient.try_mixes`."""
    return await client.try_mixes(mixes, question, tloc,
                                  cross_request=cross_request,
                                  cross_lag=cross_lag, priority=priority,
                                  timeout=timeout, hedge=hedge)


async def async_try_task(client: AsyncClient, task: str, question: str,
                         tloc: Optional[Union[int, float]] = None,
                         cross_request: Optional[int] = None,
                         cross_lag: Optional[Union[int, float]] = None,
                         priority: Optional[int] = None,
                         timeout: Optional[float] = None,
                         hedge: Optional[str] = None) -> TryResult:
    """Async :func:`tbms.try_task`: see :meth:`AsyncClient.try_task`."""
    return await client.try_task(task, question, tloc=tloc,
                                 cross_request=cross_request,
                                 cross_lag=cross_lag, priority=priority,
                                 timeout=timeout, hedge=hedge)


async def tbmsAsyncTry(  # noqa: N802
        client: AsyncClient, models: Any, question: str,
        tloc: Union[int, float] = 50, crossRequest: int = 0,  # noqa: N803
        crossLag: Union[int, float] = 0,  # noqa: N803
        priority: int = 0) -> Any:
    """Async :func:`tbms.tbmsTry`: the answer, ``""`` when there is none."""
    result = await async_try_models(client, models, question, tloc=tloc,
                                    cross_request=crossRequest,
                                    cross_lag=crossLag, priority=priority)
    return _answer_or_empty(result)


async def tbmsAsyncMixTry(  # noqa: N802
        client: AsyncClient, mixes: Any, question: str,
        tloc: Union[int, float] = 50, crossRequest: int = 0,  # noqa: N803
        crossLag: Union[int, float] = 0,  # noqa: N803
        priority: int = 0) -> Any:
    """Async :func:`tbms.tbmsMixTry`: the answer, ``""`` when there is
    none."""
    result = await async_try_mixes(client, mixes, question, tloc=tloc,
                                   cross_request=crossRequest,
                                   cross_lag=crossLag, priority=priority)
    return _answer_or_empty(result)


async def tbmsAsyncTaskTry(  # noqa: N802
        client: AsyncClient, task: str, question: str,
        tloc: Optional[Union[int, float]] = None,
        crossRequest: Optional[int] = None,  # noqa: N803
        crossLag: Optional[Union[int, float]] = None,  # noqa: N803
        priority: Optional[int] = None) -> Any:
    """Async :func:`tbms.tbmsTaskTry`: the answer, ``""`` when there is
    none; only the arguments given are sent."""
    result = await async_try_task(client, task, question, tloc=tloc,
                                  cross_request=crossRequest,
                                  cross_lag=crossLag, priority=priority)
    return _answer_or_empty(result)
