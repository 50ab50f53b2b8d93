"""Request signing, as docs/security.md ("Signed requests") defines it.

:func:`string_to_sign`, :func:`sign` and :func:`authorization_header` are
pure and public, to check a server or another client against.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from typing import Any, Optional

from .validation import _is_int

#: Scheme of the ``Authorization`` header and first line of the string to
#: sign (docs/security.md).
AUTH_SCHEME = "TBMS-HMAC-SHA256"
_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_NONCE_BYTES = 16  # 32 hex characters


def _check_timestamp(timestamp: Any) -> None:
    """The header and the string to sign must carry the same decimal
    seconds, so only whole, non-negative ints are accepted."""
    if not _is_int(timestamp) or timestamp < 0:
        raise ValueError(
            f"timestamp must be an integer >= 0 (unix seconds), "
            f"got {timestamp!r}")


def _check_nonce(nonce: Any) -> None:
    """The server accepts 8-64 characters of A-Z a-z 0-9 _ -; checking
    here also keeps a caller-supplied nonce from breaking the header."""
    if not isinstance(nonce, str) or not _NONCE_RE.fullmatch(nonce):
        raise ValueError(
            f"nonce must be 8-64 characters of A-Z a-z 0-9 _ -, "
            f"got {nonce!r}")


def _key_bytes(access_key: str) -> bytes:
    """The HMAC key: the access key's UTF-8 bytes.

    A key that cannot be encoded raises a ValueError that does not carry
    the key: a UnicodeEncodeError holds all of it in ``.object``, so it is
    not even chained (raised after the ``except`` block, not inside it).
    """
    try:
        return access_key.encode("utf-8")
    except UnicodeEncodeError:
        pass
    raise ValueError("access_key must be encodable as UTF-8")


def string_to_sign(method: str, target: str, timestamp: int, nonce: str,
                   body: bytes) -> str:
    """Return the six ``\\n``-joined lines a request signature covers.

    Method, target and body hash bind the signature to this one request;
    timestamp and nonce let the server refuse stale and replayed copies.

    Args:
        method: HTTP method (upper-cased here).
        target: the path and query exactly as sent, endpoint prefix
            included, e.g. ``"/v1/instances/nianjianQA/try"``.
        timestamp: unix seconds, the same as in the header.
        nonce: 8-64 characters of ``A-Z a-z 0-9 _ -``.
        body: the exact bytes sent (``b""`` when there is no body).

    Raises:
        ValueError: a bad timestamp or nonce.
    """
    _check_timestamp(timestamp)
    _check_nonce(nonce)
    return "\n".join((AUTH_SCHEME, method.upper(), target, str(timestamp),
                      nonce, hashlib.sha256(body).hexdigest()))


def sign(access_key: str, method: str, target: str, timestamp: int,
         nonce: str, body: bytes) -> str:
    """Return the lower-case hex HMAC-SHA256 of :func:`string_to_sign`,
    keyed with the access key's UTF-8 bytes."""
    message = string_to_sign(method, target, timestamp, nonce, body)
    return hmac.new(_key_bytes(access_key), message.encode("utf-8"),
                    hashlib.sha256).hexdigest()


def authorization_header(access_id: str, access_key: str, method: str,
                         target: str, body: bytes,
                         timestamp: Optional[int] = None,
                         nonce: Optional[str] = None) -> str:
    """Return the ``Authorization`` header value of one request.

    ``timestamp`` defaults to now and ``nonce`` to 32 fresh random hex
    characters, so that each request is unique; pass both only to
    reproduce a known signature (e.g. the documented test vector).
    """
    if timestamp is None:
        timestamp = int(time.time())
    if nonce is None:
        nonce = secrets.token_hex(_NONCE_BYTES)
    signature = sign(access_key, method, target, timestamp, nonce, body)
    return (f"{AUTH_SCHEME} Credential={access_id}, Timestamp={timestamp}, "
            f"Nonce={nonce}, Signature={signature}")
