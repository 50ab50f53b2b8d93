"""Results of a try: :class:`TryResult` and its :class:`Attempt` items."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional


@dataclass(frozen=True)
class Attempt:
    """What happened to one model while serving a request.

    Attributes:
        model: model (or mix) name.
        rank: position of the model in the ranked list (0 = best).
        state: ``"succeeded"``, ``"failed"``, ``"dropped_late"``,
            ``"cancelled"``, ``"overdue"`` (cancelled past its predicted
            time), ``"skipped"`` (predicted late), ``"unavailable"``
            (the model is not served) or ``"in_flight"``.
        latency_ms: time from launch to outcome (0 when skipped).
        started_ms: when it was launched (or skipped), from the start of the
            request.
        version: the model version that ran, when the server reports one.
        error: for a failed or late attempt, what went wrong (e.g. a remote
            model's ``"10.0.0.5:8000: connection refused"``); else None.
    """

    model: Optional[str]
    rank: Optional[int]
    state: Optional[str]
    latency_ms: Optional[float]
    started_ms: Optional[float] = None
    version: Optional[str] = None  # last: positional construction still works
    error: Optional[str] = None

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
            error=item.get("error"),
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
            ``"predicted_late"``, ``"deadline"``, ``"infeasible"``,
            ``"overloaded"`` (the server was short of CPU: retry, or back off;
            docs/api.md lists them all).
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



def _answer_or_empty(result: TryResult) -> Any:
    """The talk's convention: the answer, or ``""`` when there is none."""
    return "" if result.answer is None else result.answer
