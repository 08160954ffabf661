"""Blocks in progress: a rollup merged slot by slot as each slot closes.

A 10-second block of a busy series is ten one-second slots a few hundred buckets
wide; merging them all when the block ends made the one event that ended it pay
for the whole block (a few hundred microseconds per series, three series per
event). A :class:`SketchBlock` adds each slot into running counts as it closes,
so every slot pays for itself, and the block's value is one copy of the counts,
kept until the next slot arrives. A :class:`SumBlock` does the same for a
counter's increments, which are cheap to keep as they are.
"""

from __future__ import annotations

import math
from typing import Protocol, TypeVar

from metrics_core._packed import PackedCounts, compact
from metrics_core.sketch import EMPTY, BucketData

T = TypeVar("T")


class Block(Protocol[T]):
    """A block in progress: the values of the finer tier closed inside it."""

    def add(self, value: T) -> None:
        """Add one more closed value."""

    def value(self) -> T:
        """The merge of every value added."""

    def parts(self) -> tuple[T, ...]:
        """Values that merge into ``value()`` (what a view shares)."""


class SumBlock:
    """A counter's block: its increments, summed exactly when asked."""

    __slots__ = ("_values",)

    def __init__(self, first: float) -> None:
        self._values = [first]

    def add(self, value: float) -> None:
        """Add one more closed increment."""
        self._values.append(value)

    def value(self) -> float:
        """The exact sum of the increments."""
        return math.fsum(self._values)

    def parts(self) -> tuple[float, ...]:
        """The increments themselves."""
        return tuple(self._values)


class SketchBlock(PackedCounts):
    """A distribution's block: counts added, packed, as each slot closes."""

    __slots__ = ("_frozen", "maximum", "minimum", "totals")

    def __init__(self, first: BucketData) -> None:
        super().__init__()
        self.totals: list[float] = []
        self.minimum = math.inf
        self.maximum = -math.inf
        self.add(first)
        self._frozen: BucketData | None = first if first.count else EMPTY

    def add(self, data: BucketData) -> None:
        """Add one more closed slot (or finer block)."""
        count = data.count
        if not count:
            return
        self._frozen = None
        self.totals.append(data.total)
        if data.minimum < self.minimum:
            self.minimum = data.minimum
        if data.maximum > self.maximum:
            self.maximum = data.maximum
        offset, counts = data.positive
        # One bucket holding every observation (a sparse slot): one shift, one addition.
        if not (len(counts) == 1 and counts[0] == count and self.add_bucket(offset, count)):
            self.apply(data, 1)

    def value(self) -> BucketData:
        """The block's summary, built once per change."""
        frozen = self._frozen
        if frozen is None:
            width = self.width
            frozen = self._frozen = BucketData(
                self.count,
                math.fsum(self.totals),
                self.minimum,
                self.maximum,
                self.zeros,
                compact(self.positive, width),
                compact(self.negative, width),
            )
        return frozen

    def parts(self) -> tuple[BucketData, ...]:
        """The block's summary alone."""
        return (self.value(),)
