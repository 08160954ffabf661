"""The state file: exact round trips, and every corrupt or foreign input rejected as such."""

from __future__ import annotations

import contextlib
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics_core.clock import ManualClock
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries, Snapshot
from metrics_core.workers._state_file import (
    FLAG_FINAL,
    SketchCache,
    StateFileError,
    StateHeader,
    decode_header,
    decode_state,
    encode_state,
)

HEADER = StateHeader(FLAG_FINAL, b"g" * 16, 1234, 99, 1, 0, 1_700_000_000.5, 7)
WINDOWS = (1, 5, 30, 60, 300, 600, 3600)


def recorded(clock: ManualClock, steps: list[tuple[float, float]]) -> AggregatingRegistry:
    """A registry fed ``(seconds later, value)`` steps: a counter, a gauge, a timer, a histogram."""
    registry = AggregatingRegistry(clock=clock)
    tags = {"model_name": "bert", "version": "v1"}
    for later, value in steps:
        clock.advance(later)
        registry.counter("requests_total", tags, abs(value))
        registry.gauge("in_flight", tags, value)
        registry.timer("latency", tags, abs(value))
        registry.histogram("tokens", {"model_name": "bert", "version": "ü ✓"}, value)
    return registry


def assert_same_answers(a: Snapshot, b: Snapshot, now: float) -> None:
    assert len(a) == len(b)
    for left, right in zip(a, b, strict=True):
        assert (left.kind, left.name, left.tags, left.updated_at) == (
            right.kind,
            right.name,
            right.tags,
            right.updated_at,
        )
        if isinstance(left, GaugeSeries):
            assert isinstance(right, GaugeSeries)
            assert left.value == right.value
        elif isinstance(left, CounterSeries):
            assert isinstance(right, CounterSeries)
            assert left.total == right.total
            for window in WINDOWS:
                assert left.window_total_since(window, now) == right.window_total_since(window, now)
        else:
            assert isinstance(left, DistributionSeries) and isinstance(right, DistributionSeries)
            assert (left.count, left.total) == (right.count, right.total)
            assert left.bucket_counts == right.bucket_counts
            for window in WINDOWS:
                one, two = left.window_summary(window, now), right.window_summary(window, now)
                assert (one.window_start, one.count) == (two.window_start, two.count)
                # The registry may answer from running sums: the same values, added in
                # another order.
                assert one.total == pytest.approx(two.total, rel=1e-12)
                assert one.quantiles(0.5, 0.95, 0.99) == two.quantiles(0.5, 0.95, 0.99)


steps = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.3, 1.0, 7.0, 61.0, 650.0]),
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=25, deadline=None)
@given(steps)
def test_a_decoded_state_answers_every_window_as_the_original(
    items: list[tuple[float, float]],
) -> None:
    clock = ManualClock()
    snapshot = recorded(clock, items).snapshot()
    blob = encode_state(HEADER, snapshot.series, SketchCache())
    state = decode_state(blob, SketchCache())
    assert state.header == HEADER
    assert state.folded == ()
    for later in (0.0, 2.5, 45.0, 400.0):
        assert_same_answers(snapshot, Snapshot(0.0, state.series), clock() + later)


def test_folded_ids_round_trip() -> None:
    blob = encode_state(HEADER, (), SketchCache(), folded=("1-2-3", "4-5-6"))
    assert decode_state(blob, SketchCache()).folded == ("1-2-3", "4-5-6")


def test_the_caches_reuse_unchanged_sketches_and_forget_the_rest() -> None:
    clock = ManualClock()
    registry = recorded(clock, [(0.0, 5.0), (1.0, 6.0), (1.0, 7.0)])
    cache = SketchCache()
    first = encode_state(HEADER, registry.snapshot().series, cache)
    cache.next_round()
    assert encode_state(HEADER, registry.snapshot().series, cache) == first
    reader = SketchCache()
    one = decode_state(first, reader)
    reader.next_round()
    two = decode_state(first, reader)
    timer_one = next(s for s in one.series if s.name == "latency")
    timer_two = next(s for s in two.series if s.name == "latency")
    assert isinstance(timer_one, DistributionSeries) and isinstance(timer_two, DistributionSeries)
    assert timer_one.window.closed[0][0][1] is timer_two.window.closed[0][0][1]


def valid_blob() -> bytes:
    clock = ManualClock()
    registry = recorded(clock, [(0.0, 5.0), (1.0, 6.0), (11.0, 7.0)])
    return encode_state(HEADER, registry.snapshot().series, SketchCache())


def test_every_truncation_is_rejected() -> None:
    blob = valid_blob()
    for size in range(len(blob)):
        with pytest.raises(StateFileError):
            decode_state(blob[:size], SketchCache())


def test_every_flipped_byte_is_rejected() -> None:
    blob = valid_blob()
    for position in range(0, len(blob), 7):
        broken = bytearray(blob)
        broken[position] ^= 0x5A
        with pytest.raises(StateFileError):
            decode_state(bytes(broken), SketchCache())


def test_foreign_and_future_files_are_named_as_such() -> None:
    with pytest.raises(StateFileError, match="not a worker state file"):
        decode_header(b"\x00" * 200)
    blob = bytearray(valid_blob())
    struct.pack_into("<H", blob, 4, 2)
    with pytest.raises(StateFileError, match="unknown state file version: 2"):
        decode_state(bytes(blob), SketchCache())


def test_a_checksummed_but_invalid_body_is_rejected() -> None:
    """A writer bug (or a crafted file) with a good checksum still cannot pass bad values."""
    blob = bytearray(valid_blob()[:-4])
    cut = len(blob) - 5
    body = bytes(blob[:cut]) + b"\xff\xff\xff\xff\x0f"
    with pytest.raises(StateFileError):
        decode_state(body + struct.pack("<I", zlib.crc32(body)), SketchCache())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_state_file_error(noise: bytes) -> None:
    head = valid_blob()[:54]
    for blob in (noise, head + noise):
        body = blob + struct.pack("<I", zlib.crc32(blob))
        for candidate in (blob, body):
            with contextlib.suppress(StateFileError):
                decode_state(candidate, SketchCache())
