"""``FrozenRing``: the immutable copy of a distribution's ring that views and readers share.

A sequence of ``(start, BucketData)`` pieces, decoded when read (``metrics_core._rings``
keeps the live ring, ``metrics_core._slot_codec`` the encoding), with its columns for
what needs only those: a window's total, minimum and maximum are C-level reductions
over array slices.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import TypeVar, overload

from metrics_core._slot_codec import Chunk, decode
from metrics_core.sketch import BucketData

T = TypeVar("T")
Piece = tuple[float, T]
"""``(start, value)`` of a closed slot or block."""


def slot_value(
    entry: BucketData | bytes, within: int, total: float, minimum: float, maximum: float
) -> BucketData:
    if entry.__class__ is Chunk:
        entry = entry.entries()[within]
    return decode(entry, total, minimum, maximum)


class FrozenRing(Sequence[Piece[BucketData]]):
    """An immutable copy of a ``SketchRing``: a sequence of ``(start, BucketData)`` pieces.

    Pieces are decoded when read; ``starts``, ``totals``, ``minimums`` and
    ``maximums`` are the columns (float arrays, never changed once built).
    """

    __slots__ = ("maximums", "minimums", "starts", "stored", "totals", "within")
    __hash__ = None  # type: ignore[assignment]  # pieces hold arrays, as tuples of them do

    def __init__(
        self,
        starts: array,  # type: ignore[type-arg]
        totals: array,  # type: ignore[type-arg]
        minimums: array,  # type: ignore[type-arg]
        maximums: array,  # type: ignore[type-arg]
        stored: tuple[BucketData | bytes, ...],
        within: array,  # type: ignore[type-arg]
    ) -> None:
        self.starts = starts
        self.totals = totals
        self.minimums = minimums
        self.maximums = maximums
        self.stored = stored
        self.within = within

    def __len__(self) -> int:
        return len(self.stored)

    @overload
    def __getitem__(self, index: int) -> Piece[BucketData]: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Piece[BucketData], ...]: ...

    def __getitem__(self, index: int | slice) -> Piece[BucketData] | tuple[Piece[BucketData], ...]:
        if isinstance(index, slice):
            first, last, step = index.indices(len(self.stored))
            if step != 1:
                return tuple(self)[index]
            return tuple(zip(self.starts[first:last], self.values(first, last), strict=True))
        value = self.value(index)  # raises IndexError out of range, as a tuple does
        return (self.starts[index], value)

    def __iter__(self) -> Iterator[Piece[BucketData]]:
        return iter(self[:])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenRing({tuple(self)!r})"

    def value(self, index: int) -> BucketData:
        """The summary of slot ``index``."""
        return slot_value(
            self.stored[index],
            self.within[index],
            self.totals[index],
            self.minimums[index],
            self.maximums[index],
        )

    def values(self, first: int, last: int) -> list[BucketData]:
        """The summaries of slots ``first`` to ``last - 1`` (each chunk decompressed once)."""
        stored, within = self.stored, self.within
        totals, minimums, maximums = self.totals, self.minimums, self.maximums
        out = []
        chunk: object = None
        entries: list[bytes] = []
        for index in range(*slice(first, last).indices(len(stored))):
            entry = stored[index]
            if entry.__class__ is Chunk:
                if entry is not chunk:
                    chunk, entries = entry, entry.entries()
                entry = entries[within[index]]
            out.append(decode(entry, totals[index], minimums[index], maximums[index]))
        return out
