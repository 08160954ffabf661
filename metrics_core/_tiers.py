"""Rotation of a series' closed slots through its tiers: rings, rollups, running sums.

When a second ends, its slot is closed into an immutable value, kept in the
one-second ring and rolled up into the 10-second and 60-second blocks in
progress; a finished block is kept in its tier's ring in turn. ``Tiers`` does
this for counters and distributions alike, and ``metrics_core.windows`` answers
windows from the copies it freezes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

from metrics_core._blocks import Block
from metrics_core._frozen_ring import Piece
from metrics_core._ring_sums import FrozenSum, RingSum
from metrics_core._rings import Ring

TIERS: tuple[tuple[int, int], ...] = ((1, 60), (10, 61), (60, 61))
"""(slot width in seconds, slots kept) of each tier, finest first."""

RING_SUMS: tuple[tuple[int, ...], ...] = ((60,), (61, 30), (61, 30))
"""Per tier, how many newest slots each running sum of a distribution covers:
whole rings (1 min, 10 min, 1 h) and halves (5 min, 30 min)."""

_WIDTHS = tuple(width for width, _ in TIERS)
_KEPT = tuple(kept for _, kept in TIERS)

T = TypeVar("T")

Frozen = tuple[
    tuple[Sequence[Piece[T]], ...],
    tuple[Sequence[float], ...],
    tuple[tuple[float, tuple[T, ...]] | None, ...],
    tuple[tuple[FrozenSum, ...], ...] | None,
]
"""What ``Tiers.frozen`` returns: rings, their starts, blocks in progress, running sums."""


class Tiers(Generic[T]):
    """Rotation shared by counters and distributions: closed slots, rollups, rings.

    Each tier keeps its closed slots in a ring (``metrics_core._rings``); a view
    shares an immutable copy of each ring, built when a view first asks after a
    change and kept until the next. A series closing a slot per event (a sparse
    one) so pays no copy per event, and one read per scrape pays one copy per
    changed ring. A block in progress merges each value as it closes
    (``metrics_core._blocks``), so the event ending a block does not pay for all of
    it; ``on_block`` sees each finished block of the last tier. A finished block
    is kept as it is and encoded by the next second's close (``Ring.settle``).
    """

    __slots__ = ("_block", "_due", "_on_block", "_sums", "closed", "pending")

    def __init__(
        self,
        block: Callable[[T], Block[T]],
        ring: Callable[[], Ring[T]],
        on_block: Callable[[T], None] | None = None,
        sums: Iterable[Iterable[int]] | None = None,
    ) -> None:
        self._block = block
        self._on_block = on_block
        self._sums = None if sums is None else [[RingSum(n) for n in sizes] for sizes in sums]
        self.closed: list[Ring[T]] = [ring() for _ in TIERS]
        self._due = False  # a ring has encoding work left (``Ring.settle``)
        self.pending: list[tuple[float, Block[T]] | None] = [None] * (len(TIERS) - 1)

    def close(self, start: float, value: T) -> None:
        """Keep a closed one-second slot and roll it up."""
        if self._due:  # one step of the encoding left, the coarsest ring first
            worked = False
            for ring in self.closed[::-1]:
                if ring.due and not worked:
                    worked = ring.settle()
            self._due = any([ring.due for ring in self.closed])
        self._append(0, start, value, True)
        pending = self.pending[0]
        if pending is not None and pending[0] == start - start % _WIDTHS[1]:
            pending[1].add(value)  # the block goes on (``_push``'s common case, inline)
        else:
            self._push(1, start, value)
        if self._sums is not None:
            following = start + 1.0
            if following % _WIDTHS[1]:  # the next close ends no block: nothing to decode ahead
                return
            self._prefetch(following)

    def _prefetch(self, start: float) -> None:
        """Decode now the slots the running sums let go at the close of ``start``.

        When that close ends a block, it has the block's work to do already: inflating
        the chunks of the slots leaving its sums is done a second earlier.
        """
        for tier in range(1, len(TIERS)):
            pending = self.pending[tier - 1]
            if pending is None or pending[0] == start - start % _WIDTHS[tier]:
                return  # the next close ends no block of this tier (nor of coarser ones)
            if tier == 1:
                self._decode_ahead(0)
            self._decode_ahead(tier)
            start = pending[0]

    def _decode_ahead(self, tier: int) -> None:
        ring = self.closed[tier]
        held = len(ring) + 1
        for ring_sum in self._sums[tier]:  # type: ignore[index]
            if held > ring_sum.size:
                ring.prefetch(held - 1 - ring_sum.size)

    def _append(self, tier: int, start: float, value: T, settled: bool) -> None:
        ring = self.closed[tier]
        held = ring.append(start, value, settled)
        if ring.due:
            self._due = True
        if self._sums is not None:
            for ring_sum in self._sums[tier]:
                if held > ring_sum.size:  # the slot that leaves the newest ``size`` goes out
                    leaving = held - 1 - ring_sum.size
                    bucket = ring.one_bucket(leaving)
                    if bucket is None:
                        ring_sum.swap(value, ring.value(leaving))  # type: ignore[arg-type]
                    else:  # one observation: taken out without decoding its slot
                        ring_sum.swap_one(value, bucket)  # type: ignore[arg-type]
                else:
                    ring_sum.apply(value, 1)  # type: ignore[arg-type]
        if held > _KEPT[tier]:
            ring.drop_oldest()

    def _push(self, tier: int, start: float, value: T) -> None:
        width = _WIDTHS[tier]
        block = start - start % width
        pending = self.pending[tier - 1]
        if pending is not None and pending[0] != block:
            merged = pending[1].value()
            self._append(tier, pending[0], merged, False)
            if tier + 1 < len(TIERS):
                self._push(tier + 1, pending[0], merged)
            elif self._on_block is not None:
                self._on_block(merged)
            pending = None
        if pending is None:
            self.pending[tier - 1] = (block, self._block(value))
        else:
            pending[1].add(value)

    def frozen(self) -> Frozen[T]:
        """Immutable copies of the rings (and their starts), blocks in progress and sums."""
        # Comprehensions and zip, not generators: a read freezes every changed series.
        closed, starts = zip(*[ring.frozen() for ring in self.closed], strict=True)
        pending = tuple([None if p is None else (p[0], p[1].parts()) for p in self.pending])
        sums = None
        if self._sums is not None:
            sums = tuple([tuple([s.frozen() for s in tier]) for tier in self._sums])
        return closed, starts, pending, sums
