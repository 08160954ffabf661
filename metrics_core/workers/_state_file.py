"""The per-worker state file: one worker's snapshot as checked, versioned bytes (never pickle).

Layout (little-endian)::

    header  magic b"IMWG", u16 format version, u8 flags, 16-byte group id, u32 pid,
            u64 pid start time, u32 parent pid, u64 parent start time, f64 written at,
            u64 sequence
    ids     varint n, n strings: workers already folded into this file (retired state)
    series  varint n, n series records
    crc     u32 CRC-32 of everything before it

    string  varint length, UTF-8 bytes
    series  varint byte length, then u8 kind, string name, varint n tags and n (key, value)
            strings, f64 updated at, then a counter's f64 total and view of f64 values; a
            gauge's f64 value; a distribution's varint n bounds, n f64 bounds, n + 1 varint
            bucket counts, varint n and n sketches (the all-time parts) and view of sketches
    view    f64 first seen; varint n tiers and n rings; varint n pending blocks, each
            u8 present [f64 start, values]; u8 present [f64 start, value] (the open slot)
    ring    varint byte length, then f64 starts and values of the ring's closed slots
    values  varint n, then n f64 (counters) or n sketches (distributions)
    sketch  varint length + 1 and ``metrics_core.codec`` bytes, or 0 and the varint index
            of a sketch written before in the same series (outside rings: the all-time
            parts, pending blocks and open slot share their sketch objects)

Rings are immutable and shared between a registry's snapshots, and most of them do not
change from one publication to the next: ``SketchCache`` keeps the bytes of each ring
and sketch object written, and the decoded ring of each ring's bytes read, so a
publication or a read mostly copies bytes it already has.

Every decode error (bad magic, unknown version, checksum, truncation, a sketch the
codec rejects, an invalid tag) raises ``StateFileError``: the reader skips the file.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

import attrs

from metrics_core._frozen_ring import FrozenRing
from metrics_core._round_cache import RoundCache
from metrics_core.codec import CodecError, decode_bucket_data, encode_bucket_data
from metrics_core.sketch import BucketData
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
    """Encoded and decoded rings and sketches, reused from one publish (or read) to the next.

    Closed slots and rings are immutable and shared between snapshots, so most of a
    state is the same objects (or bytes) as last time. Each round keeps only the entries
    it used: the cache never holds more than one state's pieces.
    """

    __slots__ = ("_decoded", "_encoded", "_next_encoded")

    def __init__(self) -> None:
        self._encoded: dict[tuple[int, int], tuple[object, bytes]] = {}
        self._next_encoded: dict[tuple[int, int], tuple[object, bytes]] = {}
        # Keyed by (what, bytes): 0 a ring of floats, 1 a ring of sketches, 2 a sketch,
        # 3 a series record.
        self._decoded: RoundCache[Any] = RoundCache()

    def encoded(self, item: object, encode: Callable[[], bytes], part: int = -1) -> bytes:
        """The bytes of ``item``, from the cache when the same object was encoded last round.

        ``part``: which slot of ``item``, when it is a chunk holding several.
        """
        key = (id(item), part)
        hit = self._encoded.get(key) or self._next_encoded.get(key)
        if hit is None or hit[0] is not item:
            hit = (item, encode())
        self._next_encoded[key] = hit
        return hit[1]

    def encode(self, data: BucketData) -> bytes:
        """``data`` encoded (cached by identity)."""
        return self.encoded(data, lambda: encode_bucket_data(data))

    def decoded(self, key: tuple[int, bytes], decode: Callable[[], Any]) -> Any:
        """What ``key``'s bytes decode to, from the cache when they were seen last round."""
        return self._decoded.get(key, decode)

    def decode(self, blob: bytes) -> BucketData:
        """``blob`` decoded as a sketch (cached by bytes)."""
        data: BucketData = self.decoded((2, blob), lambda: decode_bucket_data(blob))
        return data

    def next_round(self) -> None:
        """Forget what the finished round did not use."""
        self._encoded, self._next_encoded = self._next_encoded, {}
        self._decoded.turn()


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
    for record in records:
        body = bytearray()
        _put_series(body, record, cache)
        _put_varint(out, len(body))
        out += body
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


class _Values:
    """Writes and reads the values of slots: f64 for counters, sketches for distributions."""

    __slots__ = ("cache", "seen", "sketches")

    def __init__(self, cache: SketchCache, sketches: bool) -> None:
        self.cache = cache
        self.sketches = sketches
        self.seen: dict[int, int] = {}  # id -> index of sketches written in this series

    def put(self, out: bytearray, values: Sequence[Any]) -> None:
        """``values``; a sketch already written in this series becomes a reference to it."""
        _put_varint(out, len(values))
        if not self.sketches:
            out += struct.pack(f"<{len(values)}d", *values)
            return
        seen = self.seen
        for value in values:
            index = seen.get(id(value))
            if index is not None:
                out.append(0)
                _put_varint(out, index)
                continue
            seen[id(value)] = len(seen)
            blob = self.cache.encode(value)
            _put_varint(out, len(blob) + 1)
            out += blob

    def ring(self, ring: Sequence[tuple[float, Any]]) -> bytes:
        def encode() -> bytes:
            body = bytearray()
            _put_varint(body, len(ring))
            if isinstance(ring, FrozenRing):
                body += struct.pack(f"<{len(ring)}d", *ring.starts)
                self.put_stored(body, ring)
            else:
                body += struct.pack(f"<{len(ring)}d", *(start for start, _ in ring))
                _Values(self.cache, self.sketches).put(body, [value for _, value in ring])
            head = bytearray()
            _put_varint(head, len(body))
            return bytes(head + body)

        return self.cache.encoded(ring, encode)

    def put_stored(self, out: bytearray, ring: FrozenRing) -> None:
        """A distribution ring's sketches, cached by the ring's stored slots (not decoded)."""
        _put_varint(out, len(ring))
        for index, (entry, part) in enumerate(zip(ring.stored, ring.within, strict=True)):
            blob = self.cache.encoded(entry, partial(_slot_bytes, ring, index), part)
            _put_varint(out, len(blob) + 1)
            out += blob


def _slot_bytes(ring: FrozenRing, index: int) -> bytes:
    return encode_bucket_data(ring.value(index))


def _put_float(out: bytearray, value: float) -> None:
    out += _F64.pack(value)


def _put_series(out: bytearray, series: Series, cache: SketchCache) -> None:
    out.append(_KIND_CODE[series.kind])
    _put_str(out, series.name)
    _put_varint(out, len(series.tags))
    for key, value in series.tags.items():
        _put_str(out, key)
        _put_str(out, value)
    _put_float(out, series.updated_at)
    if isinstance(series, CounterSeries):
        _put_float(out, series.total)
        _put_view(out, series.window, _Values(cache, sketches=False))
    elif isinstance(series, GaugeSeries):
        _put_float(out, series.value)
    else:
        _put_varint(out, len(series.bucket_bounds))
        out += struct.pack(f"<{len(series.bucket_bounds)}d", *series.bucket_bounds)
        for count in series.bucket_counts:
            _put_varint(out, count)
        values = _Values(cache, sketches=True)
        values.put(out, series.all_time_parts)
        _put_view(out, series.window, values)


def _put_view(out: bytearray, view: WindowView[Any], values: _Values) -> None:
    _put_float(out, view.first_seen)
    _put_varint(out, len(view.closed))
    for ring in view.closed:
        out += values.ring(ring)
    _put_varint(out, len(view.pending))
    for pending in view.pending:
        if pending is None:
            out.append(0)
            continue
        out.append(1)
        _put_float(out, pending[0])
        values.put(out, pending[1])
    if view.current is None:
        out.append(0)
    else:
        out.append(1)
        _put_float(out, view.current[0])
        values.put(out, (view.current[1],))


# -- reading ------------------------------------------------------------------------------


class _Reader:
    __slots__ = ("blob", "cache", "end", "pos", "sketches")

    def __init__(self, blob: bytes, pos: int, end: int, cache: SketchCache) -> None:
        self.blob = blob
        self.pos = pos
        self.end = end
        self.cache = cache
        self.sketches: list[BucketData] = []  # of the series being read, for references

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
        """A sketch, or a reference to one read earlier in the same series."""
        size = self.varint()
        if not size:
            index = self.varint()
            if index >= len(self.sketches):
                raise StateFileError(f"sketch reference {index} before its sketch")
            return self.sketches[index]
        if size - 1 > self.end - self.pos:
            raise StateFileError("truncated sketch in state file")
        data = self.cache.decode(self.take(size - 1))
        self.sketches.append(data)
        return data

    def floats(self, n: int, field: str) -> tuple[float, ...]:
        values: tuple[float, ...] = struct.unpack(f"<{n}d", self.take(8 * n))
        if not all(map(math.isfinite, values)):
            raise StateFileError(f"a {field} is not finite in state file: {values!r}")
        return values

    def values(self, sketches: bool) -> tuple[Any, ...]:
        n = self.count()
        if sketches:
            return tuple(self.sketch() for _ in range(n))
        return self.floats(n, "slot value")

    def series(self) -> Series:
        """A series record, decoded once per distinct bytes (an idle series costs a lookup)."""
        raw = self.take(self.count())

        def decode() -> Series:
            inner = _Reader(raw, 0, len(raw), self.cache)
            series = inner.series_body()
            if inner.pos != inner.end:
                raise StateFileError(f"{inner.end - inner.pos} trailing bytes in a series record")
            return series

        series: Series = self.cache.decoded((3, raw), decode)
        return series

    def series_body(self) -> Series:
        self.sketches = []
        code = self.byte()
        if code >= len(_KINDS):
            raise StateFileError(f"unknown series kind in state file: {code}")
        kind = _KINDS[code]
        name = self.string()
        tags = Tags({self.string(): self.string() for _ in range(self.count())})
        updated_at = self.finite("updated_at")
        if kind is MetricKind.COUNTER:
            total = self.finite("total")
            return CounterSeries(name, tags, total, updated_at, self.view(sketches=False))
        if kind is MetricKind.GAUGE:
            return GaugeSeries(name, tags, self.finite("value"), updated_at)
        bounds = self.floats(self.count(), "bucket bound")
        counts = tuple(self.varint() for _ in range(len(bounds) + 1))
        all_time_parts = self.values(sketches=True)
        window = self.view(sketches=True)
        return DistributionSeries(
            kind, name, tags, all_time_parts, bounds, counts, updated_at, window
        )

    def ring(self, sketches: bool) -> tuple[tuple[tuple[float, Any], ...], tuple[float, ...]]:
        """A closed ring and its starts (decoded once per distinct bytes)."""
        raw = self.take(self.count())

        def decode() -> tuple[tuple[tuple[float, Any], ...], tuple[float, ...]]:
            inner = _Reader(raw, 0, len(raw), self.cache)
            n = inner.count()
            starts = inner.floats(n, "slot start")
            values = inner.values(sketches)
            if len(values) != n or inner.pos != inner.end:
                raise StateFileError("ring values do not match its slots")
            return tuple(zip(starts, values, strict=True)), starts

        ring: tuple[tuple[tuple[float, Any], ...], tuple[float, ...]]
        ring = self.cache.decoded((int(sketches), raw), decode)
        return ring

    def view(self, sketches: bool) -> WindowView[Any]:
        first_seen = self.finite("first_seen")
        tiers = self.count()
        if tiers != len(TIERS):
            raise StateFileError(f"state file has {tiers} window tiers, expected {len(TIERS)}")
        rings = [self.ring(sketches) for _ in range(tiers)]
        pending: list[tuple[float, tuple[Any, ...]] | None] = []
        for _ in range(self.count()):
            if self.byte():
                start = self.finite("block start")
                pending.append((start, self.values(sketches)))
            else:
                pending.append(None)
        current = None
        if self.byte():
            start = self.finite("slot start")
            (value,) = self.values(sketches) or (None,)
            if value is None:
                raise StateFileError("open slot without a value in state file")
            current = (start, value)
        closed = tuple(ring for ring, _ in rings)
        starts = tuple(starts for _, starts in rings)
        return WindowView(closed, starts, tuple(pending), current, first_seen)
