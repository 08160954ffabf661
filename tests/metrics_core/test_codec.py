from __future__ import annotations

import contextlib
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics_core.codec import (
    FORMAT_VERSION,
    CodecError,
    decode_bucket_data,
    encode_bucket_data,
)
from metrics_core.sketch import EMPTY, BucketData, merge_all

values = st.lists(
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
    max_size=200,
)


def same(a: BucketData, b: BucketData) -> None:
    assert (a.count, a.total, a.minimum, a.maximum, a.zeros) == (
        b.count,
        b.total,
        b.minimum,
        b.maximum,
        b.zeros,
    )
    assert a.positive_buckets() == b.positive_buckets()
    assert a.negative_buckets() == b.negative_buckets()


# No deadline: wide-ranged values make long dense runs, slow on a loaded machine.
@settings(deadline=None)
@given(values)
def test_round_trip_is_exact(items: list[float]) -> None:
    data = BucketData.of(items)
    decoded = decode_bucket_data(encode_bucket_data(data))
    same(decoded, data)
    assert decoded.quantile(0.95) == data.quantile(0.95) or math.isnan(data.quantile(0.95))


@settings(deadline=None)
@given(values, values)
def test_merging_decoded_equals_merging_originals(a: list[float], b: list[float]) -> None:
    left, right = BucketData.of(a), BucketData.of(b)
    decoded = [decode_bucket_data(encode_bucket_data(d)) for d in (left, right)]
    same(merge_all(decoded), merge_all((left, right)))


def test_empty_round_trips_to_the_empty_constant() -> None:
    assert decode_bucket_data(encode_bucket_data(EMPTY)) is EMPTY


def test_wide_counts_round_trip() -> None:
    big = BucketData(3 * 2**40, 6.0, 1.0, 2.0, 0, (5, (2**40, 2**40, 2**40)), (0, ()))
    same(decode_bucket_data(encode_bucket_data(big)), big)


def test_negative_offsets_round_trip() -> None:
    data = BucketData.of([0.001, 0.002, -0.5, 0.0])
    assert data.positive[0] < 0
    same(decode_bucket_data(encode_bucket_data(data)), data)


def test_a_record_is_small() -> None:
    data = BucketData.of([float(v) for v in range(1, 101)])
    assert len(encode_bucket_data(data)) < 2 * len(data.positive[1]) + 48


def test_every_truncation_is_a_codec_error() -> None:
    blob = encode_bucket_data(BucketData.of([0.5, 3.0, 7.5, -2.0, 0.0]))
    for end in range(len(blob)):
        with pytest.raises(CodecError):
            decode_bucket_data(blob[:end])


def test_trailing_bytes_are_rejected() -> None:
    blob = encode_bucket_data(BucketData.of([1.0]))
    with pytest.raises(CodecError, match="trailing"):
        decode_bucket_data(blob + b"\x00")


def test_unknown_version_is_rejected() -> None:
    blob = encode_bucket_data(BucketData.of([1.0]))
    with pytest.raises(CodecError, match="version: 9"):
        decode_bucket_data(bytes((9,)) + blob[1:])
    assert blob[0] == FORMAT_VERSION


def test_counts_that_do_not_add_up_are_rejected() -> None:
    blob = bytearray(encode_bucket_data(BucketData.of([1.0, 2.0])))
    blob[1] = 5  # count 5, buckets hold 2
    with pytest.raises(CodecError, match="add up to 2, not the count 5"):
        decode_bucket_data(bytes(blob))


def test_non_finite_total_is_rejected() -> None:
    blob = bytearray(encode_bucket_data(BucketData.of([1.0])))
    struct.pack_into("<d", blob, 2, math.inf)
    with pytest.raises(CodecError, match="total"):
        decode_bucket_data(bytes(blob))


def test_huge_run_length_is_rejected_before_allocating() -> None:
    blob = bytes((FORMAT_VERSION, 0)) + struct.pack("<ddd", 0.0, math.inf, -math.inf)
    blob += bytes((0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F))
    with pytest.raises(CodecError, match="exceeds"):
        decode_bucket_data(blob)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_raise_only_codec_errors(blob: bytes) -> None:
    with contextlib.suppress(CodecError):
        decode_bucket_data(blob)


def test_memoryview_and_bytearray_inputs() -> None:
    data = BucketData.of([1.0, 2.5])
    blob = encode_bucket_data(data)
    same(decode_bucket_data(bytearray(blob)), data)
    same(decode_bucket_data(memoryview(blob)), data)
