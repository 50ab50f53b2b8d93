"""The exceptions of the TBMS client, and which one an HTTP status raises."""

from __future__ import annotations


class TbmsError(Exception):
    """Base class of every error raised by the TBMS client."""


class TbmsTransportError(TbmsError):
    """The exchange with the server failed (connection refused or reset,
    unreadable or malformed response, ...)."""


class TbmsTimeout(TbmsTransportError):
    """The server did not answer within the client-side timeout."""


class TbmsHTTPError(TbmsError):
    """The server answered with an HTTP error status (4xx or 5xx).

    Attributes:
        status: the HTTP status code, e.g. ``500``.
        message: the server's ``"error"`` string (or the body / reason
            phrase when the server did not send one).
    """

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"TBMS {status}: {message}")


class TbmsBadRequest(TbmsHTTPError):
    """The server rejected the request with a 4xx status."""


class TbmsAuthError(TbmsBadRequest):
    """The server refused the credentials (401) or the access (403).

    Kept apart from other 4xx because the fix is not in the request: an
    unknown or rotated key, a clock more than the server's window off, or a
    key of another instance.
    """



def http_error(status: int, message: str) -> TbmsHTTPError:
    """The exception of an HTTP error status (the one rule for both
    clients): 401 and 403 are auth errors, other 4xx bad requests."""
    if status in (401, 403):
        return TbmsAuthError(status, message)
    if 400 <= status < 500:
        return TbmsBadRequest(status, message)
    return TbmsHTTPError(status, message)
