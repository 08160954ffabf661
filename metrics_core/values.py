"""Immutable metric values: ``Counter``, ``Gauge``, ``Histogram`` and ``Timer``.

A value is one observation as a collector recorded it. The raw registry keeps
them as they are; the aggregating registry folds them into series. Nothing
mutates a value once made.
"""

from __future__ import annotations

import enum
import time
from typing import Any

import attrs

from metrics_core._validation import check_metric_name, finite, non_negative
from metrics_core.tags import Tags


class MetricKind(str, enum.Enum):
    """The four kinds of metric."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    TIMER = "timer"


def _name(_instance: Any, attribute: Any, value: Any) -> None:
    check_metric_name(value, attribute.name)


def _tags(value: object) -> Tags:
    if isinstance(value, Tags):
        return value
    if value is None:
        return Tags.empty()
    return Tags.of(value)  # type: ignore[arg-type]


@attrs.frozen(kw_only=True, slots=True)
class _Value:
    """What every value has besides its number: a name, tags and a timestamp."""

    name: str = attrs.field(validator=_name)
    tags: Tags = attrs.field(factory=Tags.empty, converter=_tags)
    timestamp: float = attrs.field(factory=time.time, validator=finite)

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "kind", "value", "tags", "timestamp"}``, plain JSON-ready values."""
        value: float = getattr(self, "value")  # noqa: B009 - every subclass defines it
        kind: MetricKind = getattr(self, "kind")  # noqa: B009
        return {
            "name": self.name,
            "kind": kind.value,
            "value": value,
            "tags": dict(self.tags),
            "timestamp": self.timestamp,
        }

    def __str__(self) -> str:
        """``name{key="value",...} value``, labels escaped as in Prometheus' text format."""
        value: float = getattr(self, "value")  # noqa: B009
        labels = ",".join(f'{key}="{_escape(text)}"' for key, text in self.tags.items())
        number = repr(float(value))
        return f"{self.name}{{{labels}}} {number}" if labels else f"{self.name} {number}"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@attrs.frozen(kw_only=True, slots=True)
class Counter(_Value):
    """A monotonic increment: ``value`` is how much the counter went up (>= 0)."""

    kind = MetricKind.COUNTER
    value: float = attrs.field(validator=non_negative)


@attrs.frozen(kw_only=True, slots=True)
class Gauge(_Value):
    """A point-in-time value that may go up or down."""

    kind = MetricKind.GAUGE
    value: float = attrs.field(validator=finite)


@attrs.frozen(kw_only=True, slots=True)
class Histogram(_Value):
    """One observation of a distribution (tokens, batch size, scores)."""

    kind = MetricKind.HISTOGRAM
    value: float = attrs.field(validator=finite)


@attrs.frozen(kw_only=True, slots=True)
class Timer(_Value):
    """One duration, in milliseconds (>= 0). Exporters convert to seconds."""

    kind = MetricKind.TIMER
    value: float = attrs.field(validator=non_negative)

    @property
    def duration_ms(self) -> float:
        """The duration in milliseconds."""
        return self.value

    @property
    def duration_seconds(self) -> float:
        """The duration in seconds."""
        return self.value / 1000.0


MetricValue = Counter | Gauge | Histogram | Timer
"""Any of the four value types."""

VALUE_TYPES: dict[MetricKind, type[MetricValue]] = {
    MetricKind.COUNTER: Counter,
    MetricKind.GAUGE: Gauge,
    MetricKind.HISTOGRAM: Histogram,
    MetricKind.TIMER: Timer,
}
