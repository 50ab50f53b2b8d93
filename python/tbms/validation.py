"""Argument checks shared by the model and mix lists, the tries and the
signing functions: each rule is written once, here."""

from __future__ import annotations

import math
from typing import Any


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
