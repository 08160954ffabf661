"""Time-sliced series state: what lets any window from 1 s to 1 h be answered.

Observations land in the open one-second slot of a series (the only thing the
request path touches). When a second ends, its slot is closed into an immutable
value and rolled up into 10-second and 60-second blocks. Each tier keeps a
bounded ring, so memory does not grow with traffic:

    tier  slot width  slots kept  span
    0     1 s         60          the last minute
    1     10 s        61          the last 10 minutes
    2     60 s        61          the last hour

A window of ``W`` seconds ending now is answered by the finest tier spanning
``W``, from the slots that start at or after ``now - W``: an observation older
than the window is never counted, and the window may begin up to one slot
width later than asked (the effective start is reported).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import attrs

from metrics_core.sketch import EMPTY, BucketData, merge_all

TIERS: tuple[tuple[int, int], ...] = ((1, 60), (10, 61), (60, 61))
"""(slot width in seconds, slots kept) of each tier, finest first."""

MAX_WINDOW = float(TIERS[-1][0] * (TIERS[-1][1] - 1))
"""The longest window answered in full (one hour)."""

T = TypeVar("T")


def _tier_for(window: float) -> int:
    for tier, (width, kept) in enumerate(TIERS):
        if window <= width * (kept - (tier > 0)):
            return tier
    return len(TIERS) - 1


@attrs.frozen(slots=True)
class WindowView(Generic[T]):
    """An immutable copy of a series' slots, able to answer any window.

    ``closed[t]`` holds ``(start, value)`` of closed slots of tier ``t``;
    ``pending[t - 1]`` the rollup in progress of tier ``t`` (closed one-second
    slots of its current block); ``current`` the open one-second slot.
    """

    closed: tuple[tuple[tuple[float, T], ...], ...]
    pending: tuple[tuple[float, T] | None, ...]
    current: tuple[float, T] | None
    first_seen: float

    def parts(self, window: float, now: float) -> tuple[list[T], float]:
        """The slot values inside ``window`` seconds before ``now``, and the effective start.

        A slot is inside when it starts within ``[now - window, now]``. The effective
        start is the start of the earliest slot that may be included (never before the
        series was first seen).
        """
        if not window > 0:
            raise ValueError(f"'window' must be > 0 seconds: {window!r}")
        tier = _tier_for(window)
        width = TIERS[tier][0]
        start = now - window
        ring = self.closed[tier]
        parts = [value for begin, value in ring if start <= begin <= now]
        if tier:
            pending = self.pending[tier - 1]
            if pending is not None and start <= pending[0] <= now:
                parts.append(pending[1])
        current = self.current
        # The open one-second slot counts as part of its block of this tier.
        if current is not None and start <= current[0] - current[0] % width and current[0] <= now:
            parts.append(current[1])
        effective = max(math.ceil(start / width) * width, min(self.first_seen, now))
        if len(ring) == TIERS[tier][1]:  # full: older slots have rolled off
            effective = max(effective, min(ring[0][0], now))
        return parts, effective


class _Tiers(Generic[T]):
    """Rotation shared by counters and distributions: closed slots, rollups, rings."""

    __slots__ = ("closed", "pending")

    def __init__(self) -> None:
        self.closed: list[deque[tuple[float, T]]] = [deque(maxlen=kept) for _, kept in TIERS]
        self.pending: list[tuple[float, T] | None] = [None] * (len(TIERS) - 1)

    def close(self, start: float, value: T, merge: Callable[[Iterable[T]], T]) -> None:
        self.closed[0].append((start, value))
        for tier in range(1, len(TIERS)):
            width = TIERS[tier][0]
            block = start - start % width
            pending = self.pending[tier - 1]
            if pending is None:
                self.pending[tier - 1] = (block, value)
            elif pending[0] == block:
                self.pending[tier - 1] = (block, merge((pending[1], value)))
            else:
                self.closed[tier].append(pending)
                self.pending[tier - 1] = (block, value)

    def view(self, current: tuple[float, T] | None, first_seen: float) -> WindowView[T]:
        return WindowView(
            tuple(tuple(ring) for ring in self.closed), tuple(self.pending), current, first_seen
        )


def _sum(values: Iterable[float]) -> float:
    return math.fsum(values)


class WindowedCounter:
    """A counter's total plus its increments per time slot. Not thread-safe by itself."""

    __slots__ = ("_closed_total", "_open", "_open_end", "_open_start", "_tiers", "first_seen")

    def __init__(self, now: float) -> None:
        self.first_seen = now
        self._tiers: _Tiers[float] = _Tiers()
        self._closed_total = 0.0
        self._open = 0.0
        self._open_start = math.floor(now)
        self._open_end = self._open_start + 1

    def add(self, amount: float, now: float) -> None:
        """Add ``amount`` (already validated) at time ``now``."""
        if now >= self._open_end:
            self.rotate(now)
        self._open += amount

    def rotate(self, now: float) -> None:
        """Close the open slot and open the one holding ``now``."""
        if self._open:
            self._tiers.close(self._open_start, self._open, _sum)
            self._closed_total += self._open
            self._open = 0.0
        self._open_start = math.floor(now)
        self._open_end = self._open_start + 1

    @property
    def total(self) -> float:
        """Everything ever added."""
        return self._closed_total + self._open

    def view(self) -> WindowView[float]:
        """An immutable copy of the slots."""
        return self._tiers.view((self._open_start, self._open), self.first_seen)


class WindowedDistribution:
    """A distribution's slots: an open sparse slot plus immutable closed ones.

    Not thread-safe by itself: the registry serializes access.
    """

    __slots__ = (
        "_closed_all",
        "_open_end",
        "_open_start",
        "_tiers",
        "count",
        "first_seen",
        "maximum",
        "minimum",
        "negative",
        "positive",
        "total",
        "zeros",
    )

    def __init__(self, now: float) -> None:
        self.first_seen = now
        self._tiers: _Tiers[BucketData] = _Tiers()
        self._closed_all = EMPTY
        self._open_start = math.floor(now)
        self._open_end = self._open_start + 1
        self._reset()

    def _reset(self) -> None:
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf
        self.zeros = 0
        self.positive: dict[int, int] = {}
        self.negative: dict[int, int] = {}

    def rotate(self, now: float) -> None:
        """Close the open slot and open the one holding ``now``."""
        if self.count:
            closed = self._open_data()
            self._tiers.close(self._open_start, closed, merge_all)
            self._closed_all = merge_all((self._closed_all, closed))
            self._reset()
        self._open_start = math.floor(now)
        self._open_end = self._open_start + 1

    def _open_data(self) -> BucketData:
        return BucketData.from_sparse(
            self.count,
            self.total,
            self.minimum,
            self.maximum,
            self.zeros,
            self.positive,
            self.negative,
        )

    def all_time(self) -> BucketData:
        """Every observation ever recorded, merged."""
        if not self.count:
            return self._closed_all
        return merge_all((self._closed_all, self._open_data()))

    def view(self) -> tuple[WindowView[BucketData], BucketData]:
        """An immutable copy of the slots and the all-time summary."""
        current = self._open_data() if self.count else EMPTY
        all_time = merge_all((self._closed_all, current)) if self.count else self._closed_all
        return self._tiers.view((self._open_start, current), self.first_seen), all_time
