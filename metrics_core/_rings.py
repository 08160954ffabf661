"""Rings of closed slots: a counter's as pieces, a distribution's as compact columns.

An hour of a busy latency series is 181 closed slots. Kept as ``(start,
BucketData)`` pieces, each slot is about ten Python objects (the piece, the
summary, its floats, its runs, an array): some 400 bytes of headers on top of its
counts, and ten objects for the garbage collector to walk. A :class:`SketchRing`
keeps a tier's slots as columns instead: starts, totals, minimums and maximums in
one float array, and each slot's bucket counts in one ``bytes``, compressed
eight slots at a time into a shared chunk (``metrics_core._slot_codec``). A slot
of one observation (a sparse series' second) is kept as its bucket, five bytes
the garbage collector does not walk, and never chunked; a running sum takes it
out by that bucket (``one_bucket``). A slot of a few buckets stays the
``BucketData`` it is: it is small already.

Readers see a ``FrozenRing`` (``metrics_core._frozen_ring``): an immutable copy
that is a sequence of ``(start, BucketData)`` pieces, decoded when read.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar, cast

from metrics_core._frozen_ring import FrozenRing, Piece, slot_value
from metrics_core._slot_codec import CHUNK, ONE_SIZE, Chunk, bucket_of_one, encode
from metrics_core.sketch import BucketData

T = TypeVar("T")


class Ring(Protocol[T]):
    """What a tier keeps its closed slots in (``PieceRing`` or ``SketchRing``)."""

    def __len__(self) -> int: ...

    due: bool
    """Whether ``settle`` has work to do."""

    def append(self, start: float, value: T, settled: bool = True) -> int: ...

    def drop_oldest(self) -> None: ...

    def value(self, index: int) -> T: ...

    def settle(self) -> bool: ...

    def prefetch(self, index: int) -> None: ...

    def one_bucket(self, index: int) -> int | None: ...

    def frozen(self) -> tuple[Sequence[Piece[T]], Sequence[float]]: ...


class PieceRing(Generic[T]):
    """A ring of ``(start, value)`` pieces (a counter's increments); not thread-safe."""

    __slots__ = ("_frozen", "_pieces")

    def __init__(self) -> None:
        self._pieces: list[Piece[T]] = []
        self._frozen: tuple[tuple[Piece[T], ...], tuple[float, ...]] | None = None

    def __len__(self) -> int:
        return len(self._pieces)

    due = False  # pieces are stored as they are: never anything to settle

    def append(self, start: float, value: T, settled: bool = True) -> int:
        """Keep one more closed slot (newest last); how many the ring holds now."""
        del settled
        pieces = self._pieces
        pieces.append((start, value))
        self._frozen = None
        return len(pieces)

    def drop_oldest(self) -> None:
        """Let the oldest slot go."""
        del self._pieces[0]
        self._frozen = None

    def value(self, index: int) -> T:
        """The value of slot ``index``."""
        return self._pieces[index][1]

    def settle(self) -> bool:
        """Nothing to do: pieces are stored as they are (``False``)."""
        return False

    def prefetch(self, index: int) -> None:
        """Nothing to do: pieces are read as they are."""

    def one_bucket(self, index: int) -> int | None:
        """``None``: a counter's pieces have no buckets."""
        return None

    def frozen(self) -> tuple[Sequence[Piece[T]], Sequence[float]]:
        """An immutable copy (the pieces and their starts), kept until the next change."""
        if self._frozen is None:
            pieces = tuple(self._pieces)
            self._frozen = (pieces, tuple([start for start, _ in pieces]))
        return self._frozen


class SketchRing:
    """A ring of a distribution's closed slots, as columns; not thread-safe by itself.

    ``stored[k]`` is slot ``k`` as kept: its ``BucketData`` (a few buckets, or not
    encoded yet), its encoding, or the ``Chunk`` holding it at ``within[k]``.
    ``append(..., settled=False)`` keeps a slot as it is for now; each ``settle()``
    does one step of the work left (encode one such slot, or compress the oldest
    ``CHUNK`` not in a chunk yet), so no single event pays for more than one.
    """

    __slots__ = (
        "_ahead", "_columns", "_frozen", "_loose", "_unchunked", "due", "stored", "within",
    )  # fmt: skip

    def __init__(self, phase: int = 0) -> None:
        # Start, total, minimum and maximum of each slot, in a row: one append and one
        # deletion per slot (a frozen copy splits them into four arrays).
        self._columns = array("d")
        self.within = array("b")
        self.stored: list[BucketData | bytes] = []
        self._loose = 0  # the newest slots not encoded yet
        # The newest slots not in a chunk (nor given up on). A ``phase`` leaves the first
        # few out, so that series recorded together do not all compress in the same second.
        self._unchunked = -phase
        self.due = False  # whether ``settle`` has work to do
        self._ahead: dict[int, BucketData] = {}  # slots decoded ahead of ``value``
        self._frozen: tuple[FrozenRing, Sequence[float]] | None = None

    def __len__(self) -> int:
        return len(self.stored)

    def append(self, start: float, data: BucketData, settled: bool = True) -> int:
        """Keep one more closed slot (newest last); how many the ring holds now.

        The slot is encoded now, or by a later ``settle`` (``settled=False``).
        """
        self._columns.extend((start, data.total, data.minimum, data.maximum))
        self.within.append(-1)
        stored = self.stored
        if self._loose or not settled:  # the loose slots are the newest ones, in a row
            stored.append(data)
            self._loose += 1
            self.due = True
        else:
            stored.append(encode(data))
        self._unchunked += 1
        if self._unchunked >= CHUNK:
            self.due = True
        self._frozen = None
        return len(stored)

    def drop_oldest(self) -> None:
        """Let the oldest slot go (its chunk lives on while a neighbour still uses it)."""
        del self._columns[:4], self.within[0], self.stored[0]
        if self._ahead:  # indices shift: what was decoded ahead was used or is stale
            self._ahead.clear()
        held = len(self.stored)
        if self._unchunked > held:
            self._unchunked = held
            if self._loose > held:
                self._loose = held
        self._frozen = None

    def value(self, index: int) -> BucketData:
        """The summary of slot ``index``."""
        entry = self.stored[index]
        if entry.__class__ is BucketData:
            return entry
        if self._ahead:
            ahead = self._ahead.pop(index, None)
            if ahead is not None:
                return ahead
        at = 4 * index
        columns = self._columns
        return slot_value(entry, self.within[index], *columns[at + 1 : at + 4])

    def one_bucket(self, index: int) -> int | None:
        """The bucket of slot ``index`` if it holds one positive observation (else ``None``).

        What a running sum takes out when the slot leaves it, without decoding the slot.
        """
        entry = self.stored[index]
        if entry.__class__ is bytes and len(entry) == ONE_SIZE:
            bucket: int = bucket_of_one(entry)[1]
            return bucket
        return None

    def prefetch(self, index: int) -> None:
        """Decode slot ``index`` now, if it is in a chunk, for the next ``value(index)``.

        Until the next ``drop_oldest``: the close that ends a block reads the slots its
        running sums let go, and inflating their chunks is better done a second earlier.
        """
        if self.stored[index].__class__ is Chunk:
            self._ahead[index] = self.value(index)

    def settle(self) -> bool:
        """Do one step of the encoding left, if any; whether there was one.

        A frozen copy holding the slots changed stays valid: they decode the same.
        """
        worked = False
        stored = self.stored
        if self._loose:
            index = len(stored) - self._loose
            stored[index] = encode(self.value(index))
            self._loose -= 1
            worked = True
        elif self._unchunked >= CHUNK:
            first = len(stored) - self._unchunked
            self._unchunked -= CHUNK
            entries = stored[first : first + CHUNK]
            # Small slots among them (a sparse series'): all kept as they are.
            if all(entry.__class__ is bytes and len(entry) > ONE_SIZE for entry in entries):
                chunk = Chunk.of(cast("list[bytes]", entries))
                if chunk is not None:
                    stored[first : first + CHUNK] = [chunk] * CHUNK
                    self.within[first : first + CHUNK] = _POSITIONS
                    worked = True
        self.due = self._loose > 0 or self._unchunked >= CHUNK
        return worked

    def frozen(self) -> tuple[FrozenRing, Sequence[float]]:
        """An immutable copy (and its starts), kept until the next change."""
        if self._frozen is None:
            columns = self._columns
            ring = FrozenRing(
                columns[0::4],
                columns[1::4],
                columns[2::4],
                columns[3::4],
                tuple(self.stored),
                self.within[:],
            )
            self._frozen = (ring, ring.starts)
        return self._frozen


_POSITIONS = array("b", range(CHUNK))
_PHASES = itertools.count()


def staggered_ring() -> SketchRing:
    """A ``SketchRing`` that chunks in other seconds than the rings made just before it.

    A version's distributions are made together and close their slots together: in
    phase, the event that completes a chunk would compress one for each of them.
    """
    return SketchRing(next(_PHASES) % CHUNK)
