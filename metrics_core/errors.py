"""Error categories: ``timeout``, ``rate_limit``, ``server``, ``client``, ``network``, ``other``.

``classify_error`` derives the category of a failure from what is known of it: an
HTTP status code, an exception (or its class), or an exception class name as
events carry it in ``error_type``. Collectors tag ``error_category`` beside
``error_type`` with it; pass any callable of the same shape (an
``ErrorClassifier``) to a collector to classify your own errors differently.

The rules, first match wins:

1. A status code (an ``int``, a string of three digits, or an exception's
   ``status_code`` / ``status`` / ``response.status_code`` attribute): 408 and 504
   ``timeout``, 429 ``rate_limit``, other 5xx ``server``, other 4xx ``client``.
2. The exception's classes, from the most derived: ``TimeoutError`` ``timeout``;
   ``ConnectionError`` ``network``.
3. The class names (the exception's and its bases', or the ``error_type`` string),
   case-insensitively: containing ``timeout`` or ``timedout`` -> ``timeout``;
   ``ratelimit``, ``toomanyrequests``, ``throttl`` or ``quota`` -> ``rate_limit``;
   ``connect``, ``network``, ``socket``, ``dns`` or ``ssl`` -> ``network``;
   ``server``, ``unavailable``, ``badgateway`` or ``overloaded`` -> ``server``;
   ``badrequest``, ``invalid``, ``validation``, ``auth``, ``permission``,
   ``forbidden``, ``notfound``, ``unprocessable`` or ``conflict`` -> ``client``.
4. Anything else: ``other``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

__all__ = ["ERROR_CATEGORIES", "ErrorClassifier", "classify_error"]

ERROR_CATEGORIES: Final = ("timeout", "rate_limit", "server", "client", "network", "other")
"""Every category ``classify_error`` answers."""

ErrorClassifier = Callable[[object], str]
"""The shape of a classifier: an error (status, exception, class or name) -> its category."""

_NAME_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("timeout", ("timeout", "timedout")),
    ("rate_limit", ("ratelimit", "toomanyrequests", "throttl", "quota")),
    ("network", ("connect", "network", "socket", "dns", "ssl")),
    ("server", ("server", "unavailable", "badgateway", "overloaded")),
    ("client", (
        "badrequest", "invalid", "validation", "auth", "permission", "forbidden", "notfound",
        "unprocessable", "conflict",
    )),
)  # fmt: skip


def classify_error(error: object) -> str:
    """The category of ``error``: an HTTP status, an exception, its class or its name."""
    status = _status(error)
    if status is not None:
        return _status_category(status)
    if isinstance(error, BaseException):
        error = type(error)
    if isinstance(error, type):
        if issubclass(error, TimeoutError):
            return "timeout"
        if issubclass(error, ConnectionError):
            return "network"
        for klass in error.__mro__:
            category = _name_category(klass.__name__)
            if category is not None:
                return category
        return "other"
    if isinstance(error, str):
        return _name_category(error) or "other"
    return "other"


def _status(error: object) -> int | None:
    if isinstance(error, bool):
        return None
    if isinstance(error, int):
        return error
    if isinstance(error, str):
        text = error.strip()
        return int(text) if len(text) == 3 and text.isdigit() else None
    if isinstance(error, BaseException):
        for holder in (error, getattr(error, "response", None)):
            for attribute in ("status_code", "status"):
                value = getattr(holder, attribute, None)
                if isinstance(value, int) and not isinstance(value, bool):
                    return value
    return None


def _status_category(status: int) -> str:
    if status in (408, 504):
        return "timeout"
    if status == 429:
        return "rate_limit"
    if 500 <= status <= 599:
        return "server"
    if 400 <= status <= 499:
        return "client"
    return "other"


def _name_category(name: str) -> str | None:
    folded = name.lower().replace("_", "")
    for category, needles in _NAME_RULES:
        if any(needle in folded for needle in needles):
            return category
    return None
