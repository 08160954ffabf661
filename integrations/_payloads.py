"""The JSON shapes of the metrics endpoints, and parsing of their query parameters.

A version is every ``VersionMetrics`` field by its attribute name plus ``"key"``
(``"model:version"``); comparisons nest two of them with the test results. NaN and
infinities become ``null`` so that the output is strict JSON.
"""

from __future__ import annotations

import enum
import math
import re
import time
from collections.abc import Mapping
from typing import Any

import attrs

from metrics_core.compare import Comparison
from metrics_core.query import VersionMetrics

_WINDOW = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class BadParameterError(ValueError):
    """A query parameter is missing or malformed; answered with HTTP 400."""

    def __init__(self, parameter: str, value: str | None, reason: str) -> None:
        super().__init__(f"'{parameter}' {reason}: {value!r}")
        self.parameter = parameter
        self.value = value
        self.reason = reason

    def payload(self) -> dict[str, Any]:
        """The JSON body of the 400 answer."""
        return {"error": str(self), "parameter": self.parameter, "value": self.value}


def parse_window(text: str | None, default: float) -> float:
    """Seconds of a ``window`` parameter: ``30s``, ``5m``, ``1h``, ``500ms`` or plain seconds.

    ``None`` (no parameter) gives ``default``; anything else that is not a positive,
    finite duration raises :class:`BadParameterError`.
    """
    if text is None:
        return default
    match = _WINDOW.match(text)
    if match is None:
        raise BadParameterError("window", text, "must be a duration like 30s, 5m, 1h or seconds")
    seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    if not 0 < seconds < math.inf:
        raise BadParameterError("window", text, "must be > 0 seconds and finite")
    return seconds


_DIMENSION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")


def parse_by(text: str | None) -> tuple[str, ...]:
    """Dimension keys of a ``by`` parameter: ``provider`` or ``provider,tenant``."""
    if text is None or not text.strip():
        return ()
    keys = tuple(key.strip() for key in text.split(","))
    for key in keys:
        if _DIMENSION.match(key) is None or key in ("model_name", "version"):
            raise BadParameterError("by", text, "must be dimension keys separated by commas")
    if len(set(keys)) != len(keys):
        raise BadParameterError("by", text, "must not repeat a key")
    return keys


def parse_where(text: str | None) -> dict[str, str] | None:
    """Filters of a ``where`` parameter: ``provider:openai`` or ``provider:openai,tenant:a``."""
    if text is None or not text.strip():
        return None
    out: dict[str, str] = {}
    for pair in text.split(","):
        key, sep, value = pair.strip().partition(":")
        if not sep or _DIMENSION.match(key.strip()) is None:
            raise BadParameterError("where", text, "must be key:value pairs separated by commas")
        out[key.strip()] = value.strip()
    return out


def required(query: Mapping[str, str], parameter: str) -> str:
    """The non-empty value of ``parameter``, else :class:`BadParameterError`."""
    value = query.get(parameter)
    if not value:
        raise BadParameterError(parameter, value, "is required")
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if attrs.has(type(value)):
        return {
            field.name: _plain(getattr(value, field.name)) for field in attrs.fields(type(value))
        }
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def version_payload(metrics: VersionMetrics) -> dict[str, Any]:
    """One version: every ``VersionMetrics`` field by name, plus ``key``."""
    payload: dict[str, Any] = _plain(metrics)
    payload["key"] = metrics.key
    return payload


def versions_payload(
    all_metrics: Mapping[str, VersionMetrics], window: float, now: float | None = None
) -> dict[str, Any]:
    """``{"time", "window_seconds", "versions": [...]}``, the versions sorted by key."""
    return {
        "time": time.time() if now is None else now,
        "window_seconds": window,
        "versions": [version_payload(all_metrics[key]) for key in sorted(all_metrics)],
    }


def comparison_payload(comparison: Comparison, window: float) -> dict[str, Any]:
    """A comparison: deltas, both versions (with ``key``), both tests and the verdict."""
    payload: dict[str, Any] = _plain(comparison)
    payload["baseline"] = version_payload(comparison.baseline)
    payload["candidate"] = version_payload(comparison.candidate)
    payload["window_seconds"] = window
    return payload
