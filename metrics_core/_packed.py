"""Bucket counts packed into one Python integer: additions over hundreds of buckets in C.

Adding two runs of a few hundred bucket counts element by element costs tens of
microseconds in Python, and rollups, running sums and merges do it for every
slot. Packed, each bucket is a fixed-width little-endian field of one integer
(1, 2, 4 or 8 bytes): two runs add or subtract with one shifted integer
operation, done in C. A field never carries into the next as long as no
bucket's true count leaves ``[0, 2**(8 * width))``: the callers only subtract
counts they added before, and widen before any bucket could pass the field (a
bound from the observations held and each slot's storage width, ``top``).

A run is ``(offset, value, span)``: the counts of buckets ``offset`` to
``offset + span - 1``, packed into ``value``.
"""

from __future__ import annotations

import sys
from array import array
from typing import Protocol

FIELD = 4
"""Bytes per bucket while no count can pass 32 bits."""

WIDE = 1 << 32
"""From this many observations on, a run needs 8-byte fields."""

PackedRun = tuple[int, int, int]
"""``(offset, value, span)``."""

EMPTY_RUN: PackedRun = (0, 0, 0)

Counts = array | tuple[int, ...] | list[int]  # type: ignore[type-arg]
"""Bucket counts as stored: a narrow array, a short tuple or a list."""

_SHORT = 8  # a tuple of up to this many counts is smaller than an array
_LITTLE = sys.byteorder == "little"
TYPECODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
"""The ``array`` type code of unsigned counts ``size`` bytes wide, by size."""


def width_for(count: int) -> int:
    """The narrowest field (1, 2, 4 or 8 bytes) holding any bucket of ``count`` observations."""
    if count < 1 << 8:
        return 1
    if count < 1 << 16:
        return 2
    return FIELD if count < WIDE else 8


def narrowest(counts: list[int]) -> Counts:
    """Store counts in the narrowest unsigned array that holds them (a tuple when short)."""
    if len(counts) <= _SHORT:
        return tuple(counts)
    top = max(counts)
    if top < 1 << 8:
        return array("B", counts)
    if top < 1 << 16:
        return array("H", counts)
    if top < 1 << 32:
        return array("I", counts)
    return array("Q", counts)


def pack(counts: Counts, width: int = FIELD) -> int:
    """``counts`` as one integer of ``width``-byte fields, the first count lowest."""
    if isinstance(counts, array) and _LITTLE:
        size = counts.itemsize
        if size == width:
            return int.from_bytes(counts, "little")
        if size < width:  # spread each count's bytes into its field (C-level slices)
            raw = bytearray(width * len(counts))
            source = counts.tobytes()
            for byte in range(size):
                raw[byte::width] = source[byte::size]
            return int.from_bytes(raw, "little")
    if len(counts) <= 8:  # short runs: shifts are cheaper than a buffer
        bits = 8 * width
        return sum([count << (bits * k) for k, count in enumerate(counts)])
    fields = array(TYPECODES[width], counts)
    if not _LITTLE:
        fields.byteswap()
    return int.from_bytes(fields, "little")


def shifted(
    run: PackedRun, offset: int, counts: Counts, sign: int, width: int = FIELD
) -> PackedRun:
    """``run`` with ``counts`` (for buckets from ``offset``) added (sign 1) or taken out (-1)."""
    size = len(counts)
    if not size:
        return run
    low, value, span = run
    if not span:
        low, span = offset, size
    elif offset < low:
        value <<= 8 * width * (low - offset)
        span += low - offset
        low = offset
    if offset - low + size > span:
        span = offset - low + size
    part = (counts[0] if size == 1 else pack(counts, width)) << (8 * width * (offset - low))
    return low, (value + part if sign > 0 else value - part), span


def unpack(run: PackedRun, width: int = FIELD) -> array:  # type: ignore[type-arg]
    """The counts of ``run`` as an array of ``width``-byte unsigned integers."""
    _, value, span = run
    fields = array(TYPECODES[width])
    fields.frombytes(value.to_bytes(width * span, "little"))
    if not _LITTLE:
        fields.byteswap()
    return fields


def compact(run: PackedRun, width: int = FIELD) -> tuple[int, Counts]:
    """``(offset, counts)`` of ``run`` in the narrowest storage that holds its counts."""
    low, value, span = run
    if not span:
        return 0, ()
    if span <= 8 or not _LITTLE:
        return low, narrowest(list(unpack(run, width)))
    raw = value.to_bytes(width * span, "little")
    # Narrow while every field's upper bytes are zero (checked and sliced in C).
    for size, code in ((1, "B"), (2, "H"), (4, "I")):
        if size < width and not any(raw[byte::width].strip(b"\0") for byte in range(size, width)):
            if size == 1:
                return low, array("B", raw[0::width])
            narrow = bytearray(size * span)
            for byte in range(size):
                narrow[byte::size] = raw[byte::width]
            fields = array(code)
            fields.frombytes(narrow)
            return low, fields
    return low, unpack(run, width)


def widened(run: PackedRun, width: int, to: int) -> PackedRun:
    """``run`` repacked from ``width``-byte to ``to``-byte fields."""
    low, _, span = run
    if not span:
        return run
    return low, pack(unpack(run, width), to), span


def top(data: Slot) -> int:
    """A bound on the largest bucket count of ``data``, from its storage (not a scan).

    Arrays bound their counts by their width; short tuples (a sparse slot's few
    buckets) by the slot's count.
    """
    count = data.count
    pos = data.positive[1]
    neg = data.negative[1]
    if pos.__class__ is array and (neg.__class__ is array or not len(neg)):
        size = max(pos.itemsize, neg.itemsize) if len(neg) else pos.itemsize  # type: ignore[union-attr]
        limit = (1 << (size << 3)) - 1
        return limit if limit < count else count
    return count


class Slot(Protocol):
    """What ``PackedCounts`` reads of a slot (a ``BucketData``)."""

    @property
    def count(self) -> int: ...

    @property
    def zeros(self) -> int: ...

    @property
    def positive(self) -> tuple[int, Counts]: ...

    @property
    def negative(self) -> tuple[int, Counts]: ...


class PackedCounts:
    """Observation, zero and bucket counts of slots added (and taken out), packed.

    The base of running sums and blocks in progress: ``apply`` adds (sign 1) or takes
    out (-1) one slot, widening the fields (1, 2, 4, 8 bytes) before any bucket could
    pass them. ``peak`` bounds every bucket from above: the sum of each slot's
    largest possible bucket (``top``), so an hour of one-byte slots fits two-byte
    fields however many observations it holds. Not thread-safe by itself.
    """

    __slots__ = ("count", "negative", "peak", "positive", "width", "zeros")

    def __init__(self) -> None:
        self.count = 0
        self.zeros = 0
        self.peak = 0
        self.width = 1
        self.positive: PackedRun = EMPTY_RUN
        self.negative: PackedRun = EMPTY_RUN

    def apply(self, data: Slot, sign: int) -> None:
        """Add (``sign`` 1) or take out (``sign`` -1) one slot's counts."""
        count = self.count = self.count + sign * data.count
        self.zeros += sign * data.zeros
        if not count:  # empty again: drop the width and the buckets the old slots spanned
            self.zeros = self.peak = 0
            self.width = 1
            self.positive = self.negative = EMPTY_RUN
            return
        peak = self.peak = self.peak + sign * top(data)
        width = self.width
        if min(count, peak) >> (width << 3):  # a bucket could pass its field: widen
            wider = width_for(min(count, peak))
            self.positive = widened(self.positive, width, wider)
            self.negative = widened(self.negative, width, wider)
            width = self.width = wider
        offset, counts = data.positive
        if len(counts):
            self.positive = shifted(self.positive, offset, counts, sign, width)
        offset, counts = data.negative
        if len(counts):
            self.negative = shifted(self.negative, offset, counts, sign, width)

    def add_bucket(self, index: int, count: int) -> bool:
        """Add ``count`` observations, all in positive bucket ``index``, as ``apply`` would.

        A sparse series' slot is one observation in one bucket: one shift and one
        addition instead of ``apply``'s generic path. ``False`` (nothing done) when a
        field would have to widen first: ``apply`` then does it.
        """
        total = self.count + count
        peak = self.peak + count
        width = self.width
        if (peak if peak < total else total) >> (width << 3):
            return False
        self.count = total
        self.peak = peak
        low, value, span = self.positive
        bits = width << 3
        if not span:
            self.positive = (index, count, 1)
        elif index >= low:
            if index - low >= span:
                span = index - low + 1
            self.positive = (low, value + (count << (bits * (index - low))), span)
        else:
            self.positive = (index, (value << (bits * (low - index))) + count, span + low - index)
        return True
