"""``LogExporter``: one structlog event per series of a snapshot.

Every event carries the metric name, its kind and its tags as a plain dict,
then the numbers of that kind: totals for counters, the value for gauges, and
all-time count, sum, min and max plus the window's count, mean and quantiles
for histograms and timers. Non-finite numbers are logged as ``None`` so that a
JSON renderer downstream gets valid JSON.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import structlog

from metrics_core.snapshot import (
    CounterSeries,
    DistributionSeries,
    GaugeSeries,
    Series,
    Snapshot,
    window_seconds,
)
from metrics_core.values import MetricKind

LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
"""The log levels a ``LogExporter`` may log at."""

DEFAULT_LOGGER_NAME = "inference_metrics"
"""The name of the structlog logger used when none is given."""


class LogExporter:
    """Log every series of a snapshot as one structlog event.

    :param logger: a structlog bound logger (or anything with a method per level
        taking an event and keyword arguments); ``structlog.get_logger("inference_metrics")``
        when ``None``.
    :param event: the event name of every log call.
    :param level: one of ``debug``, ``info``, ``warning``, ``error``, ``critical``.
    :param window: the window of the ``window_*`` and quantile keys, a ``timedelta``
        or seconds (1 min by default), ending at the snapshot's time.

    Keys per kind (after ``metric``, ``kind`` and ``tags``): counter ``value`` and
    ``window_value``; gauge ``value``; histogram and timer ``count``, ``sum``,
    ``min``, ``max``, ``window_count``, ``window_mean``, ``p50``, ``p95``, ``p99``,
    and ``unit="ms"`` for timers.

    >>> from structlog.testing import capture_logs
    >>> from metrics_core.registry import AggregatingRegistry
    >>> registry = AggregatingRegistry(clock=lambda: 100.0)
    >>> registry.counter("jobs_total", {"queue": "a"}, 2)
    >>> with capture_logs() as logs:
    ...     LogExporter().export(registry.snapshot())
    >>> logs[0]["metric"], logs[0]["value"], logs[0]["tags"]
    ('jobs_total', 2.0, {'queue': 'a'})
    """

    def __init__(
        self,
        logger: Any | None = None,
        event: str = "metric",
        level: str = "info",
        window: float | timedelta | str = 60.0,
    ) -> None:
        if level not in LEVELS:
            raise ValueError(f"'level' must be one of {', '.join(LEVELS)}: {level!r}")
        self._logger: Any = structlog.get_logger(DEFAULT_LOGGER_NAME) if logger is None else logger
        self._event = event
        self._level = level
        self._window = window_seconds(window)

    @property
    def window(self) -> float:
        """The window of the ``window_*`` and quantile keys, in seconds."""
        return self._window

    def export(self, snapshot: Snapshot) -> None:
        """Log one event per series of ``snapshot``, in the snapshot's order."""
        # Looked up per export, not at construction: a lazy structlog proxy binds
        # (and so reads the configuration) on attribute access.
        log = getattr(self._logger, self._level)
        event = self._event
        now = snapshot.taken_at
        for series in snapshot.series:
            log(event, **self._fields(series, now))

    def close(self) -> None:
        """Do nothing: logging needs no cleanup."""

    def _fields(self, series: Series, now: float) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "metric": series.name,
            "kind": series.kind.value,
            "tags": dict(series.tags),
        }
        if isinstance(series, CounterSeries):
            fields["value"] = _json_number(series.total)
            fields["window_value"] = _json_number(series.window_total(self._window, now))
        elif isinstance(series, GaugeSeries):
            fields["value"] = _json_number(series.value)
        elif isinstance(series, DistributionSeries):
            all_time = series.all_time
            window = series.window_summary(self._window, now)
            p50, p95, p99 = window.quantiles(0.5, 0.95, 0.99)
            fields.update(
                count=all_time.count,
                sum=_json_number(all_time.total),
                min=_json_number(all_time.minimum),
                max=_json_number(all_time.maximum),
                window_count=window.count,
                window_mean=_json_number(window.mean),
                p50=_json_number(p50),
                p95=_json_number(p95),
                p99=_json_number(p99),
            )
            if series.kind is MetricKind.TIMER:
                fields["unit"] = "ms"
        return fields

    def __repr__(self) -> str:
        return (
            f"LogExporter(logger={self._logger!r}, event={self._event!r}, "
            f"level={self._level!r}, window={self._window!r})"
        )


def _json_number(value: float) -> float | None:
    """``value``, or ``None`` when NaN or infinite (JSON has neither)."""
    return value if math.isfinite(value) else None
