"""A compact, versioned binary form of ``BucketData``, safe to read from other processes.

Sketches leave the process in two places: a worker group shares its state through
files, and a history store keeps one sketch per series and minute. Both need a form
that is small, exact (merging decoded sketches equals merging the originals) and safe
to read when another process wrote it: never ``pickle``. ``decode_bucket_data`` checks
every field and raises ``CodecError`` (a ``ValueError``) on anything truncated,
corrupt or of an unknown version, so a reader can skip such a record and count it.

Layout (little-endian), version 1::

    u8      version (1)
    varint  count
    f64     total, minimum, maximum
    varint  zeros
    run     positive buckets, then negative buckets

    run:    zigzag varint offset, varint length n, and when n > 0:
            u8 width (2, 4 or 8 bytes per count) and n unsigned counts of that width
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from collections.abc import Sequence

from metrics_core._packed import Counts
from metrics_core.sketch import EMPTY, BucketData

FORMAT_VERSION = 1
"""The version byte written by :func:`encode_bucket_data`."""

MAX_BUCKETS = 1 << 18
"""The most counts one run may hold when decoding: every finite double spans ~134,000."""

_FLOATS = struct.Struct("<ddd")
_TYPECODES = {2: "H", 4: "I", 8: "Q"}
_SWAP = sys.byteorder != "little"


class CodecError(ValueError):
    """Raised when bytes do not decode to a valid ``BucketData``."""


def encode_bucket_data(data: BucketData) -> bytes:
    """``data`` as compact bytes; :func:`decode_bucket_data` gives it back exactly."""
    out = bytearray((FORMAT_VERSION,))
    _put_varint(out, data.count)
    out += _FLOATS.pack(data.total, data.minimum, data.maximum)
    _put_varint(out, data.zeros)
    for offset, counts in (data.positive, data.negative):
        _put_run(out, offset, counts)
    return bytes(out)


def decode_bucket_data(blob: bytes | bytearray | memoryview) -> BucketData:
    """The ``BucketData`` encoded in ``blob``; ``CodecError`` when it is not a valid one."""
    view = memoryview(blob).cast("B") if not isinstance(blob, bytes) else memoryview(blob)
    if not len(view):
        raise CodecError("empty sketch record")
    if view[0] != FORMAT_VERSION:
        raise CodecError(f"unknown sketch format version: {view[0]}")
    pos = 1
    count, pos = _get_varint(view, pos)
    if pos + _FLOATS.size > len(view):
        raise CodecError("truncated sketch record")
    total, minimum, maximum = _FLOATS.unpack_from(view, pos)
    pos += _FLOATS.size
    zeros, pos = _get_varint(view, pos)
    positive, pos = _get_run(view, pos)
    negative, pos = _get_run(view, pos)
    if pos != len(view):
        raise CodecError(f"{len(view) - pos} trailing bytes after the sketch record")
    data = BucketData(count, total, minimum, maximum, zeros, positive, negative)
    _check(data)
    return EMPTY if data == EMPTY else data


def _check(data: BucketData) -> None:
    in_buckets = data.zeros + sum(data.positive[1]) + sum(data.negative[1])
    if in_buckets != data.count:
        raise CodecError(f"bucket counts add up to {in_buckets}, not the count {data.count}")
    if not math.isfinite(data.total):
        raise CodecError(f"sketch total is not finite: {data.total!r}")
    if data.count and not (
        math.isfinite(data.minimum) and math.isfinite(data.maximum) and data.minimum <= data.maximum
    ):
        raise CodecError(f"sketch minimum/maximum invalid: {data.minimum!r}, {data.maximum!r}")


def _put_varint(out: bytearray, value: int) -> None:
    if value < 0:
        raise ValueError(f"varint must be >= 0: {value!r}")
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _get_varint(view: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(view):
            raise CodecError("truncated varint in sketch record")
        byte = view[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CodecError("varint longer than 64 bits in sketch record")


def _put_run(out: bytearray, offset: int, counts: Sequence[int]) -> None:
    _put_varint(out, (offset << 1) ^ (offset >> 63))  # zigzag: small negatives stay small
    _put_varint(out, len(counts))
    if not len(counts):
        return
    top = max(counts)
    width = 2 if top < 1 << 16 else 4 if top < 1 << 32 else 8
    packed = array(_TYPECODES[width], counts)
    if _SWAP:
        packed.byteswap()
    out.append(width)
    out += packed.tobytes()


def _get_run(view: memoryview, pos: int) -> tuple[tuple[int, Counts], int]:
    zigzag, pos = _get_varint(view, pos)
    offset = (zigzag >> 1) ^ -(zigzag & 1)
    length, pos = _get_varint(view, pos)
    if not length:
        return (0, ()), pos
    if length > MAX_BUCKETS:
        raise CodecError(f"sketch run of {length} buckets exceeds {MAX_BUCKETS}")
    if pos >= len(view):
        raise CodecError("truncated sketch run")
    width = view[pos]
    if width not in _TYPECODES:
        raise CodecError(f"unknown count width in sketch run: {width}")
    end = pos + 1 + width * length
    if end > len(view):
        raise CodecError("truncated sketch run")
    counts = array(_TYPECODES[width])
    counts.frombytes(view[pos + 1 : end])
    if _SWAP:
        counts.byteswap()
    return (offset, counts), end
