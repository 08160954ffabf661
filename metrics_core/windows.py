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
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Generic, TypeVar, cast

import attrs

from metrics_core._blocks import SketchBlock, SumBlock
from metrics_core._frozen_ring import FrozenRing, Piece
from metrics_core._ring_sums import FrozenSum, window_data
from metrics_core._rings import PieceRing, staggered_ring
from metrics_core._tiers import RING_SUMS, TIERS, Tiers

__all__ = [
    "MAX_WINDOW", "RING_SUMS", "TIERS", "WindowView", "WindowedCounter", "WindowedDistribution",
]  # fmt: skip
from metrics_core.sketch import EMPTY, BucketData, merge_all

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

    ``closed[t]`` holds the closed slots of tier ``t`` as ``(start, value)``,
    oldest first; ``pending[t - 1]`` the block of tier ``t`` in progress as
    ``(block start, values of tier t - 1 closed inside it)``; ``current`` the
    open one-second slot.
    """

    closed: tuple[Sequence[Piece[T]], ...]
    starts: tuple[Sequence[float], ...] = attrs.field(repr=False)
    pending: tuple[tuple[float, tuple[T, ...]] | None, ...]
    current: Piece[T] | None
    first_seen: float
    sums: tuple[tuple[FrozenSum, ...], ...] | None = attrs.field(default=None, repr=False, eq=False)
    """Running bucket counts of each tier's newest slots (distributions only)."""

    def parts(self, window: float, now: float) -> tuple[list[T], float]:
        """The slot values inside ``window`` seconds before ``now``, and the effective start.

        Answered from the finest tier spanning the window: a piece is inside when the
        tier-wide block holding its start begins within ``[now - window, now]``. The
        effective start is the start of the earliest slot that may be included: never
        before the series was first seen, nor before the oldest slot still held.
        """
        if not window > 0:
            raise ValueError(f"'window' must be > 0 seconds: {window!r}")
        tier = _tier_for(window)
        width = TIERS[tier][0]
        start = now - window
        ring = self.closed[tier]
        starts = self.starts[tier]
        first = bisect_left(starts, start)
        last = bisect_right(starts, now)
        summed = None
        if isinstance(ring, FrozenRing):  # a distribution's ring, as columns
            if self.sums is not None and last == len(ring):
                summed = window_data(self.sums[tier], ring, first)
            parts = cast("list[T]", ring.values(first, last) if summed is None else [summed])
        else:
            parts = [value for _, value in ring[first:last]]
        for pending in self.pending[:tier]:
            if pending is not None and start <= pending[0] - pending[0] % width <= now:
                parts.extend(pending[1])
        current = self.current
        if current is not None and start <= current[0] - current[0] % width <= now:
            parts.append(current[1])
        effective = max(math.ceil(start / width) * width, min(self.first_seen, now))
        if len(ring) == TIERS[tier][1]:  # full: older slots have rolled off
            effective = max(effective, min(starts[0], now))
        return parts, effective


class WindowedCounter:
    """A counter's total plus its increments per time slot. Not thread-safe by itself."""

    __slots__ = ("_closed_total", "_open", "_open_end", "_open_start", "_tiers", "first_seen")

    def __init__(self, now: float) -> None:
        self.first_seen = now
        self._tiers: Tiers[float] = Tiers(SumBlock, PieceRing)
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
            self._tiers.close(self._open_start, self._open)
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
        return WindowView(
            *self._tiers.frozen()[:3], (self._open_start, self._open), self.first_seen
        )


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
        tiers = Tiers(SketchBlock, staggered_ring, self._settle, RING_SUMS)
        self._tiers: Tiers[BucketData] = tiers
        self._closed_all = EMPTY
        self._open_start = math.floor(now)
        self._open_end = self._open_start + 1
        self.positive: dict[int, int] = {}
        self.negative: dict[int, int] = {}
        self._reset()

    def _reset(self) -> None:
        # A closed slot holds copies: the open slot's maps are emptied, not replaced.
        self.count = self.zeros = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf
        self.positive.clear()
        if self.negative:
            self.negative.clear()

    def rotate(self, now: float) -> None:
        """Close the open slot and open the one holding ``now``."""
        if self.count:
            self._tiers.close(self._open_start, self._open_data())
            self._reset()
        self._open_start = math.floor(now)
        self._open_end = self._open_start + 1

    def _open_data(self) -> BucketData:
        if self.count == 1 and self.positive:  # a sparse series' usual slot
            ((index, _),) = self.positive.items()
            return BucketData(1, self.total, self.minimum, self.maximum, 0, (index, (1,)))
        return BucketData.from_sparse(
            self.count,
            self.total,
            self.minimum,
            self.maximum,
            self.zeros,
            self.positive,
            self.negative,
        )

    def _settle(self, block: BucketData) -> None:
        # Once a minute: the all-time summary is the widest value a series holds.
        self._closed_all = merge_all((self._closed_all, block))

    def view(self) -> tuple[WindowView[BucketData], tuple[BucketData, ...]]:
        """An immutable copy of the slots, and the pieces of the all-time summary."""
        current = self._open_data() if self.count else EMPTY
        closed, starts, pending, sums = self._tiers.frozen()
        # Every observation ever recorded: the all-time summary, the values closed since the
        # last minute's block ended (in the blocks in progress just frozen), the open slot.
        parts = [self._closed_all]
        for block in reversed(pending):
            if block is not None:
                parts += block[1]
        parts.append(current)
        view = WindowView(
            closed, starts, pending, (self._open_start, current), self.first_seen, sums
        )
        return view, tuple(parts)
