"""``RawRegistry``: keeps every value as recorded, in a bounded ring. For tests and debugging."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from metrics_core.clock import Clock, system_clock
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.snapshot import Snapshot
from metrics_core.tags import Tags, TagValue
from metrics_core.values import (
    VALUE_TYPES,
    Counter,
    Gauge,
    Histogram,
    MetricKind,
    MetricValue,
    Timer,
)


class RawRegistry:
    """A registry that stores each value object, up to ``max_values`` and ``ttl`` seconds.

    The oldest values fall off the ring first. ``snapshot()`` folds what the ring
    holds into the same series an ``AggregatingRegistry`` would hold, so exporters
    and queries work unchanged; ``values()`` and ``find()`` return the raw values.
    """

    def __init__(
        self, *, clock: Clock | None = None, max_values: int = 100_000, ttl: float | None = 3_600.0
    ) -> None:
        if max_values < 1:
            raise ValueError(f"'max_values' must be >= 1: {max_values!r}")
        if ttl is not None and not ttl > 0:
            raise ValueError(f"'ttl' must be > 0 or None: {ttl!r}")
        self.clock: Clock = clock or system_clock
        self.max_values = max_values
        self.ttl = ttl
        self._values: deque[MetricValue] = deque(maxlen=max_values)
        self._lock = threading.Lock()
        self._kinds: dict[str, MetricKind] = {}

    def counter(
        self, name: str, tags: Tags | Mapping[str, TagValue], increment: float = 1.0
    ) -> Counter:
        """Keep a ``Counter`` value and return it."""
        kept = Counter(name=name, value=increment, tags=tags, timestamp=self.clock())
        self._keep(kept)
        return kept

    def gauge(self, name: str, tags: Tags | Mapping[str, TagValue], value: float) -> Gauge:
        """Keep a ``Gauge`` value and return it."""
        kept = Gauge(name=name, value=value, tags=tags, timestamp=self.clock())
        self._keep(kept)
        return kept

    def histogram(self, name: str, tags: Tags | Mapping[str, TagValue], value: float) -> Histogram:
        """Keep a ``Histogram`` value and return it."""
        kept = Histogram(name=name, value=value, tags=tags, timestamp=self.clock())
        self._keep(kept)
        return kept

    def timer(self, name: str, tags: Tags | Mapping[str, TagValue], duration_ms: float) -> Timer:
        """Keep a ``Timer`` value and return it."""
        kept = Timer(name=name, value=duration_ms, tags=tags, timestamp=self.clock())
        self._keep(kept)
        return kept

    def instrument(
        self, kind: MetricKind, name: str, tags: Tags | Mapping[str, TagValue]
    ) -> _RawInstrument:
        """Bind ``name{tags}``: each record keeps one value of ``kind``."""
        return _RawInstrument(self, VALUE_TYPES[kind], name, Tags.of(tags))

    def _keep(self, value: MetricValue) -> None:
        with self._lock:
            known = self._kinds.setdefault(value.name, value.kind)
            if known is not value.kind:
                raise ValueError(
                    f"metric {value.name!r} is a {known.value}, not a {value.kind.value}"
                )
            self._values.append(value)
            self._expire(value.timestamp)

    def _expire(self, now: float) -> None:
        if self.ttl is None:
            return
        horizon = now - self.ttl
        values = self._values
        while values and values[0].timestamp < horizon:
            values.popleft()

    def values(self) -> list[MetricValue]:
        """Every value held, oldest first."""
        with self._lock:
            self._expire(self.clock())
            return list(self._values)

    def find(self, name: str, tags: Mapping[str, str] | None = None) -> list[MetricValue]:
        """The values named ``name`` whose tags include every item of ``tags``."""
        return [v for v in self.values() if v.name == name and (not tags or v.tags.includes(tags))]

    def all(self) -> list[MetricValue]:
        """Every value held, oldest first (the same as :meth:`values`)."""
        return self.values()

    def snapshot(
        self, *, names: Iterable[str] | None = None, match: Mapping[str, str] | None = None
    ) -> Snapshot:
        """Fold the held values into series, as an ``AggregatingRegistry`` would."""
        wanted = None if names is None else set(names)
        values = self.values()
        now = self.clock()
        moment = [now]
        folded = AggregatingRegistry(
            clock=lambda: moment[0],
            max_series_per_metric=len(values) + 1,
            series_ttl=None,
        )
        record: dict[type[MetricValue], Callable[[str, Tags, float], object]] = {
            Counter: folded.counter,
            Gauge: folded.gauge,
            Histogram: folded.histogram,
            Timer: folded.timer,
        }
        for value in values:
            if (wanted is None or value.name in wanted) and (
                not match or value.tags.includes(match)
            ):
                moment[0] = value.timestamp
                record[type(value)](value.name, value.tags, value.value)
        moment[0] = now
        return folded.snapshot()

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._values.clear()
            self._kinds.clear()


class _RawInstrument:
    __slots__ = ("_name", "_registry", "_tags", "_type")

    def __init__(
        self, registry: RawRegistry, value_type: type[MetricValue], name: str, tags: Tags
    ) -> None:
        self._registry = registry
        self._type = value_type
        self._name = name
        self._tags = tags

    def record(self, value: float) -> None:
        registry = self._registry
        registry._keep(
            self._type(name=self._name, value=value, tags=self._tags, timestamp=registry.clock())
        )
