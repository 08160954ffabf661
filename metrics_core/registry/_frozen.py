"""``FrozenSeries``: the aggregating registry's copies of its live series, for snapshots.

Each read (a scrape, ``get_all_metrics``) freezes every series it covers. A counter,
histogram or timer that recorded nothing since the last read gets the very object
the last read got: the copy costs a comparison instead of a view of its slots, and
the window answers remembered on that object (see ``metrics_core.snapshot``) are
reused. A distribution changes only by observations, each of which raises its
all-time count (the sum of its explicit bucket counts), so an equal count on the same
live series means an equal copy. A counter's total may not move (a tiny increment
on a huge total), so it is compared by what its slots hold: the open slot's amount
and the time of its last rotation (``updated_at``, later at every rotation). Gauges
are copied every time: two attributes.

The copies kept are bounded by the series the registry holds: entries of series
that expired are dropped every ``PRUNE_EVERY`` snapshots, or sooner once they could
make up half the table; ``clear()`` drops them all.
"""

from __future__ import annotations

from metrics_core.registry._live import LiveCounter, LiveDistribution, LiveGauge, LiveSeries
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries, Series
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

_MIN_PRUNE = 1_024  # entries below which pruning early is not worth a pass

PRUNE_EVERY = 16
"""Snapshots between two passes that drop the copies of expired series."""


class FrozenSeries:
    """The last copy of each distribution series; used under the registry's lock."""

    __slots__ = ("_counters", "_kept", "_prune_at", "_reads")

    def __init__(self) -> None:
        self._kept: dict[LiveDistribution, tuple[int, DistributionSeries]] = {}
        self._counters: dict[LiveCounter, tuple[tuple[float, float], CounterSeries]] = {}
        self._prune_at = _MIN_PRUNE
        self._reads = 0

    def freeze(self, kind: MetricKind, name: str, tags: Tags, live: LiveSeries) -> Series:
        """An immutable copy of ``live`` (drained first), consistent in itself."""
        with live._lock:
            if isinstance(live, LiveCounter):
                live.drain()
                # Every change moves the open slot's amount, or rotates (a later updated_at).
                token = (live.updated_at, live._open)
                kept_counter = self._counters.get(live)
                if kept_counter is not None and kept_counter[0] == token:
                    return kept_counter[1]
                counter = CounterSeries(name, tags, live.total, live.updated_at, live.view())
                self._counters[live] = (token, counter)
                return counter
            if isinstance(live, LiveGauge):
                return GaugeSeries(name, tags, live.value, live.updated_at)
            live.drain()
            count = sum(live.bucket_counts)
            kept = self._kept.get(live)
            if kept is not None and kept[0] == count:
                return kept[1]
            window, all_time_parts = live.view()
            series = DistributionSeries(
                kind,
                name,
                tags,
                all_time_parts,
                live.bounds,
                tuple(live.bucket_counts),
                live.updated_at,
                window,
            )
            self._kept[live] = (count, series)
            return series

    def prune(self) -> None:
        """After a snapshot: drop the copies of expired series, now and then."""
        self._reads += 1
        if self._reads < PRUNE_EVERY and len(self._kept) + len(self._counters) < self._prune_at:
            return
        self._reads = 0
        self._kept = {live: kept for live, kept in self._kept.items() if not live.expired}
        self._counters = {live: kept for live, kept in self._counters.items() if not live.expired}
        self._prune_at = max(_MIN_PRUNE, 2 * (len(self._kept) + len(self._counters)))

    def clear(self) -> None:
        """Forget every copy."""
        self._kept.clear()
        self._counters.clear()
        self._prune_at = _MIN_PRUNE

    def __len__(self) -> int:
        return len(self._kept) + len(self._counters)
