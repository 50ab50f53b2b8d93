"""HTTP plumbing shared by the sync and the async client.

Everything here is free of I/O style: endpoint parsing, the TLS context,
stale keep-alive socket detection, the one-retry rule for such sockets,
and the translation of failures and error replies into TBMS exceptions.
The clients themselves only move the bytes (:mod:`tbms.client` with
``http.client``, :mod:`tbms.aio` with asyncio streams).
"""

from __future__ import annotations

import http.client
import json
import os
import select
import ssl
import urllib.parse
from typing import Any, Mapping, Optional

from .errors import TbmsTimeout, TbmsTransportError, http_error

_MAX_ERROR_BODY_CHARS = 200

#: Low-level failures of an exchange that become a TbmsTransportError (a
#: timeout is an OSError too, and becomes a TbmsTimeout).
_TRANSPORT_FAILURES = (OSError, http.client.HTTPException)

#: The largest reply body either client reads (as the C++ client's
#: kMaxResponseBytes): a larger one fails the call as a transport error.
MAX_RESPONSE_BYTES = 64 << 20


def _reply_too_large() -> http.client.HTTPException:
    """The failure of a reply body past MAX_RESPONSE_BYTES."""
    return http.client.HTTPException(
        f"the reply is larger than {MAX_RESPONSE_BYTES} bytes")


def _parse_endpoint(endpoint: Any) -> tuple:
    """Split ``http(s)://host[:port][/prefix]`` into its parts.

    Returns:
        ``(scheme, host, port, prefix)``; prefix has no trailing slash.
    """
    if not isinstance(endpoint, str) or not endpoint:
        raise ValueError(
            f"endpoint must be a non-empty string, got {endpoint!r}")
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"endpoint must look like http://host:port, got {endpoint!r}")
    if parts.query or parts.fragment or "?" in endpoint or "#" in endpoint:
        raise ValueError(
            f"endpoint must have no query or fragment, got {endpoint!r}")
    if parts.username is not None:
        raise ValueError("endpoint must not carry user:password@ "
                         "(requests are signed with an access key)")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid port in endpoint {endpoint!r}") from exc
    return parts.scheme, parts.hostname, port, parts.path.rstrip("/")


def _tls_context(scheme: str, ssl_context: Any,
                 ca_file: Any) -> Optional[ssl.SSLContext]:
    """Return the TLS context of an ``https`` endpoint, ``None`` for http.

    TLS settings given with an ``http://`` endpoint are refused: silently
    ignoring them would let a caller believe a plain-text link is
    protected.
    """
    if scheme != "https":
        if ssl_context is not None or ca_file is not None:
            raise ValueError(
                "ssl_context and ca_file need an https:// endpoint")
        return None
    if ssl_context is not None and ca_file is not None:
        raise ValueError("give ssl_context or ca_file, not both")
    if ssl_context is not None:
        if not isinstance(ssl_context, ssl.SSLContext):
            raise ValueError(
                "ssl_context must be an ssl.SSLContext, "
                f"got {type(ssl_context).__name__}")
        return ssl_context
    if ca_file is not None:
        if not isinstance(ca_file, (str, os.PathLike)) or not os.fspath(
                ca_file):
            raise ValueError(f"ca_file must be a file path, got {ca_file!r}")
        return ssl.create_default_context(cafile=ca_file)
    return ssl.create_default_context()


def _socket_is_stale(sock: Any) -> bool:
    """Return True if an idle keep-alive socket was closed by the peer.

    An idle connection must have nothing to read; if it is readable the
    peer either closed it (EOF) or sent garbage, and it cannot be reused.
    """
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _error_message(body: bytes, reason: str) -> str:
    """Extract a human-readable message from an error response body."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, Mapping) and data.get("error") is not None:
        return str(data["error"])
    if text:
        return text[:_MAX_ERROR_BODY_CHARS]
    return reason or "no error message"


def _worth_retrying(exc: BaseException, reused: bool) -> bool:
    """True when a failed exchange should be retried once on a fresh
    connection: a connection error on a *reused* keep-alive connection
    most likely means the server closed it while it was idle."""
    return reused and isinstance(exc, ConnectionError)


def _transport_error(exc: BaseException, method: str, path: str,
                     endpoint: str, timeout: float) -> TbmsTransportError:
    """Translate a low-level exception into a client exception."""
    if isinstance(exc, TimeoutError):
        return TbmsTimeout(
            f"TBMS did not answer {method} {path} within {timeout:g} s")
    detail = str(exc) or type(exc).__name__
    return TbmsTransportError(
        f"TBMS request {method} {path} to {endpoint} failed: {detail}")


def _raise_for_status(status: int, reason: str, body: bytes) -> None:
    """Raise the exception of an HTTP error status (>= 400)."""
    if status >= 400:
        raise http_error(status, _error_message(body, reason))
