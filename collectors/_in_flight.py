"""``InFlightCounts``: the requests in flight per model version, exact with no lock per event.

A version's count is a ``deque`` holding one item per request in flight:
``append`` when one starts, ``pop`` when one ends (an ``IndexError`` when none is
in flight: the count stays at 0, never below). Both are atomic in CPython, so
threads step a count without a lock, and ``len`` is the exact count at any time.

The gauge ``model_inference_in_flight`` of an ``AggregatingRegistry`` reads that
``len`` when a snapshot copies it (a ``GaugeReading``): no value is recorded per
event. Any other registry, or a gauge folded into the overflow series, is set on
every step under a lock instead, as before: the last value set is the last count.

Versions are bounded like the collectors' caches: at ``MAX_CACHED_KEYS`` versions,
those with nothing in flight are dropped; if none is, a new version is not counted.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque

from collectors._cache import MAX_CACHED_KEYS
from metrics_core import names
from metrics_core.events import InferenceStarted
from metrics_core.registry import AggregatingRegistry, Registry
from metrics_core.registry._live import GaugeReading, LiveGauge
from metrics_core.registry.protocol import BoundInstrument
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

__all__ = ["InFlightCounts"]

Version = tuple[str, str]


class _Count(deque[None]):
    """One version's requests in flight, one item each, and the gauge that shows it."""

    __slots__ = ("gauge", "read_by", "retired")

    def __init__(self, gauge: BoundInstrument) -> None:
        super().__init__()
        self.gauge = gauge
        # The gauge series that reads the count itself; None: the gauge is set per step.
        self.read_by: LiveGauge | None = None
        # Dropped as idle while a step raced in: that step moves to the version's new count.
        self.retired = False


class InFlightCounts:
    """Requests in flight per ``(model_name, version)``, shown by the in-flight gauge."""

    __slots__ = ("_counts", "_limit", "_lock", "_registry")

    def __init__(self, limit: int = MAX_CACHED_KEYS) -> None:
        self._counts: dict[Version, _Count] = {}
        self._lock = threading.Lock()
        self._registry: Registry | None = None
        self._limit = limit

    def bind(self, registry: Registry) -> None:
        """Count afresh for ``registry`` (what was counted for an earlier one is dropped)."""
        with self._lock:
            self._registry = registry
            self._counts = {}

    def __len__(self) -> int:
        return len(self._counts)

    def count(self, version: Version) -> int:
        """Requests of ``version`` in flight now (0 for a version never started)."""
        found = self._counts.get(version)
        return 0 if found is None else len(found)

    def start(self, event: InferenceStarted) -> None:
        """One more request of the event's version in flight (a handler of the bus)."""
        version = (event.model_name, event.version)
        count = self._counts.get(version)
        if count is None:
            count = self._admit(version)
            if count is None:  # past the bound: not counted
                return
        count.append(None)
        if count.retired:  # dropped as idle before or as it stepped: undo, count it anew
            self._undo(count)
            self.start(event)
            return
        series = count.read_by
        if series is None:
            self._show(count)
        elif series.expired:
            self._admit(version)  # shown again, now with this step

    def finish(self, version: Version) -> None:
        """One request of ``version`` less in flight; nothing for a version never started."""
        count = self._counts.get(version)
        if count is None:
            return
        try:  # noqa: SIM105 - contextlib.suppress() would cost a call per event
            count.pop()
        except IndexError:  # more finished than started (some began before we listened)
            pass
        series = count.read_by
        if series is None:
            self._show(count)
        elif series.expired:
            self._admit(version)  # shown again, as the step would have set it

    def _show(self, count: _Count) -> None:
        """Set the gauge of a count its registry cannot read (under the lock: last set is last)."""
        with self._lock:
            count.gauge.record(len(count))

    def _undo(self, count: _Count) -> None:
        with contextlib.suppress(IndexError):  # a finish took it already: nothing to undo
            count.pop()

    def _admit(self, version: Version) -> _Count | None:
        """The count of ``version``, made (or its gauge reading attached again) under the lock."""
        with self._lock:
            counts = self._counts
            count = counts.get(version)
            if count is None or count.retired:
                if len(counts) >= self._limit and not self._drop_idle():
                    return None
                count = counts[version] = _Count(self._bind(version))
            if count.read_by is None or count.read_by.expired:
                count.read_by = self._attach(count)
            return count

    def _bind(self, version: Version) -> BoundInstrument:
        registry = self._registry
        if registry is None:
            raise RuntimeError("the collector is not bound: pass it to Metrics.collect()")
        tags = Tags({names.MODEL_NAME: version[0], names.VERSION: version[1]})
        return registry.instrument(MetricKind.GAUGE, names.IN_FLIGHT, tags)

    def _attach(self, count: _Count) -> LiveGauge | None:
        """Make the gauge read ``count``; ``None`` where it cannot (then it is set per step)."""
        count.gauge.record(len(count))  # makes the series; for a folded one, all it gets
        if not isinstance(self._registry, AggregatingRegistry):
            return None
        reading = GaugeReading(count.__len__)
        try:
            # An aggregating gauge takes a reading; a folded one rejects it as a non-number.
            count.gauge.record(reading)  # type: ignore[arg-type]
        except ValueError:
            return None
        return reading.series

    def _drop_idle(self) -> bool:
        """Drop the versions with nothing in flight; whether there is room now."""
        counts = self._counts
        for version, count in list(counts.items()):
            if not count:
                count.retired = True
                if count:  # a start raced in before the mark: keep it
                    count.retired = False
                else:
                    del counts[version]
        return len(counts) < self._limit
