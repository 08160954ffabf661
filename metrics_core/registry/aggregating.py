"""``AggregatingRegistry``: one bounded series per (kind, name, tags).

Counters keep a total, gauges the last value, histograms and timers count, sum,
min, max, explicit bucket counts and per-slot exponential sketches (see
``metrics_core.windows``). Memory stays bounded: slots roll off, idle series
expire after ``series_ttl``, and past ``max_series_per_metric`` new tag sets of
a metric fold into ``overflow="true"`` series that keep ``model_name`` and
``version`` within a budget (see ``_overflow``), counted in
``metrics_cardinality_overflow_total{metric}``.

A snapshot hands out the same series object as the last one for a counter,
histogram or timer that recorded nothing since: its window answers, remembered
on the object, are then not computed again (see ``registry._frozen``).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterable, Mapping, Sequence

from metrics_core._validation import (
    check_finite,
    check_int,
    check_metric_name,
    check_non_negative,
    check_seconds,
)
from metrics_core.buckets import DEFAULT_BUCKETS
from metrics_core.clock import Clock, system_clock
from metrics_core.names import OVERFLOW_TOTAL
from metrics_core.recorded import recorded
from metrics_core.registry._frozen import FrozenSeries
from metrics_core.registry._index import VersionIndex, version_of
from metrics_core.registry._live import LiveCounter, LiveDistribution, LiveGauge, LiveSeries
from metrics_core.registry._names import KeyGuard, check_room_for_name
from metrics_core.registry._overflow import OVERFLOW_TAGS, Folding
from metrics_core.snapshot import Series, Snapshot
from metrics_core.tags import Tags, TagValue
from metrics_core.values import Counter, Gauge, Histogram, MetricKind, Timer

# Floats, not ints: bisect compares each value with them on every observation.
DEFAULT_TIMER_BUCKETS_MS: tuple[float, ...] = (
    5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0,
    60_000.0,
)  # fmt: skip
"""Explicit bucket bounds for timers, in milliseconds: suited to inference latency."""

DEFAULT_HISTOGRAM_BUCKETS: tuple[float, ...] = (
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0,
    20_000.0, 50_000.0, 100_000.0,
)  # fmt: skip
"""Explicit bucket bounds for histograms (token counts, batch sizes, ...)."""


_INF = math.inf
_NONE: dict[Tags, LiveSeries] = {}
Family = dict[Tags, LiveSeries]


class Instrument:
    """A series bound once by name and tags, recorded many times.

    Collectors cache instruments per model version, sparing the tag and name
    lookups on every value. Returned by :meth:`AggregatingRegistry.instrument`.
    """

    __slots__ = ("_kind", "_name", "_record", "_registry", "_tags")

    def __init__(
        self,
        registry: AggregatingRegistry,
        kind: MetricKind,
        name: str,
        tags: Tags,
        series: LiveSeries | None,
    ) -> None:
        self._registry = registry
        self._kind = kind
        self._name = name
        self._tags = tags
        # The series' bound ``record``: one attribute read and one call per value.
        self._record = None if series is None else series.record

    def record(self, value: float) -> None:
        """Record ``value``: an increment, a gauge value, an observation or a duration (ms)."""
        record = self._record
        if record is None or not record(value):
            series = self._registry._record_slow(self._kind, self._name, self._tags, value)
            self._record = None if series is None else series.record


class AggregatingRegistry:
    """A registry that aggregates values into bounded series; thread-safe.

    :param clock: where time comes from (``time.time`` by default).
    :param max_series_per_metric: tag sets kept per metric name before folding.
    :param series_ttl: seconds after which an idle counter, histogram or timer
        series is dropped (``None``: never). Gauges hold state, not flow: they stay
        until overwritten or cleared.
    :param buckets: explicit bucket bounds per metric name, overriding the defaults.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        max_series_per_metric: int = 2_000,
        series_ttl: float | None = 3_600.0,
        buckets: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        check_int(max_series_per_metric, "max_series_per_metric", 1)
        if series_ttl is not None:
            series_ttl = check_seconds(series_ttl, "series_ttl")
        self.clock: Clock = clock or system_clock
        self.max_series_per_metric = max_series_per_metric
        self.series_ttl = series_ttl
        self._buckets = {
            **DEFAULT_BUCKETS,
            **{name: _bounds(name, b) for name, b in (buckets or {}).items()},
        }
        self._lock = threading.Lock()
        self._counters: dict[str, Family] = {}
        self._gauges: dict[str, Family] = {}
        self._histograms: dict[str, Family] = {}
        self._timers: dict[str, Family] = {}
        self._by_kind = {
            MetricKind.COUNTER: self._counters,
            MetricKind.GAUGE: self._gauges,
            MetricKind.HISTOGRAM: self._histograms,
            MetricKind.TIMER: self._timers,
        }
        self._kinds: dict[str, MetricKind] = {}
        self._index: VersionIndex[LiveSeries] = VersionIndex()
        self._next_sweep = -_INF
        self._folding = Folding(max_series_per_metric)
        self._keys = KeyGuard()
        self._frozen = FrozenSeries()

    # -- recording ------------------------------------------------------------------

    def counter(
        self, name: str, tags: Tags | Mapping[str, TagValue], increment: float = 1.0
    ) -> Counter:
        """Add ``increment`` (finite, >= 0) to the counter ``name{tags}``; return the value."""
        tags = tags if tags.__class__ is Tags else Tags.of(tags)
        self._record(MetricKind.COUNTER, name, tags, increment)
        return recorded(Counter, name, tags, increment, self.clock())

    def gauge(self, name: str, tags: Tags | Mapping[str, TagValue], value: float) -> Gauge:
        """Set the gauge ``name{tags}`` to ``value`` (finite); return the value."""
        tags = tags if tags.__class__ is Tags else Tags.of(tags)
        self._record(MetricKind.GAUGE, name, tags, value)
        return recorded(Gauge, name, tags, value, self.clock())

    def histogram(self, name: str, tags: Tags | Mapping[str, TagValue], value: float) -> Histogram:
        """Observe ``value`` (finite) in the histogram ``name{tags}``; return the value."""
        tags = tags if tags.__class__ is Tags else Tags.of(tags)
        self._record(MetricKind.HISTOGRAM, name, tags, value)
        return recorded(Histogram, name, tags, value, self.clock())

    def timer(self, name: str, tags: Tags | Mapping[str, TagValue], duration_ms: float) -> Timer:
        """Observe ``duration_ms`` (finite, >= 0) in the timer ``name{tags}``; return the value."""
        tags = tags if tags.__class__ is Tags else Tags.of(tags)
        self._record(MetricKind.TIMER, name, tags, duration_ms)
        return recorded(Timer, name, tags, duration_ms, self.clock())

    def _record(
        self, kind: MetricKind, name: str, tags: Tags | Mapping[str, TagValue], value: float
    ) -> None:
        if tags.__class__ is not Tags:
            tags = Tags.of(tags)
        series = self._by_kind[kind].get(name, _NONE).get(tags)
        if series is None or not series.record(value):
            self._record_slow(kind, name, tags, value)

    def instrument(
        self, kind: MetricKind, name: str, tags: Tags | Mapping[str, TagValue]
    ) -> Instrument:
        """Bind ``name{tags}`` of ``kind`` for repeated recording (validates the name now)."""
        if tags.__class__ is not Tags:
            tags = Tags.of(tags)
        known = self._kinds.get(name)
        if known is None:
            check_metric_name(name)
        elif known is not kind:
            raise ValueError(f"metric {name!r} is a {known.value}, not a {kind.value}")
        series = self._by_kind[kind].get(name, _NONE).get(tags)
        return Instrument(self, kind, name, tags, series)

    # -- the slow path: new series, expired series, folding (under the lock) ---------

    def _record_slow(
        self, kind: MetricKind, name: str, tags: Tags, value: float
    ) -> LiveSeries | None:
        """Record into a series created or found under the lock.

        Returns the series for an ``Instrument`` to cache, or ``None`` when the value
        was folded into the overflow series (which must be counted every time).
        """
        value = _VALIDATE[kind](value)
        while True:
            with self._lock:
                series, folded = self._resolve(kind, name, tags)
            if series.record(value):
                return None if folded else series

    def _resolve(self, kind: MetricKind, name: str, tags: Tags) -> tuple[LiveSeries, bool]:
        now = self.clock()
        if now >= self._next_sweep:
            self._sweep(now)
        known = self._kinds.get(name)
        if known is None:
            check_metric_name(name)
            check_room_for_name(len(self._kinds), name)
        elif known is not kind:
            raise ValueError(f"metric {name!r} is a {known.value}, not a {kind.value}")
        family = self._by_kind[kind].setdefault(name, {})
        self._kinds[name] = kind
        series = family.get(tags)
        if series is not None:
            return series, False
        folded = len(family) >= self.max_series_per_metric and tags != OVERFLOW_TAGS
        if folded:
            self._count_overflow(name, now)
            tags = self._folding.target(name, tags, family)
            series = family.get(tags)
            if series is not None:
                return series, True
        else:
            self._keys.admit(kind, name, tags)
        series = family[tags] = self._new_series(kind, name, now)
        self._index.add(kind, name, tags, series)
        return series, folded

    def _new_series(self, kind: MetricKind, name: str, now: float) -> LiveSeries:
        # One lock per series: threads recording into different series never wait
        # on each other. Lock order: the registry's lock, then a series' lock.
        if kind is MetricKind.COUNTER:
            return LiveCounter(now, threading.Lock(), self.clock)
        if kind is MetricKind.GAUGE:
            return LiveGauge(now, threading.Lock(), self.clock)
        default = (
            DEFAULT_TIMER_BUCKETS_MS if kind is MetricKind.TIMER else DEFAULT_HISTOGRAM_BUCKETS
        )
        bounds = self._buckets.get(name, default)
        return LiveDistribution(now, threading.Lock(), self.clock, kind, bounds)

    def _count_overflow(self, name: str, now: float) -> None:
        family = self._counters.setdefault(OVERFLOW_TOTAL, {})
        self._kinds[OVERFLOW_TOTAL] = MetricKind.COUNTER
        key = Tags._trusted({"metric": name})  # runs for every folded value: no re-checking
        counter = family.get(key)
        if not isinstance(counter, LiveCounter):
            counter = family[key] = LiveCounter(now, threading.Lock(), self.clock)
        with counter._lock:
            counter.add(1.0, now)
            counter.updated_at = now

    def _sweep(self, now: float) -> None:
        """Drop series idle longer than the TTL; runs at most every ttl/10 (<= 60 s)."""
        ttl = self.series_ttl
        self._next_sweep = now + (60.0 if ttl is None else min(60.0, ttl / 10))
        if ttl is None:
            return
        horizon = now - ttl
        for kind in (MetricKind.COUNTER, MetricKind.HISTOGRAM, MetricKind.TIMER):
            by_name = self._by_kind[kind]
            for name in list(by_name):
                family = by_name[name]
                expired = [t for t, s in family.items() if s.active_until() < horizon]
                for tags in expired:
                    series = family[tags]
                    with series._lock:  # a record in flight lands before the mark, or retries
                        if series.active_until() < horizon:
                            del family[tags]
                            series.expired = True
                            self._index.remove(kind, name, tags)
                if expired:
                    self._folding.recount(name, family)
                if not family:
                    del by_name[name]
                    self._kinds.pop(name, None)
                    self._keys.forget(name)

    # -- reading ----------------------------------------------------------------------

    def snapshot(
        self, *, names: Iterable[str] | None = None, match: Mapping[str, str] | None = None
    ) -> Snapshot:
        """An immutable copy of the selected series, each consistent in itself (drained, frozen)."""
        wanted = None if names is None else set(names)
        out: list[Series] = []
        version = None if match is None else version_of(match)
        freeze = self._frozen.freeze
        with self._lock:
            now = self.clock()
            if now >= self._next_sweep:
                self._sweep(now)
            if match is not None and version is not None:
                # One version's series from the index, not a scan of every series.
                for (kind, name, tags), live in self._index.members(*version):
                    if (wanted is None or name in wanted) and tags.includes(match):
                        out.append(freeze(kind, name, tags, live))
                self._frozen.prune()
                return Snapshot(now, tuple(out))
            for kind, by_name in self._by_kind.items():
                selected = (
                    by_name.items()
                    if wanted is None
                    else ((n, by_name[n]) for n in wanted if n in by_name)
                )
                for name, family in selected:
                    for tags, live in family.items():
                        if not match or tags.includes(match):
                            out.append(freeze(kind, name, tags, live))
            self._frozen.prune()
        return Snapshot(now, tuple(out))

    def find(self, name: str, tags: Mapping[str, str] | None = None) -> list[Series]:
        """The series named ``name`` whose tags include every item of ``tags``, as of now."""
        return list(self.snapshot(names=(name,), match=tags).series)

    def all(self) -> list[Series]:
        """Every series, as of now (the series of a snapshot)."""
        return list(self.snapshot().series)

    def series_count(self) -> int:
        """How many series are held, of every kind."""
        with self._lock:
            return sum(len(f) for by_name in self._by_kind.values() for f in by_name.values())

    def clear(self) -> None:
        """Forget every series."""
        with self._lock:
            for by_name in self._by_kind.values():
                for family in by_name.values():
                    for series in family.values():
                        with series._lock:
                            series.expired = True
                by_name.clear()
            self._kinds.clear()
            self._index.clear()
            self._folding.clear()
            self._keys.clear()
            self._frozen.clear()


def _validate_timer(value: float) -> float:
    return check_non_negative(value, "duration_ms")


def _validate_counter(value: float) -> float:
    return check_non_negative(value, "increment")


def _validate_value(value: float) -> float:
    return check_finite(value, "value")


_VALIDATE = {
    MetricKind.COUNTER: _validate_counter,
    MetricKind.GAUGE: _validate_value,
    MetricKind.HISTOGRAM: _validate_value,
    MetricKind.TIMER: _validate_timer,
}


def _bounds(name: str, bounds: Sequence[float]) -> tuple[float, ...]:
    values = tuple(check_finite(b, f"buckets[{name!r}]") for b in bounds)
    if not values or any(a >= b for a, b in itertools.pairwise(values)):
        raise ValueError(f"'buckets[{name!r}]' must be a non-empty increasing sequence: {bounds!r}")
    return values
