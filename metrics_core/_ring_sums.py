"""Running bucket counts over the newest slots of a ring: windows without big merges.

A query of a one-minute window merges up to 60 one-second slots, each a few
hundred buckets wide: tens of microseconds per slot, per series, per read. A
``RingSum`` keeps the bucket counts of the newest ``size`` slots of one ring,
adding each slot as it closes and subtracting the one that leaves. Counts are
integers, so the subtraction is exact; a window then costs one copy plus the few
slots between the sum and the window (``window_data``). Totals, minimums and
maximums do not subtract: they are reductions over the window's slice of the
ring's columns (``FrozenRing``), done in C.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

from metrics_core._frozen_ring import FrozenRing
from metrics_core._packed import (
    EMPTY_RUN,
    FIELD,
    PackedCounts,
    PackedRun,
    Slot,
    shifted,
    unpack,
    widened,
    width_for,
)
from metrics_core.sketch import BucketData

Run = tuple[int, "array[int]"]
"""``(offset, counts)`` of a frozen running sum."""


class RingSum(PackedCounts):
    """Bucket counts of the newest ``size`` slots of a ring; not thread-safe by itself.

    The counts are packed (``metrics_core._packed``): adding or taking out a slot a
    few hundred buckets wide is one integer operation, not one per bucket.
    """

    __slots__ = ("_frozen", "size")

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self._frozen: FrozenSum | None = None

    def swap(self, added: BucketData, removed: BucketData) -> None:
        """Add ``added`` and take out ``removed`` (the slot that left the newest ``size``)."""
        old_offset, old_counts = removed.positive
        if len(old_counts) == 1 and old_counts[0] == removed.count:  # one bucket holds it all
            self.swap_one(added, old_offset, removed.count)
        else:
            self.apply(added, 1)
            self.apply(removed, -1)

    def swap_one(self, added: BucketData, bucket: int, removed: int = 1) -> None:
        """``swap`` for a slot that left with ``removed`` positive observations in ``bucket``.

        A ring keeps a one-observation slot as its bucket alone: nothing is decoded for
        it. Both slots one bucket each, inside the run (a sparse series'): one shift and
        one subtraction.
        """
        new_offset, new_counts = added.positive
        low, value, span = self.positive
        bits = self.width << 3
        count = added.count
        if (
            len(new_counts) == 1
            and new_counts[0] == count  # one bucket holds all of ``added``: no zero, no negative
            and not ((self.peak if self.peak < self.count else self.count) + count) >> bits
            and 0 <= new_offset - low < span
            and 0 <= bucket - low < span
        ):
            self._frozen = None
            self.count += count - removed
            self.peak += count - removed
            if not self.count:
                self.zeros = self.peak = 0
                self.width = 1
                self.positive = self.negative = EMPTY_RUN
                return
            value += count << ((new_offset - low) * bits)
            self.positive = (low, value - (removed << ((bucket - low) * bits)), span)
            return
        self.apply(added, 1)
        self.apply(BucketData(removed, 0.0, 0.0, 0.0, 0, (bucket, (removed,))), -1)

    def apply(self, data: Slot, sign: int) -> None:
        """Add (``sign`` 1) or subtract (``sign`` -1) one slot."""
        self._frozen = None
        PackedCounts.apply(self, data, sign)

    def frozen(self) -> FrozenSum:
        """An immutable copy, kept until the next change."""
        if self._frozen is None:
            self._frozen = FrozenSum(
                self.size, self.count, self.zeros, self.positive, self.negative, self.width
            )
        return self._frozen


class FrozenSum:
    """An immutable ``RingSum``: the counts of the newest ``size`` slots at one instant.

    Holds the packed runs (integers, shared with nothing that changes them); the
    counts are unpacked into arrays only when ``positive`` or ``negative`` is read,
    so a view carrying five sums pays for the one a window uses.
    """

    __slots__ = (
        "_negative", "_positive", "count", "negative_run", "positive_run", "size", "width",
        "zeros",
    )  # fmt: skip

    def __init__(
        self,
        size: int,
        count: int,
        zeros: int,
        positive_run: PackedRun,
        negative_run: PackedRun,
        width: int = FIELD,
    ) -> None:
        self.size = size
        self.count = count
        self.zeros = zeros
        self.positive_run = positive_run
        self.negative_run = negative_run
        self.width = width
        self._positive: Run | None = None
        self._negative: Run | None = None

    @property
    def positive(self) -> Run:
        """``(offset, counts)`` of the positive buckets (unpacked once)."""
        if self._positive is None:  # a race unpacks twice, to equal arrays
            self._positive = (self.positive_run[0], unpack(self.positive_run, self.width))
        return self._positive

    @property
    def negative(self) -> Run:
        """``(offset, counts)`` of the negative buckets (unpacked once)."""
        if self._negative is None:
            self._negative = (self.negative_run[0], unpack(self.negative_run, self.width))
        return self._negative


def window_data(sums: Sequence[FrozenSum], ring: FrozenRing, first: int) -> BucketData | None:
    """The merge of the slots of ``ring`` from ``first`` on (its newest) from a running sum.

    Picks the sum covering the number of slots closest to the window's and adds or
    subtracts the slots in between (packed: one integer operation per slot). ``None``
    when merging the slots directly is no dearer (few slots, or no sum close enough).
    The window's total, minimum and maximum are reductions over the ring's columns.
    """
    held = len(ring)
    wanted = held - first
    best: FrozenSum | None = None
    cost = wanted - 2
    for candidate in sums:
        covered = min(candidate.size, held)
        if abs(covered - wanted) < cost:
            best, cost = candidate, abs(covered - wanted)
    if best is None:
        return None
    covered = min(best.size, held)
    count, zeros = best.count, best.zeros
    if covered > wanted:  # the sum reaches further back: take the older slots out
        between, sign = ring.values(held - covered, first), -1
    else:  # the window reaches further back: put the older slots in
        between, sign = ring.values(first, held - covered), 1
    if not between:  # the sum is the window: its counts are shared, not copied
        positive, negative = best.positive, best.negative
    else:
        width = best.width
        if sign > 0:  # counts grow: the fields may have to widen
            width = max(width, width_for(count + sum([part.count for part in between])))
        pos_run, neg_run = best.positive_run, best.negative_run
        if width != best.width:
            pos_run = widened(pos_run, best.width, width)
            neg_run = widened(neg_run, best.width, width)
        for part in between:
            count += sign * part.count
            zeros += sign * part.zeros
            pos_run = shifted(pos_run, *part.positive, sign, width)
            neg_run = shifted(neg_run, *part.negative, sign, width)
        positive = (pos_run[0], unpack(pos_run, width))
        negative = (neg_run[0], unpack(neg_run, width))
    return BucketData(
        count,
        math.fsum(ring.totals[first:]),
        min(ring.minimums[first:]),
        max(ring.maximums[first:]),
        zeros,
        positive,
        negative,
    )
