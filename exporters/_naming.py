"""How a metric's name, tag keys and unit read in each backend.

One place for the rules that docs/exporters.md tabulates:

- **Prometheus**: characters outside ``[a-zA-Z0-9_:]`` become ``_`` (so
  ``gen_ai.server.time_to_first_token`` reads ``gen_ai_server_time_to_first_token``);
  timers are converted from milliseconds to seconds and get ``_seconds``;
  counters end in ``_total``. Tag keys follow the same character rule.
- **StatsD / DogStatsD**: dots are kept (they are StatsD's hierarchy);
  other characters outside ``[a-zA-Z0-9_.-]`` become ``_``; timers stay in
  milliseconds, StatsD's own unit.
- **OTLP**: names are kept as recorded (OpenTelemetry allows dots); timers stay
  in milliseconds with unit ``ms``: their exponential histograms carry the sketch's
  base-2 buckets as they are, and no exact re-bucketing into seconds exists
  (``log2(1000)`` is not a whole number of buckets).
"""

from __future__ import annotations

import re

from metrics_core import names
from metrics_core.values import MetricKind

_PROMETHEUS_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
_PROMETHEUS_LABEL_INVALID = re.compile(r"[^a-zA-Z0-9_]")
_STATSD_INVALID = re.compile(r"[^a-zA-Z0-9_.\-]")

MS_PER_SECOND = 1000.0
"""Timers are recorded in milliseconds; Prometheus gets seconds."""


def prometheus_name(name: str, kind: MetricKind) -> str:
    """The Prometheus metric family name of ``name`` (without histogram sample suffixes)."""
    base = _PROMETHEUS_INVALID.sub("_", name)
    if base[:1].isdigit():
        base = "_" + base
    if kind is MetricKind.TIMER and not base.endswith("_seconds"):
        base += "_seconds"
    elif kind is MetricKind.COUNTER and not base.endswith("_total"):
        base += "_total"
    return base


def prometheus_label(key: str) -> str:
    """The Prometheus label name of tag key ``key``."""
    label = _PROMETHEUS_LABEL_INVALID.sub("_", key)
    return "_" + label if label[:1].isdigit() else label


def statsd_name(name: str, prefix: str = "") -> str:
    """The StatsD key of ``name``, after ``prefix`` and a dot when a prefix is given."""
    key = _STATSD_INVALID.sub("_", name)
    return f"{_STATSD_INVALID.sub('_', prefix)}.{key}" if prefix else key


def otlp_unit(name: str, kind: MetricKind) -> str:
    """The UCUM unit of ``name`` as OTLP carries it (``ms`` for timers, as recorded)."""
    if kind is MetricKind.TIMER:
        return "ms"
    return names.UNITS.get(name, "")


def description(name: str) -> str:
    """The help text of ``name``; the name itself for a metric the library does not know."""
    return names.DESCRIPTIONS.get(name, name)


def in_export_unit(value: float, kind: MetricKind) -> float:
    """``value`` in the unit Prometheus gets: seconds for timers, as recorded otherwise."""
    return value / MS_PER_SECOND if kind is MetricKind.TIMER else value
