"""The per-worker state file: one worker's snapshot as checked, versioned bytes (never pickle).

Layout (little-endian)::

    header  magic b"IMWG", u16 format version, u8 flags, 16-byte group id, u32 pid,
            u64 pid start time, u32 parent pid, u64 parent start time, f64 written at,
            u64 sequence
    ids     varint n, n strings: workers already folded into this file (retired state)
    series  varint n, n series records
    crc     u32 CRC-32 of everything before it

    string  varint length, UTF-8 bytes
    series  u8 kind, string name, varint n tags and n (key, value) strings, f64 updated at,
            then a counter's f64 total and view of f64 values; a gauge's f64 value; a
            distribution's varint n bounds, n f64 bounds, n + 1 varint bucket counts,
            all-time sketch and view of sketches
    view    f64 first seen; per tier (varint n tiers): varint n, n (f64 start, value);
            varint n pending: u8 present [f64 start, varint m, m values];
            u8 present [f64 start, value] (the open slot)
    sketch  varint length, ``metrics_core.codec`` bytes

Every decode error (bad magic, unknown version, checksum, truncation, a sketch the
codec rejects, an invalid tag) raises ``StateFileError``: the reader skips the file.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import attrs

from metrics_core.codec import CodecError, decode_bucket_data, encode_bucket_data
from metrics_core.sketch import BucketData, merge_all
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries, Series
from metrics_core.tags import Tags
from metrics_core.values import MetricKind
from metrics_core.windows import TIERS, WindowView

MAGIC = b"IMWG"
"""The first four bytes of every state file."""
FORMAT_VERSION = 1
"""The format version written; files of another version are skipped."""
FLAG_FINAL = 1
"""Flag: the worker stopped gracefully and wrote its last state (its gauges drop out)."""
FLAG_RETIRED = 2
"""Flag: the group's retired state (finished workers folded together)."""

_HEADER = struct.Struct("<4sHB16sIQIQdQ")
_F64 = struct.Struct("<d")
_F64X2 = struct.Struct("<dd")
_CRC = struct.Struct("<I")
_KINDS = (MetricKind.COUNTER, MetricKind.GAUGE, MetricKind.HISTOGRAM, MetricKind.TIMER)
_KIND_CODE = {kind: code for code, kind in enumerate(_KINDS)}
T = TypeVar("T")


class StateFileError(ValueError):
    """Raised when bytes are not a valid state file of this format version."""


@attrs.frozen(slots=True)
class StateHeader:
    """Who wrote a state file, for which group, and when."""

    flags: int
    group_id: bytes
    pid: int
    pid_started: int
    parent: int
    parent_started: int
    written_at: float
    sequence: int


@attrs.frozen(slots=True)
class StateFile:
    """A decoded state file: its header, the worker ids folded into it, its series."""

    header: StateHeader
    folded: tuple[str, ...]
    series: tuple[Series, ...]


class SketchCache:
    """Encoded and decoded sketches, reused from one publish (or read) to the next.

    Closed slots are immutable and shared between snapshots, so most sketches of a
    state are the same objects (or bytes) as last time. Each round keeps only the
    entries it used: the cache never holds more than one state's sketches.
    """

    __slots__ = ("_decoded", "_encoded", "_next_decoded", "_next_encoded")

    def __init__(self) -> None:
        self._encoded: dict[int, tuple[BucketData, bytes]] = {}
        self._next_encoded: dict[int, tuple[BucketData, bytes]] = {}
        self._decoded: dict[bytes, BucketData] = {}
        self._next_decoded: dict[bytes, BucketData] = {}

    def encode(self, data: BucketData) -> bytes:
        """``data`` encoded, from the cache when the same object was encoded last round."""
        key = id(data)
        hit = self._encoded.get(key) or self._next_encoded.get(key)
        if hit is None or hit[0] is not data:
            hit = (data, encode_bucket_data(data))
        self._next_encoded[key] = hit
        return hit[1]

    def decode(self, blob: bytes) -> BucketData:
        """``blob`` decoded, from the cache when the same bytes were decoded last round."""
        data = self._decoded.get(blob) or self._next_decoded.get(blob)
        if data is None:
            data = decode_bucket_data(blob)
        self._next_decoded[blob] = data
        return data

    def next_round(self) -> None:
        """Forget what the finished round did not use."""
        self._encoded, self._next_encoded = self._next_encoded, {}
        self._decoded, self._next_decoded = self._next_decoded, {}


def encode_state(
    header: StateHeader, series: Iterable[Series], cache: SketchCache, folded: Sequence[str] = ()
) -> bytes:
    """The bytes of a state file holding ``series``."""
    out = bytearray(
        _HEADER.pack(
            MAGIC,
            FORMAT_VERSION,
            header.flags,
            header.group_id,
            header.pid,
            header.pid_started,
            header.parent,
            header.parent_started,
            header.written_at,
            header.sequence,
        )
    )
    _put_varint(out, len(folded))
    for worker in folded:
        _put_str(out, worker)
    records = list(series)
    _put_varint(out, len(records))
    sketch = _sketch_writer(cache)
    for record in records:
        _put_series(out, record, sketch)
    out += _CRC.pack(zlib.crc32(out))
    return bytes(out)


def decode_header(blob: bytes) -> StateHeader:
    """The header of a state file (checks magic and version, not the checksum)."""
    if len(blob) < _HEADER.size + _CRC.size:
        raise StateFileError(f"truncated state file: {len(blob)} bytes")
    magic, version, *fields = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise StateFileError(f"not a worker state file: magic {magic!r}")
    if version != FORMAT_VERSION:
        raise StateFileError(f"unknown state file version: {version}")
    return StateHeader(*fields)


def decode_state(blob: bytes, cache: SketchCache) -> StateFile:
    """The state file in ``blob``; ``StateFileError`` when it is not a valid, whole one."""
    header = decode_header(blob)
    (crc,) = _CRC.unpack_from(blob, len(blob) - _CRC.size)
    if zlib.crc32(memoryview(blob)[: -_CRC.size]) != crc:
        raise StateFileError("state file checksum mismatch (torn or corrupt)")
    reader = _Reader(blob, _HEADER.size, len(blob) - _CRC.size, cache)
    try:
        folded = tuple(reader.string() for _ in range(reader.count()))
        series = tuple(reader.series() for _ in range(reader.count()))
    except (CodecError, struct.error, UnicodeDecodeError, IndexError, TypeError) as error:
        raise StateFileError(f"corrupt state file: {error}") from error
    except ValueError as error:  # an invalid tag or name
        raise StateFileError(f"invalid series in state file: {error}") from error
    if reader.pos != reader.end:
        raise StateFileError(f"{reader.end - reader.pos} trailing bytes in state file")
    return StateFile(header, folded, series)


# -- writing ------------------------------------------------------------------------------


def _put_varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _put_str(out: bytearray, text: str) -> None:
    raw = text.encode("utf-8")
    _put_varint(out, len(raw))
    out += raw


def _sketch_writer(cache: SketchCache) -> Callable[[bytearray, BucketData], None]:
    def put(out: bytearray, data: BucketData) -> None:
        blob = cache.encode(data)
        _put_varint(out, len(blob))
        out += blob

    return put


def _put_float(out: bytearray, value: float) -> None:
    out += _F64.pack(value)


def _put_series(
    out: bytearray, series: Series, sketch: Callable[[bytearray, BucketData], None]
) -> None:
    out.append(_KIND_CODE[series.kind])
    _put_str(out, series.name)
    _put_varint(out, len(series.tags))
    for key, value in series.tags.items():
        _put_str(out, key)
        _put_str(out, value)
    _put_float(out, series.updated_at)
    if isinstance(series, CounterSeries):
        _put_float(out, series.total)
        _put_view(out, series.window, _put_float)
    elif isinstance(series, GaugeSeries):
        _put_float(out, series.value)
    else:
        _put_varint(out, len(series.bucket_bounds))
        for bound in series.bucket_bounds:
            _put_float(out, bound)
        for count in series.bucket_counts:
            _put_varint(out, count)
        sketch(out, merge_all(series.all_time_parts))
        _put_view(out, series.window, sketch)


def _put_view(out: bytearray, view: WindowView[Any], put: Callable[[bytearray, Any], None]) -> None:
    _put_float(out, view.first_seen)
    _put_varint(out, len(view.closed))
    for ring in view.closed:
        _put_varint(out, len(ring))
        for start, value in ring:
            _put_float(out, start)
            put(out, value)
    _put_varint(out, len(view.pending))
    for pending in view.pending:
        if pending is None:
            out.append(0)
            continue
        out.append(1)
        _put_float(out, pending[0])
        _put_varint(out, len(pending[1]))
        for value in pending[1]:
            put(out, value)
    if view.current is None:
        out.append(0)
    else:
        out.append(1)
        _put_float(out, view.current[0])
        put(out, view.current[1])


# -- reading ------------------------------------------------------------------------------


class _Reader:
    __slots__ = ("blob", "cache", "end", "pos")

    def __init__(self, blob: bytes, pos: int, end: int, cache: SketchCache) -> None:
        self.blob = blob
        self.pos = pos
        self.end = end
        self.cache = cache

    def varint(self) -> int:
        value = shift = 0
        while True:
            if self.pos >= self.end:
                raise StateFileError("truncated varint in state file")
            byte = self.blob[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise StateFileError("varint longer than 64 bits in state file")

    def count(self) -> int:
        """A length that cannot exceed the bytes left (each item takes at least one)."""
        n = self.varint()
        if n > self.end - self.pos:
            raise StateFileError(f"length {n} exceeds the {self.end - self.pos} bytes left")
        return n

    def take(self, n: int) -> bytes:
        if n > self.end - self.pos:
            raise StateFileError("truncated state file")
        chunk = self.blob[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def f64(self) -> float:
        return float(_F64.unpack(self.take(8))[0])

    def finite(self, field: str) -> float:
        value = self.f64()
        if not math.isfinite(value):
            raise StateFileError(f"{field} is not finite in state file: {value!r}")
        return value

    def string(self) -> str:
        return self.take(self.count()).decode("utf-8")

    def sketch(self) -> BucketData:
        return self.cache.decode(self.take(self.count()))

    def series(self) -> Series:
        code = self.byte()
        if code >= len(_KINDS):
            raise StateFileError(f"unknown series kind in state file: {code}")
        kind = _KINDS[code]
        name = self.string()
        tags = Tags({self.string(): self.string() for _ in range(self.count())})
        updated_at = self.finite("updated_at")
        if kind is MetricKind.COUNTER:
            total = self.finite("total")
            return CounterSeries(
                name, tags, total, updated_at, self.view(lambda: self.finite("slot"))
            )
        if kind is MetricKind.GAUGE:
            return GaugeSeries(name, tags, self.finite("value"), updated_at)
        bounds = tuple(self.finite("bucket bound") for _ in range(self.count()))
        counts = tuple(self.varint() for _ in range(len(bounds) + 1))
        all_time = self.sketch()
        window = self.view(self.sketch)
        return DistributionSeries(kind, name, tags, (all_time,), bounds, counts, updated_at, window)

    def view(self, value: Callable[[], T]) -> WindowView[T]:
        first_seen = self.finite("first_seen")
        tiers = self.count()
        if tiers != len(TIERS):
            raise StateFileError(f"state file has {tiers} window tiers, expected {len(TIERS)}")
        closed: list[tuple[tuple[float, T], ...]] = []
        for _ in range(tiers):
            closed.append(tuple((self.finite("slot start"), value()) for _ in range(self.count())))
        pending: list[tuple[float, tuple[T, ...]] | None] = []
        for _ in range(self.count()):
            if self.byte():
                start = self.finite("block start")
                pending.append((start, tuple(value() for _ in range(self.count()))))
            else:
                pending.append(None)
        current = (self.finite("slot start"), value()) if self.byte() else None
        starts = tuple(tuple(start for start, _ in ring) for ring in closed)
        return WindowView(tuple(closed), starts, tuple(pending), current, first_seen)
