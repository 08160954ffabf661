"""The ``Registry`` protocol: where collectors write and exporters' snapshots come from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from metrics_core.clock import Clock
from metrics_core.snapshot import Snapshot
from metrics_core.tags import Tags, TagValue
from metrics_core.values import Counter, Gauge, Histogram, MetricKind, Timer


class BoundInstrument(Protocol):
    """A series bound by kind, name and tags, recorded many times."""

    def record(self, value: float) -> None:
        """Record an increment, a gauge value, an observation or a duration (ms)."""


@runtime_checkable
class Registry(Protocol):
    """Stores metric values. ``RawRegistry`` and ``AggregatingRegistry`` implement it.

    Recording methods validate their input and raise ``ValueError`` naming the
    field and value; a rejected value changes nothing.
    """

    clock: Clock

    def counter(
        self, name: str, tags: Tags | Mapping[str, TagValue], increment: float = 1.0
    ) -> Counter:
        """Add ``increment`` (>= 0) to a counter; return the ``Counter`` value recorded."""

    def gauge(self, name: str, tags: Tags | Mapping[str, TagValue], value: float) -> Gauge:
        """Set a gauge to ``value``; return the ``Gauge`` value recorded."""

    def histogram(self, name: str, tags: Tags | Mapping[str, TagValue], value: float) -> Histogram:
        """Observe ``value`` in a histogram; return the ``Histogram`` value recorded."""

    def timer(self, name: str, tags: Tags | Mapping[str, TagValue], duration_ms: float) -> Timer:
        """Observe a duration in milliseconds (>= 0); return the ``Timer`` value recorded."""

    def instrument(
        self, kind: MetricKind, name: str, tags: Tags | Mapping[str, TagValue]
    ) -> BoundInstrument:
        """Bind ``name{tags}`` of ``kind`` for repeated recording."""

    def snapshot(
        self, *, names: Iterable[str] | None = None, match: Mapping[str, str] | None = None
    ) -> Snapshot:
        """An immutable copy of the selected series.

        Selects the series named in ``names`` (all by default) whose tags include
        every item of ``match``.
        """

    def clear(self) -> None:
        """Forget everything recorded."""
