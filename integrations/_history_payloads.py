"""``GET /metrics/history``: its parameters and JSON shape.

``?since=24h&step=5m`` (optional ``until``, a Unix time; optional ``model`` and
``version``, both or neither; or ``by`` and ``where`` as ``/metrics/versions`` takes
them). Durations take ``s``, ``m``, ``h`` and ``d``. The answer holds one point per
step and version, each a version payload (every ``VersionMetrics`` field, as
``/metrics/versions`` gives) plus ``t``, the step's start::

    {"since_seconds": 86400, "step_seconds": 300, "until": 1700000000.0,
     "versions": {"bert:v2": [{"t": ..., "request_count": ..., ...}, ...]}}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from integrations._payloads import BadParameterError, parse_by, parse_where, version_payload
from metrics_core.facade import Metrics
from metrics_core.history import ceil_minute

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}

MAX_POINTS = 2000
"""The most steps one answer may hold (``since / step``)."""


def parse_duration(query: Mapping[str, str], parameter: str, default: float) -> float:
    """Seconds of a duration parameter (``90s``, ``15m``, ``24h``, ``7d`` or seconds)."""
    text = query.get(parameter)
    return default if text is None else duration_seconds(text, parameter)


def duration_seconds(text: str, parameter: str) -> float:
    """Seconds of ``90s``, ``15m``, ``24h``, ``7d`` or plain seconds.

    Anything else raises ``BadParameterError``, a ``ValueError`` naming ``parameter``.
    """
    match = _DURATION.match(text)
    if match is None:
        raise BadParameterError(parameter, text, "must be a duration like 15m, 24h, 7d or seconds")
    seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    if not 0 < seconds < math.inf:
        raise BadParameterError(parameter, text, "must be > 0 seconds and finite")
    return seconds


def history_request(
    query: Mapping[str, str],
) -> tuple[float, float, float | None, str | None, str | None]:
    """``(since, step, until, model, version)`` of a ``/metrics/history`` query."""
    since = parse_duration(query, "since", 3600.0)
    step = parse_duration(query, "step", 60.0)
    if step < 60 or step % 60:
        raise BadParameterError("step", query.get("step"), "must be a whole number of minutes")
    if since / step > MAX_POINTS:
        raise BadParameterError(
            "step", query.get("step"), f"gives more than {MAX_POINTS} points over 'since'"
        )
    until: float | None = None
    if query.get("until"):
        try:
            until = float(query["until"])
        except ValueError:
            raise BadParameterError("until", query["until"], "must be a Unix time") from None
        if not math.isfinite(until):
            raise BadParameterError("until", query["until"], "must be a Unix time")
    parse_by(query.get("by"))  # checked here: a bad one answers 400 before any work
    parse_where(query.get("where"))
    model, version = query.get("model") or None, query.get("version") or None
    if (model is None) != (version is None):
        missing = "version" if version is None else "model"
        raise BadParameterError(missing, None, "is required with model and version")
    return since, step, until, model, version


def history_payload(metrics: Metrics, query: Mapping[str, str]) -> dict[str, Any]:
    """The ``/metrics/history`` answer (runs the queries: call it in a worker thread)."""
    since, step, until, model, version = history_request(query)
    versions: dict[str, list[dict[str, Any]]] = {}
    try:
        if model is not None and version is not None:
            points = metrics.history(model, version, since, until, step)
            if points:  # the key as get_all_metrics writes it (":" escaped)
                first = ceil_minute(points[-1].window_end - since)  # as Metrics.history steps
                versions[points[0].key] = [
                    {"t": first + n * step, **version_payload(p)} for n, p in enumerate(points)
                ]
        else:
            by, where = parse_by(query.get("by")), parse_where(query.get("where"))
            for start, found in metrics.all_history(since, until, step, by=by, where=where):
                for key, point in found.items():
                    versions.setdefault(key, []).append({"t": start, **version_payload(point)})
    except ValueError as error:  # 'until' in the future
        raise BadParameterError("until", query.get("until"), str(error)) from None
    return {
        "since_seconds": since,
        "step_seconds": step,
        "until": until,
        "versions": dict(sorted(versions.items())),
    }
