"""``Snapshot``: an immutable, consistent copy of a registry's series.

Exporters and queries read snapshots, never registry internals. A snapshot is
taken in one pass under the registry's lock, each series frozen under its own
lock (consistent per series); recording goes on while exporters
read it. Every series answers windowed questions (``window_total``,
``window_summary``) for any window from 1 s to 1 h ending at a given time.

Counter and distribution series remember their last few window answers (a
series is immutable, so an answer never goes stale), and a registry may hand out
the same series object again while nothing was recorded into it: a read of an
unchanged series at the same instant then costs a dictionary lookup.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Hashable, Iterator, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import attrs

from metrics_core._validation import MAX_VALUE, shown
from metrics_core.durations import parse_duration
from metrics_core.sketch import BucketData, merge_all, quantiles
from metrics_core.tags import Tags
from metrics_core.values import MetricKind
from metrics_core.windows import WindowView

Window = timedelta | float | int | str
"""A window length: a ``timedelta``, a number of seconds, or text like ``"5m"``."""

_MEMO_SIZE = 8  # window answers a series keeps: a few windows read at one or two instants

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _remembered(memo: dict[K, V], key: K, make: Callable[[], V]) -> V:
    """``memo[key]``, made by ``make()`` when missing; a full memo starts over.

    Readers in several threads may race here: at worst an answer is computed twice.
    """
    known = memo.get(key)
    if known is None:
        known = make()
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[key] = known
    return known


def window_seconds(window: Window) -> float:
    """``window`` in seconds; raises ``ValueError`` unless it is positive and finite.

    Text is parsed by ``metrics_core.durations.parse_duration``: ``"90s"``, ``"5m"``,
    ``"1h"``, ``"500ms"`` or plain seconds.
    """
    if type(window) is float and 0 < window <= MAX_VALUE:  # the common case, checked quickly
        return window
    if isinstance(window, str):
        return parse_duration(window)
    seconds = window.total_seconds() if isinstance(window, timedelta) else window
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ValueError(f"'window' must be a timedelta or a number of seconds: {shown(window)}")
    if not (0 < seconds <= MAX_VALUE):
        raise ValueError(f"'window' must be > 0 seconds and finite: {shown(window)}")
    return float(seconds)


@attrs.frozen(slots=True)
class WindowSummary:
    """A distribution over one window: count, sum, min, max, mean and quantiles."""

    window_start: float
    window_end: float
    data: BucketData
    _quantiles: dict[tuple[float, ...], tuple[float, ...]] = attrs.field(
        factory=dict, init=False, repr=False, eq=False
    )

    @property
    def count(self) -> int:
        """Observations in the window."""
        return self.data.count

    @property
    def total(self) -> float:
        """Sum of the observations in the window."""
        return self.data.total

    @property
    def minimum(self) -> float:
        """Smallest observation (inf when empty)."""
        return self.data.minimum

    @property
    def maximum(self) -> float:
        """Largest observation (-inf when empty)."""
        return self.data.maximum

    @property
    def mean(self) -> float:
        """Mean observation, NaN when empty."""
        return self.data.mean

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (0..1), NaN when empty."""
        return self.data.quantile(q)

    def quantiles(self, *qs: float) -> list[float]:
        """Several quantiles at once (remembered: a scrape and a query ask the same ones)."""
        known: tuple[float, ...] = _remembered(
            self._quantiles, qs, lambda: tuple(quantiles(self.data, qs))
        )
        return list(known)


@attrs.frozen(slots=True)
class CounterSeries:
    """A counter: its all-time ``total`` and increments per time slot."""

    name: str
    tags: Tags
    total: float
    updated_at: float
    window: WindowView[float] = attrs.field(repr=False)
    kind: MetricKind = MetricKind.COUNTER
    _memo: dict[tuple[float, float], tuple[float, float]] = attrs.field(
        factory=dict, init=False, repr=False, eq=False
    )

    def window_total(self, window: Window, now: float) -> float:
        """What was added during the ``window`` ending at ``now``."""
        return self.window_total_since(window, now)[0]

    def window_start(self, window: Window, now: float) -> float:
        """The effective start of ``window`` for this series (see ``metrics_core.windows``)."""
        return self.window_total_since(window, now)[1]

    def window_total_since(self, window: Window, now: float) -> tuple[float, float]:
        """What was added during the ``window`` ending at ``now``, and its effective start."""
        seconds = window_seconds(window)

        def answer() -> tuple[float, float]:
            parts, start = self.window.parts(seconds, now)
            return math.fsum(parts), start

        return _remembered(self._memo, (seconds, now), answer)


@attrs.frozen(slots=True)
class GaugeSeries:
    """A gauge: its last value."""

    name: str
    tags: Tags
    value: float
    updated_at: float
    kind: MetricKind = MetricKind.GAUGE


@attrs.frozen(slots=True)
class DistributionSeries:
    """A histogram or timer: all-time summary, explicit buckets and per-slot sketches.

    ``bucket_counts[i]`` counts observations ``<= bucket_bounds[i]`` and above the
    previous bound (not cumulative); the last count is the ``+Inf`` bucket.
    Timer values are milliseconds.
    """

    kind: MetricKind
    name: str
    tags: Tags
    all_time_parts: tuple[BucketData, ...] = attrs.field(repr=False)
    bucket_bounds: tuple[float, ...]
    bucket_counts: tuple[int, ...]
    updated_at: float
    window: WindowView[BucketData] = attrs.field(repr=False)
    _memo: dict[tuple[str, float, float], Any] = attrs.field(
        factory=dict, init=False, repr=False, eq=False
    )

    @functools.cached_property
    def all_time(self) -> BucketData:
        """Every observation ever recorded, merged (computed on first use)."""
        return merge_all(self.all_time_parts)

    @property
    def count(self) -> int:
        """All observations ever recorded."""
        return sum([part.count for part in self.all_time_parts])

    @functools.cached_property
    def total(self) -> float:
        """Sum of all observations ever recorded (the parts' sums: no sketch merge)."""
        return math.fsum([part.total for part in self.all_time_parts])

    def window_total(self, window: Window, now: float) -> float:
        """Sum of the observations in the ``window`` ending at ``now`` (no bucket merge)."""
        seconds = window_seconds(window)

        def answer() -> float:
            parts, _ = self.window.parts(seconds, now)
            return math.fsum(part.total for part in parts)

        total: float = _remembered(self._memo, ("total", seconds, now), answer)
        return total

    def window_summary(self, window: Window, now: float) -> WindowSummary:
        """The distribution over the ``window`` ending at ``now``."""
        seconds = window_seconds(window)

        def answer() -> WindowSummary:
            parts, start = self.window.parts(seconds, now)
            return WindowSummary(start, now, merge_all(parts, compact=False))

        summary: WindowSummary = _remembered(self._memo, ("summary", seconds, now), answer)
        return summary


Series = CounterSeries | GaugeSeries | DistributionSeries
"""Any series of a snapshot."""


@attrs.frozen(slots=True)
class Snapshot:
    """An immutable copy of a registry at ``taken_at``."""

    taken_at: float
    series: tuple[Series, ...]

    def __iter__(self) -> Iterator[Series]:
        return iter(self.series)

    def __len__(self) -> int:
        return len(self.series)

    def counters(self) -> list[CounterSeries]:
        """Every counter series."""
        return [s for s in self.series if isinstance(s, CounterSeries)]

    def gauges(self) -> list[GaugeSeries]:
        """Every gauge series."""
        return [s for s in self.series if isinstance(s, GaugeSeries)]

    def distributions(self) -> list[DistributionSeries]:
        """Every histogram and timer series."""
        return [s for s in self.series if isinstance(s, DistributionSeries)]

    def find(self, name: str, match: Mapping[str, str] | None = None) -> list[Series]:
        """The series named ``name`` whose tags include every item of ``match``."""
        return [s for s in self.series if s.name == name and (not match or s.tags.includes(match))]

    def get(self, name: str, tags: Mapping[str, str] | None = None) -> Series | None:
        """The series named ``name`` with exactly ``tags``, or ``None``."""
        wanted = tags if isinstance(tags, Tags) else Tags.of(tags)
        for s in self.series:
            if s.name == name and s.tags == wanted:
                return s
        return None

    def versions(self) -> list[tuple[str, str]]:
        """Every ``(model_name, version)`` pair that appears in a series' tags, sorted."""
        pairs = {
            (s.tags["model_name"], s.tags["version"])
            for s in self.series
            if "model_name" in s.tags and "version" in s.tags
        }
        return sorted(pairs)
