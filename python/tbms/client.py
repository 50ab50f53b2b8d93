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

Only the Python standard library is used.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import math
import os
import re
import secrets
import select
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Union

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

#: Scheme of the ``Authorization`` header and first line of the string to
#: sign (docs/security.md).
AUTH_SCHEME = "TBMS-HMAC-SHA256"

#: Extra time (seconds) granted on top of ``tloc`` before the client gives up.
DEFAULT_TIMEOUT_MARGIN_S = 1.0

#: Timeout (seconds) of health checks when the client has no explicit timeout.
DEFAULT_HEALTH_TIMEOUT_S = 5.0

#: Timeout (seconds) of a task try that gives no ``tloc`` when the client has
#: no explicit timeout: the task's own ``tloc`` is known only to the server.
DEFAULT_TASK_TIMEOUT_S = 10.0

#: Aggregators that combine the outputs of a mix's members.
MIX_AGGREGATORS = ("max", "avg", "vote")

#: Most members a mix may have (the server's limit).
MAX_MIX_MEMBERS = 32

_USER_AGENT = "tbms-python/0.1"
_ACCESS_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_MAX_ERROR_BODY_CHARS = 200
_MODEL_KEYS = frozenset({"name", "est", "version"})
_MIX_KEY = "mix"
_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_NONCE_BYTES = 16  # 32 hex characters


# --------------------------------------------------------------------------
# Exceptions
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Data classes
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSpec:
    """One entry of a ranked model list, or one member of a mix.

    Attributes:
        name: model name known to the server, e.g. ``"svm"``.
        est: estimated latency of the model in milliseconds.  Required
            (> 0) in a ranked model list; optional (>= 0) for a mix member,
            where ``None`` lets the server use the model's configured est.
        version: optional model version.
    """

    name: str
    est: Optional[Union[int, float]] = None
    version: Optional[str] = None

    def to_json(self) -> dict:
        """Return the wire representation of this model (``"est"`` and
        ``"version"`` only when set)."""
        item: dict = {"name": self.name}
        if self.est is not None:
            item["est"] = self.est
        if self.version is not None:
            item["version"] = self.version
        return item


@dataclass(frozen=True)
class MixSpec:
    """One mix (ensemble): its members run together and their outputs are
    combined by the aggregator.  Build mixes with :func:`mix_list`.

    Attributes:
        name: name of the mix, reported as the attempt's model.
        members: the member models, a tuple of :class:`ModelSpec`.
        aggregator: one of :data:`MIX_AGGREGATORS` (``"max"``, ``"avg"``,
            ``"vote"``).
    """

    name: str
    members: tuple
    aggregator: str

    def to_json(self) -> dict:
        """Return the wire representation of this mix."""
        return {
            "name": self.name,
            "members": [member.to_json() for member in self.members],
            "aggregator": self.aggregator,
        }


@dataclass(frozen=True)
class Attempt:
    """What happened to one model while serving a request.

    Attributes:
        model: model (or mix) name.
        rank: position of the model in the ranked list (0 = best).
        state: ``"succeeded"``, ``"failed"``, ``"dropped_late"``,
            ``"cancelled"``, ``"skipped"`` (predicted late) or ``"in_flight"``.
        latency_ms: time from launch to outcome (0 when skipped).
        started_ms: when it was launched (or skipped), from the start of the
            request.
        version: the model version that ran, when the server reports one.
    """

    model: Optional[str]
    rank: Optional[int]
    state: Optional[str]
    latency_ms: Optional[float]
    started_ms: Optional[float] = None
    version: Optional[str] = None  # last: positional construction still works

    @classmethod
    def from_json(cls, item: Any) -> "Attempt":
        """Build an :class:`Attempt` from one item of ``"attempts"``."""
        if not isinstance(item, Mapping):
            raise ValueError(f"attempt must be an object, got {item!r}")
        return cls(
            model=item.get("model"),
            rank=item.get("rank"),
            state=item.get("state"),
            latency_ms=item.get("latency_ms"),
            started_ms=item.get("started_ms"),
            version=item.get("version"),
        )


@dataclass(frozen=True)
class TryResult:
    """Outcome of a ``try`` request.

    Attributes:
        answer: the answer (usually a string, possibly any JSON value) or
            ``None`` when no answer could be produced in time.  ``None`` is
            a normal outcome, not an error.
        model: name of the model (or mix) that produced the answer, if any.
        rank: rank of that model in the submitted list, if any.
        downgraded: ``True`` when a lower-ranked model than the best one
            produced the answer.
        reason: why the result is downgraded or missing, e.g.
            ``"predicted_late"``, ``"deadline"``, ``"infeasible"``.
        elapsed_ms: server-side time spent on the request.
        attempts: per-model details, see :class:`Attempt`.
        raw: the decoded JSON response, unmodified.
        version: version of the model that produced the answer, when the
            server reports one.
    """

    answer: Any
    model: Optional[str] = None
    rank: Optional[int] = None
    downgraded: bool = False
    reason: Optional[str] = None
    elapsed_ms: Optional[float] = None
    attempts: list = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False, compare=False)
    version: Optional[str] = None  # last: positional construction still works

    @property
    def ok(self) -> bool:
        """``True`` when the server produced an answer."""
        return self.answer is not None

    @classmethod
    def from_json(cls, data: Any) -> "TryResult":
        """Build a :class:`TryResult` from a decoded response body.

        Raises:
            ValueError: if the body does not have the expected shape.
        """
        if not isinstance(data, Mapping):
            raise ValueError("response body must be a JSON object")
        attempts = data.get("attempts") or []
        if not isinstance(attempts, list):
            raise ValueError("'attempts' must be a list")
        return cls(
            answer=data.get("answer"),
            model=data.get("model"),
            rank=data.get("rank"),
            downgraded=bool(data.get("downgraded", False)),
            reason=data.get("reason"),
            elapsed_ms=data.get("elapsed_ms"),
            attempts=[Attempt.from_json(item) for item in attempts],
            raw=dict(data),
            version=data.get("version"),
        )


# --------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    """Return True for finite ints and floats (bools excluded)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def _is_int(value: Any) -> bool:
    """Return True for ints (bools excluded)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_positive_number(name: str, value: Any) -> None:
    if not _is_number(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _check_question(question: Any) -> None:
    if not isinstance(question, str):
        raise ValueError(
            f"question must be a string, got {type(question).__name__}")


def _check_cross_request(cross_request: Any) -> None:
    if not _is_int(cross_request) or cross_request < 0:
        raise ValueError(
            f"crossRequest must be an integer >= 0, got {cross_request!r}")


def _check_cross_lag(cross_lag: Any) -> None:
    if not _is_number(cross_lag) or cross_lag < 0:
        raise ValueError(f"crossLag must be a number >= 0, got {cross_lag!r}")


def _check_priority(priority: Any) -> None:
    if not _is_int(priority):
        raise ValueError(f"priority must be an integer, got {priority!r}")


def _check_try_args(question: Any, tloc: Any, cross_request: Any,
                    cross_lag: Any, priority: Any) -> None:
    """Validate the scalar arguments of a try request."""
    _check_question(question)
    _check_positive_number("tloc", tloc)
    _check_cross_request(cross_request)
    _check_cross_lag(cross_lag)
    _check_priority(priority)


def _check_task_try_args(task: Any, question: Any, tloc: Any,
                         cross_request: Any, cross_lag: Any,
                         priority: Any) -> None:
    """Validate the arguments of a task try; ``None`` means "not given"."""
    if not isinstance(task, str) or not task.strip():
        raise ValueError(f"task must be a non-empty string, got {task!r}")
    _check_question(question)
    if tloc is not None:
        _check_positive_number("tloc", tloc)
    if cross_request is not None:
        _check_cross_request(cross_request)
    if cross_lag is not None:
        _check_cross_lag(cross_lag)
    if priority is not None:
        _check_priority(priority)


def _check_timeout(timeout: Any) -> None:
    if timeout is not None:
        _check_positive_number("timeout", timeout)


# --------------------------------------------------------------------------
# Model lists
# --------------------------------------------------------------------------

def _make_spec(name: Any, est: Any, version: Any = None) -> ModelSpec:
    """Validate one model entry and return it as a :class:`ModelSpec`."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            f"model name must be a non-empty string, got {name!r}")
    if not _is_number(est) or est <= 0:
        raise ValueError(
            f"model {name!r}: est must be a positive number of "
            f"milliseconds, got {est!r}")
    if version is not None and not isinstance(version, str):
        raise ValueError(
            f"model {name!r}: version must be a string, got {version!r}")
    return ModelSpec(name=name, est=est, version=version)


def _spec_from_mapping(item: Mapping, name: Any = None) -> ModelSpec:
    """Build a spec from ``{"est": .., "version": ..}`` (name given apart)
    or from ``{"name": .., "est": .., "version": ..}``."""
    allowed = _MODEL_KEYS if name is None else _MODEL_KEYS - {"name"}
    unknown = sorted(str(key) for key in item if key not in allowed)
    label = repr(name) if name is not None else repr(item.get("name"))
    if unknown:
        raise ValueError(f"model {label}: unknown field(s) {unknown}")
    if "est" not in item:
        raise ValueError(f"model {label}: missing 'est'")
    if name is None:
        name = item.get("name")
    return _make_spec(name, item["est"], item.get("version"))


def _spec_from_item(item: Any) -> ModelSpec:
    """Convert one element of a model sequence into a :class:`ModelSpec`."""
    if isinstance(item, ModelSpec):
        return _make_spec(item.name, item.est, item.version)
    if isinstance(item, Mapping):
        return _spec_from_mapping(item)
    if isinstance(item, (tuple, list)) and len(item) in (2, 3):
        return _make_spec(*item)
    raise ValueError(
        "each model must be a (name, est) tuple, a (name, est, version) "
        f"tuple or a dict with 'name' and 'est', got {item!r}")


def _specs_from_input(models: Any) -> list:
    """Turn any accepted model-list form into a list of specs."""
    if isinstance(models, Mapping):
        specs = []
        for name, value in models.items():
            if isinstance(value, Mapping):
                specs.append(_spec_from_mapping(value, name=name))
            else:  # shorthand: {"svm": 25}
                specs.append(_make_spec(name, value))
        return specs
    if isinstance(models, (str, bytes)) or not isinstance(models, Iterable):
        raise ValueError(
            "models must be a dict, or a list of (name, est) tuples or of "
            f"dicts, got {type(models).__name__}")
    return [_spec_from_item(item) for item in models]


def model_list(models: Any) -> list:
    """Build a ranked model list (best model first).

    Accepted forms (the order given is the rank order):

    * ``{"embedding": {"est": 35}, "svm": {"est": 25, "version": "2"}}``
      (a bare number is accepted as ``est``: ``{"svm": 25}``);
    * ``[("embedding", 35), ("svm", 25, "2")]``;
    * ``[{"name": "embedding", "est": 35}, ...]``;
    * a list of :class:`ModelSpec` (e.g. the result of this function).

    Args:
        models: the models in one of the forms above.

    Returns:
        A new list of :class:`ModelSpec`.

    Raises:
        ValueError: if the list is empty, a name is not a non-empty string,
            an ``est`` is not a positive number, a version is not a string,
            a field is unknown, or a (name, version) pair is repeated.
    """
    specs = _specs_from_input(models)
    if not specs:
        raise ValueError("model list is empty")
    seen = set()
    for spec in specs:
        key = (spec.name, spec.version)
        if key in seen:
            raise ValueError(f"duplicate model {spec.name!r} in model list")
        seen.add(key)
    return specs


#: Talk-style alias of :func:`model_list`.
tbmsList = model_list


# --------------------------------------------------------------------------
# Mix lists
# --------------------------------------------------------------------------

def _check_mix_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"mix name must be a non-empty string, got {name!r}")


def _make_member(mix: str, name: Any, est: Any = None,
                 version: Any = None) -> ModelSpec:
    """Validate one member of mix ``mix``; ``est`` may be omitted."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            f"mix {mix!r}: model name must be a non-empty string, "
            f"got {name!r}")
    if est is not None and (not _is_number(est) or est < 0):
        raise ValueError(
            f"mix {mix!r}: model {name!r}: est must be a number >= 0 of "
            f"milliseconds, got {est!r}")
    if version is not None and not isinstance(version, str):
        raise ValueError(
            f"mix {mix!r}: model {name!r}: version must be a string, "
            f"got {version!r}")
    return ModelSpec(name=name, est=est, version=version)


def _member_from_entry(mix: str, name: Any, value: Any) -> ModelSpec:
    """Build a member from ``{name: {"est": .., "version": ..}}`` (both
    optional) or the shorthand ``{name: est}``."""
    if isinstance(value, Mapping):
        allowed = _MODEL_KEYS - {"name"}
        unknown = sorted(str(key) for key in value if key not in allowed)
        if unknown:
            raise ValueError(
                f"mix {mix!r}: model {name!r}: unknown field(s) {unknown}")
        return _make_member(mix, name, value.get("est"), value.get("version"))
    if value is None:
        raise ValueError(
            f"mix {mix!r}: model {name!r} must map to {{'est': ms}} "
            "(or to {} to use the server's est), got None")
    return _make_member(mix, name, value)


def _make_mix(name: str, members: list, aggregator: Any) -> MixSpec:
    """Check the member count and the aggregator of a mix."""
    if not members:
        raise ValueError(f"mix {name!r} has no models")
    if len(members) > MAX_MIX_MEMBERS:
        raise ValueError(
            f"mix {name!r} has {len(members)} models, at most "
            f"{MAX_MIX_MEMBERS} are allowed")
    if not isinstance(aggregator, str) or aggregator not in MIX_AGGREGATORS:
        raise ValueError(
            f"mix {name!r}: aggregator must be one of "
            f"{', '.join(MIX_AGGREGATORS)}, got {aggregator!r}")
    return MixSpec(name=name, members=tuple(members), aggregator=aggregator)


def _mix_from_entries(name: Any, entries: Any) -> MixSpec:
    """Build a mix from the talk's list of one-key dicts, e.g.
    ``[{"svm": {"est": 25}}, {"bayes": {"est": 15}}, {"mix": "max"}]``."""
    _check_mix_name(name)
    if isinstance(entries, (str, bytes, Mapping)) or not isinstance(
            entries, Iterable):
        raise ValueError(
            f"mix {name!r} must be a list like [{{'svm': {{'est': 25}}}}, "
            f"..., {{'mix': 'max'}}], got {type(entries).__name__}")
    members = []
    aggregators = []
    for entry in entries:
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise ValueError(
                f"mix {name!r}: each entry must be a one-key dict, "
                f"{{model: {{'est': ms}}}} or {{'mix': aggregator}}, "
                f"got {entry!r}")
        ((key, value),) = entry.items()
        if key == _MIX_KEY:
            aggregators.append(value)
        else:
            members.append(_member_from_entry(name, key, value))
    if len(aggregators) != 1:
        raise ValueError(
            f"mix {name!r} needs exactly one {{'mix': aggregator}} entry, "
            f"got {len(aggregators)}")
    return _make_mix(name, members, aggregators[0])


def _mix_from_spec(spec: Any) -> MixSpec:
    """Re-validate a :class:`MixSpec` (e.g. one built by hand)."""
    if not isinstance(spec, MixSpec):
        raise ValueError(
            "a list of mixes must hold MixSpec items (use mix_list), "
            f"got {spec!r}")
    _check_mix_name(spec.name)
    if isinstance(spec.members, (str, bytes)) or not isinstance(
            spec.members, Iterable):
        raise ValueError(f"mix {spec.name!r}: members must be a tuple")
    members = []
    for member in spec.members:
        if not isinstance(member, ModelSpec):
            raise ValueError(
                f"mix {spec.name!r}: members must be ModelSpec items, "
                f"got {member!r}")
        members.append(_make_member(spec.name, member.name, member.est,
                                    member.version))
    return _make_mix(spec.name, members, spec.aggregator)


def mix_list(spec: Any) -> list:
    """Build a ranked list of mixes (best mix first).

    Accepted forms (the order given is the rank order):

    * the talk's dict of mixes, each a list of one-key dicts: model entries
      ``{name: {"est": ms, "version": "2"}}`` (``est`` and ``version``
      optional; a bare number is accepted as ``est``: ``{"svm": 25}``) and
      exactly one ``{"mix": aggregator}`` entry, anywhere in the list::

          {"mix1": [{"embedding": {"est": 35}}, {"svm": {"est": 25}},
                    {"mix": "max"}],
           "mix2": [{"bayes": {"est": 15}}, {"keysearch": {"est": 5}},
                    {"mix": "avg"}]}

    * a list of :class:`MixSpec` (e.g. the result of this function).

    A member without ``est`` is sent without it; the server then uses the
    model's configured est.  The key ``"mix"`` always names the
    aggregator, so a model called ``"mix"`` cannot be a member here.

    Args:
        spec: the mixes in one of the forms above.

    Returns:
        A new list of :class:`MixSpec`.

    Raises:
        ValueError: if the list is empty, a mix or model name is not a
            non-empty string, an entry is not a one-key dict, a mix has no
            models or more than :data:`MAX_MIX_MEMBERS`, an ``est`` is not
            a number >= 0, a version is not a string, a model field is
            unknown, a mix does not have exactly one ``"mix"`` entry, the
            aggregator is not one of :data:`MIX_AGGREGATORS`, or a mix
            name is repeated.
    """
    if isinstance(spec, Mapping):
        mixes = [_mix_from_entries(name, entries)
                 for name, entries in spec.items()]
    elif isinstance(spec, (str, bytes)) or not isinstance(spec, Iterable):
        raise ValueError(
            "mixes must be a dict like {'mix1': [{'svm': {'est': 25}}, "
            "{'mix': 'max'}]} or a list of MixSpec, "
            f"got {type(spec).__name__}")
    else:
        mixes = [_mix_from_spec(item) for item in spec]
    if not mixes:
        raise ValueError("mix list is empty")
    seen = set()
    for mix in mixes:
        if mix.name in seen:
            raise ValueError(f"duplicate mix {mix.name!r} in mix list")
        seen.add(mix.name)
    return mixes


#: Talk-style alias of :func:`mix_list`.
tbmsMixList = mix_list


# --------------------------------------------------------------------------
# Request signing (docs/security.md, "Signed requests")
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------

class Client:
    """Connection to one TBMS server instance.

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
        instance: name of the serving instance.
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
        self._conn: Optional[http.client.HTTPConnection] = None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(endpoint={self.endpoint!r}, "
                f"access_id={self.access_id!r}, instance={self.instance!r})")

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
                   timeout: Optional[float] = None) -> TryResult:
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
        return self._try_candidates("models", model_list(models), question, tloc, cross_request,
                                    cross_lag, priority, inputs, timeout)

    def try_mixes(self, mixes: Any, question: str, tloc: Union[int, float],
                  cross_request: int = 0, cross_lag: Union[int, float] = 0,
                  priority: int = 0, inputs: Optional[Mapping] = None,
                  timeout: Optional[float] = None) -> TryResult:
        """Like :meth:`try_models`, with ranked mixes as the candidates.

        Each mix runs its members together and combines their outputs with
        its aggregator; the result's ``model`` is the name of the mix that
        answered.

        Args:
            mixes: ranked mixes, in any form accepted by :func:`mix_list`.
            question, tloc, cross_request, cross_lag, priority, inputs,
            timeout: as for :meth:`try_models`.

        Returns:
            A :class:`TryResult`, as for :meth:`try_models`.

        Raises:
            The same exceptions as :meth:`try_models`.
        """
        return self._try_candidates("mixes", mix_list(mixes), question, tloc, cross_request,
                                    cross_lag, priority, inputs, timeout)

    def _try_candidates(self, key: str, specs: list, question: str, tloc: Union[int, float],
                        cross_request: int, cross_lag: Union[int, float], priority: int,
                        inputs: Optional[Mapping], timeout: Optional[float]) -> TryResult:
        """Sends a try whose candidates are `specs` under `key` ("models" or "mixes")."""
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
        return self._post_try(body, self._try_timeout(tloc, timeout))

    def try_task(self, task: str, question: str,
                 tloc: Optional[Union[int, float]] = None,
                 cross_request: Optional[int] = None,
                 cross_lag: Optional[Union[int, float]] = None,
                 priority: Optional[int] = None,
                 inputs: Optional[Mapping] = None,
                 timeout: Optional[float] = None) -> TryResult:
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
        _check_task_try_args(task, question, tloc, cross_request, cross_lag,
                             priority)
        _check_timeout(timeout)
        body = {"inputs": self._build_inputs(question, inputs), "task": task}
        for key, value in (("tloc", tloc), ("crossRequest", cross_request),
                           ("crossLag", cross_lag), ("priority", priority)):
            if value is not None:
                body[key] = value
        return self._post_try(body, self._try_timeout(tloc, timeout))

    def live(self) -> bool:
        """Return True if the server reports itself live (HTTP 200).

        Raises:
            TbmsTransportError: the server could not be reached.
        """
        return self._health("live")

    def ready(self) -> bool:
        """Return True if the server is ready to serve (HTTP 200); False
        otherwise, e.g. 503 while draining.

        Raises:
            TbmsTransportError: the server could not be reached.
        """
        return self._health("ready")

    # -- request building --------------------------------------------------

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

    def _sign(self, method: str, path: str, body: bytes) -> dict:
        """Return the authentication headers of a request.

        This is the single place where credentials are attached: one
        ``Authorization`` header, signed over ``path`` (the full request
        target as sent) and the exact ``body`` bytes, with a fresh
        timestamp and nonce so that no two requests share a signature.
        """
        return {"Authorization": authorization_header(
            self.access_id, self._access_key, method, path, body)}

    # -- response handling -------------------------------------------------

    def _post_try(self, body: dict, timeout: float) -> TryResult:
        """Send a try body to this client's instance; parse the result."""
        instance = urllib.parse.quote(self.instance, safe="")
        path = f"/v1/instances/{instance}/try"
        status, data = self._request("POST", path, body, timeout)
        return self._parse_try_response(status, data)

    @staticmethod
    def _parse_try_response(status: int, data: bytes) -> TryResult:
        """Decode a successful try response into a :class:`TryResult`."""
        try:
            return TryResult.from_json(json.loads(data))
        except ValueError as exc:  # includes json.JSONDecodeError
            raise TbmsTransportError(
                f"invalid response from TBMS (HTTP {status}): {exc}") from exc

    def _health(self, which: str) -> bool:
        """Query ``/v2/health/<which>``; True on 200, False otherwise."""
        timeout = self.timeout or DEFAULT_HEALTH_TIMEOUT_S
        status, _ = self._request("GET", f"/v2/health/{which}", None,
                                  timeout, raise_for_status=False)
        return status == 200

    # -- transport ---------------------------------------------------------

    def _request(self, method: str, path: str, payload: Any, timeout: float,
                 raise_for_status: bool = True) -> tuple:
        """Send one request and return ``(status, body_bytes)``.

        Raises:
            TbmsTimeout, TbmsTransportError: see :meth:`_send`.
            TbmsHTTPError: on a 4xx/5xx status if ``raise_for_status``.
        """
        full_path = self._prefix + path
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        status, reason, data = self._send(method, full_path, body, timeout)
        if raise_for_status and status >= 400:
            self._raise_http_error(status, reason, data)
        return status, data

    def _send(self, method: str, path: str, body: Optional[bytes],
              timeout: float) -> tuple:
        """Perform the exchange; return ``(status, reason, body_bytes)``.

        A request that fails with a connection error on a *reused*
        keep-alive connection (the server closed it while idle) is retried
        once on a fresh connection.  Each attempt is signed afresh: had the
        server recorded the first nonce, a resend of it would be refused
        as a replay.  Any other failure is raised as :class:`TbmsTimeout`
        or :class:`TbmsTransportError`.
        """
        for attempt in (1, 2):
            headers = self._headers(method, path, body)
            conn, reused = self._connection(timeout)
            try:
                return self._exchange(conn, method, path, body, headers)
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                stale = reused and isinstance(exc, ConnectionError)
                if attempt == 2 or not stale:
                    raise self._transport_error(
                        exc, method, path, timeout) from exc
        raise AssertionError("unreachable")

    def _headers(self, method: str, path: str, body: Optional[bytes]) -> dict:
        """All headers of a request, authentication included."""
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        headers.update(self._sign(method, path, body or b""))
        return headers

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
    def _exchange(conn: http.client.HTTPConnection, method: str, path: str,
                  body: Optional[bytes], headers: dict) -> tuple:
        """Perform one HTTP exchange; return ``(status, reason, body)``."""
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, response.reason, data

    def _transport_error(self, exc: Exception, method: str, path: str,
                         timeout: float) -> TbmsTransportError:
        """Translate a low-level exception into a client exception."""
        if isinstance(exc, TimeoutError):
            return TbmsTimeout(
                f"TBMS did not answer {method} {path} within {timeout:g} s")
        detail = str(exc) or type(exc).__name__
        return TbmsTransportError(
            f"TBMS request {method} {path} to {self.endpoint} failed: "
            f"{detail}")

    @staticmethod
    def _raise_http_error(status: int, reason: str, data: bytes) -> None:
        """Raise the error matching an HTTP error status."""
        message = _error_message(data, reason)
        if status in (401, 403):
            raise TbmsAuthError(status, message)
        if 400 <= status < 500:
            raise TbmsBadRequest(status, message)
        raise TbmsHTTPError(status, message)


#: Talk-style alias of :class:`Client`.
tbmsClient = Client


# --------------------------------------------------------------------------
# Module-level helpers
# --------------------------------------------------------------------------

def try_models(client: Client, models: Any, question: str,
               tloc: Union[int, float] = 50, cross_request: int = 0,
               cross_lag: Union[int, float] = 0, priority: int = 0,
               timeout: Optional[float] = None) -> TryResult:
    """Run a try request with ``client``; see :meth:`Client.try_models`."""
    return client.try_models(models, question, tloc,
                             cross_request=cross_request,
                             cross_lag=cross_lag, priority=priority,
                             timeout=timeout)


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
              timeout: Optional[float] = None) -> TryResult:
    """Run a try over mixes with ``client``; see :meth:`Client.try_mixes`."""
    return client.try_mixes(mixes, question, tloc,
                            cross_request=cross_request,
                            cross_lag=cross_lag, priority=priority,
                            timeout=timeout)


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
             timeout: Optional[float] = None) -> TryResult:
    """Run a task try with ``client``; see :meth:`Client.try_task`."""
    return client.try_task(task, question, tloc=tloc,
                           cross_request=cross_request, cross_lag=cross_lag,
                           priority=priority, timeout=timeout)


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


def _answer_or_empty(result: TryResult) -> Any:
    """The talk's convention: the answer, or ``""`` when there is none."""
    return "" if result.answer is None else result.answer
