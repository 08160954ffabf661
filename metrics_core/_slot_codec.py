"""How a ring stores a closed slot: its bucket counts as bytes, compressed in chunks.

A slot whose counts are arrays (a busy second, any block of a busy series) is
encoded into one ``bytes``: a small header (flags, count, offset, span and width of
each run, zeros) and the counts as stored. ``CHUNK`` such slots in a row are then
compressed together into one :class:`Chunk` that they all share: neighbouring
slots of one series look alike, so one stream is smaller than several, one
``bytes`` header replaces several, and a stream is set up once per chunk, not per
slot (setting one up costs more than compressing a slot). A slot of one
positive observation is its bucket alone (``encode_one``, five bytes, never
chunked); a slot of a few buckets stays the ``BucketData`` it is.

Totals, minimums and maximums are not encoded: the ring keeps them as columns.
"""

from __future__ import annotations

import functools
import struct
import zlib
from array import array
from collections.abc import Sequence

from metrics_core._packed import TYPECODES, Counts
from metrics_core.sketch import BucketData

CHUNK = 8
"""Encoded slots compressed together into one ``Chunk``."""

_HEAD = struct.Struct("<BIiIB")  # flags, count, positive offset, span, bytes per count
_RUN = struct.Struct("<iIB")  # negative offset, span, bytes per count
_ZEROS = struct.Struct("<I")
_HAS_ZEROS, _HAS_NEGATIVE, _ONE_VALUE = 1, 2, 4
_ONE = struct.Struct("<Bi")  # a slot of one positive observation: flags, its bucket
ONE_SIZE = _ONE.size
"""Bytes of a one-observation slot's encoding: too small to be worth a chunk."""
encode_one = functools.partial(_ONE.pack, _ONE_VALUE)
"""``encode`` of a slot holding one positive observation, from its bucket index."""
bucket_of_one = _ONE.unpack_from
"""``(flags, bucket)`` of ``encode_one``'s bytes."""
_WBITS = -12  # raw deflate, a 4 KiB window: a chunk's later slots refer back to earlier ones
_LENGTHS = struct.Struct(f"<{CHUNK}H")
_NO_COUNTS = array("B")


class Chunk(bytes):
    """``CHUNK`` encoded slots compressed as one stream, shared by their ring entries."""

    __slots__ = ()

    @classmethod
    def of(cls, entries: Sequence[bytes]) -> Chunk | None:
        """The chunk of ``entries`` (``CHUNK`` encoded slots); ``None`` when one is too long."""
        lengths = [len(entry) for entry in entries]
        if max(lengths) >> 16:
            return None
        # Run-length matching only: as small as the default strategy on bucket counts
        # here, in half the time (a chunk is compressed on the request path).
        packer = zlib.compressobj(6, zlib.DEFLATED, _WBITS, 8, zlib.Z_RLE)
        packed = packer.compress(b"".join(entries)) + packer.flush()
        return cls(_LENGTHS.pack(*lengths) + packed)

    def entries(self) -> list[bytes]:
        """The encoded slots, in order (each ``decode``-able)."""
        raw = zlib.decompress(self[_LENGTHS.size :], _WBITS)
        out = []
        at = 0
        for length in _LENGTHS.unpack_from(self):
            out.append(raw[at : at + length])
            at += length
        return out


def encode(data: BucketData) -> BucketData | bytes:
    """``data`` as a ring stores it: ``bytes``, or itself when a few counts (tuples).

    Counts in arrays are encoded with a header. One positive observation (a sparse
    series' second) is its bucket alone (``encode_one``): five bytes instead of a
    ``BucketData`` of a few objects that the garbage collector would walk.
    """
    pos_offset, pos = data.positive
    count = data.count
    if pos.__class__ is not array or count >> 32:  # (a sparse series' slot: checked first)
        if count == 1 and len(pos) == 1:  # hence no zero and no negative observation
            return encode_one(pos_offset)
        return data
    neg_offset, neg = data.negative
    if isinstance(neg, array):
        pass
    elif not len(neg):
        neg = _NO_COUNTS
    else:
        return data
    flags = (_HAS_ZEROS if data.zeros else 0) | (_HAS_NEGATIVE if len(neg) else 0)
    head = _HEAD.pack(flags, data.count, pos_offset, len(pos), pos.itemsize)
    if data.zeros:
        head += _ZEROS.pack(data.zeros)
    if len(neg):
        head += _RUN.pack(neg_offset, len(neg), neg.itemsize)
    return head + pos.tobytes() + neg.tobytes()


def decode(stored: BucketData | bytes, total: float, minimum: float, maximum: float) -> BucketData:
    """The summary ``encode`` stored (``total``, ``minimum``, ``maximum`` from the columns)."""
    if isinstance(stored, BucketData):
        return stored
    if stored[0] & _ONE_VALUE:  # one observation: its value is the total (and both bounds)
        return BucketData(1, total, minimum, maximum, 0, (_ONE.unpack_from(stored)[1], (1,)))
    flags, count, pos_offset, pos_span, pos_size = _HEAD.unpack_from(stored)
    at = _HEAD.size
    zeros = 0
    if flags & _HAS_ZEROS:
        (zeros,) = _ZEROS.unpack_from(stored, at)
        at += _ZEROS.size
    neg_offset = neg_span = 0
    neg_size = 1
    if flags & _HAS_NEGATIVE:
        neg_offset, neg_span, neg_size = _RUN.unpack_from(stored, at)
        at += _RUN.size
    split = at + pos_span * pos_size
    return BucketData(
        count,
        total,
        minimum,
        maximum,
        zeros,
        (pos_offset, _counts(stored[at:split], pos_size)) if pos_span else (0, ()),
        (neg_offset, _counts(stored[split:], neg_size)) if neg_span else (0, ()),
    )


def _counts(raw: bytes, size: int) -> Counts:
    counts = array(TYPECODES[size])
    counts.frombytes(raw)
    return counts
