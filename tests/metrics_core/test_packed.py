"""Packed bucket counts, running sums and blocks in progress against plain-dict models.

The packed form (``metrics_core._packed``) adds whole runs of counts with one
integer operation; these properties check every add, subtract, narrowing and
widening against a ``{bucket: count}`` model, including runs that grow to either
side, counts of every storage width and sums past 32 bits per bucket.
"""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from metrics_core._blocks import SketchBlock, SumBlock
from metrics_core._packed import (
    EMPTY_RUN,
    Counts,
    compact,
    narrowest,
    pack,
    shifted,
    unpack,
    widened,
)
from metrics_core._ring_sums import RingSum
from metrics_core.sketch import BucketData, merge_all

PROPERTY = settings(deadline=None, derandomize=True, database=None)

COUNT = st.one_of(st.integers(0, 3), st.integers(0, 300), st.integers(0, 70_000))


@st.composite
def runs(draw: st.DrawFn) -> tuple[int, Counts]:
    """An ``(offset, counts)`` run stored as a short tuple or an array of any width."""
    offset = draw(st.integers(-80, 80))
    counts = draw(st.lists(COUNT, min_size=1, max_size=40))
    storage = draw(st.sampled_from(("tuple", "narrowest", "I", "Q")))
    if storage == "tuple":
        return offset, tuple(counts)
    if storage == "narrowest":
        return offset, narrowest(counts)
    return offset, array(storage, counts)


def as_dict(offset: int, counts: Counts) -> dict[int, int]:
    return {offset + k: count for k, count in enumerate(counts) if count}


def add_into(model: dict[int, int], offset: int, counts: Counts, sign: int) -> None:
    for k, count in enumerate(counts):
        model[offset + k] = model.get(offset + k, 0) + sign * count
        if not model[offset + k]:
            del model[offset + k]


@settings(PROPERTY, max_examples=300)
@given(st.lists(runs(), min_size=1, max_size=8), st.data())
def test_packed_runs_add_and_subtract_like_a_dict(
    parts: list[tuple[int, Counts]], data: st.DataObject
) -> None:
    run = EMPTY_RUN
    model: dict[int, int] = {}
    for offset, counts in parts:
        run = shifted(run, offset, counts, 1)
        add_into(model, offset, counts, 1)
    # Take out some of the runs added (only what was added, as the callers do).
    for index in data.draw(st.lists(st.integers(0, len(parts) - 1), unique=True)):
        offset, counts = parts[index]
        run = shifted(run, offset, counts, -1)
        add_into(model, offset, counts, -1)
    low, stored = compact(run)
    assert as_dict(low, stored) == model
    assert as_dict(run[0], unpack(run)) == model
    # Stored as narrowly as the largest count allows.
    top = max(model.values(), default=0)
    if isinstance(stored, array):
        assert stored.itemsize == (1 if top < 1 << 8 else 2 if top < 1 << 16 else 4)
    wide = widened(run, 4, 8)
    assert as_dict(wide[0], unpack(wide, 8)) == model


def test_pack_puts_each_count_in_its_own_field() -> None:
    assert pack((1, 2, 3)) == 1 + (2 << 32) + (3 << 64)
    assert pack(array("B", [255, 0, 7]), 8) == 255 + (7 << 128)
    assert pack(array("Q", [2**40, 1]), 8) == 2**40 + (1 << 64)


def slot(index: int, count: int) -> BucketData:
    return BucketData(count, float(count), 1.0, 2.0, 0, (index, array("Q", [count])))


def test_running_sums_widen_their_fields_past_32_bits() -> None:
    ring_sum = RingSum(3)
    big = slot(10, 2**32 - 1)
    ring_sum.apply(big, 1)
    ring_sum.apply(slot(12, 5), 1)
    ring_sum.apply(big, 1)  # bucket 10 now holds 2**33 - 2: past a 32-bit field
    frozen = ring_sum.frozen()
    assert as_dict(*frozen.positive) == {10: 2**33 - 2, 12: 5}
    ring_sum.apply(big, -1)
    assert as_dict(*ring_sum.frozen().positive) == {10: 2**32 - 1, 12: 5}


@st.composite
def slots(draw: st.DrawFn) -> BucketData:
    values = draw(
        st.lists(
            st.one_of(
                st.floats(1e-3, 1e6),
                st.floats(-1e6, -1e-3),
                st.just(0.0),
            ),
            max_size=60,
        )
    )
    return BucketData.of(values)


@settings(PROPERTY, max_examples=200)
@given(st.lists(slots(), min_size=1, max_size=12))
def test_a_block_in_progress_is_the_merge_of_its_slots(parts: list[BucketData]) -> None:
    block = SketchBlock(parts[0])
    for part in parts[1:]:
        block.add(part)
    got, expected = block.value(), merge_all(parts)
    assert (got.count, got.zeros, got.minimum, got.maximum) == (
        expected.count,
        expected.zeros,
        expected.minimum,
        expected.maximum,
    )
    assert got.positive_buckets() == expected.positive_buckets()
    assert got.negative_buckets() == expected.negative_buckets()
    assert got.total == expected.total  # both the exact sum of the slots' sums
    assert block.parts() == (got,)
    assert block.value() is got  # kept until the next slot


@st.composite
def one_bucket_slots(draw: st.DrawFn) -> BucketData:
    """A slot whose observations all fall in one positive bucket (a sparse series' slot)."""
    index = draw(st.integers(-60, 60))
    count = draw(st.one_of(st.just(1), st.integers(1, 300), st.integers(1, 70_000)))
    value = 2.0 ** ((index + 0.5) / 64)
    return BucketData(count, count * value, value, value, 0, (index, (count,)))


@settings(PROPERTY, max_examples=300)
@given(st.lists(st.one_of(one_bucket_slots(), slots()), min_size=1, max_size=16))
def test_one_bucket_slots_take_the_short_path_to_the_same_block(parts: list[BucketData]) -> None:
    # Buckets below, inside and above the run so far, and counts that widen the fields.
    block = SketchBlock(parts[0])
    for part in parts[1:]:
        block.add(part)
    got, expected = block.value(), merge_all(parts)
    assert (got.count, got.zeros) == (expected.count, expected.zeros)
    assert got.positive_buckets() == expected.positive_buckets()
    assert got.negative_buckets() == expected.negative_buckets()


def test_a_counter_block_sums_its_increments_exactly() -> None:
    block = SumBlock(0.1)
    for _ in range(9):
        block.add(0.1)
    assert block.value() == 1.0
    assert block.parts() == (0.1,) * 10


def wide_slot(offset: int, counts: list[int], typecode: str) -> BucketData:
    return BucketData(sum(counts), 1.0, 1.0, 2.0, 0, (offset, array(typecode, counts)))


@settings(PROPERTY, max_examples=200)
@given(
    st.lists(
        # One-value slots (a sparse series', the in-place path) mixed with wide ones, and
        # with big counts that make the fields widen (1 -> 2 -> 4 bytes).
        st.one_of(
            st.floats(1e-3, 1e3).map(lambda value: BucketData.of([value])),
            slots(),
            st.builds(
                wide_slot,
                st.integers(-20, 20),
                st.lists(st.integers(0, 40_000), min_size=1, max_size=12),
                st.just("I"),
            ),
            st.builds(
                wide_slot,
                st.integers(-20, 20),
                st.lists(st.integers(0, 255), min_size=9, max_size=30),
                st.just("B"),
            ),
        ),
        min_size=1,
        max_size=40,
    ),
    st.integers(1, 8),
)
def test_a_running_sum_holds_exactly_the_newest_slots(parts: list[BucketData], size: int) -> None:
    ring_sum = RingSum(size)
    for held, part in enumerate(parts, 1):
        if held > size:
            leaving = parts[held - 1 - size]
            offset, counts = leaving.positive
            if leaving.count == 1 and len(counts) == 1:  # a ring knows it by its bucket alone
                ring_sum.swap_one(part, offset)
            else:
                ring_sum.swap(part, leaving)
        else:
            ring_sum.apply(part, 1)
        newest = merge_all(parts[max(0, held - size) : held])
        frozen = ring_sum.frozen()
        assert frozen.count == newest.count
        assert frozen.zeros == newest.zeros
        assert as_dict(*frozen.positive) == newest.positive_buckets()
        assert as_dict(*frozen.negative) == newest.negative_buckets()
        assert not max(newest.positive[1], default=0) >> (8 * ring_sum.width)


def test_an_hour_of_one_byte_slots_fits_two_byte_fields() -> None:
    ring_sum = RingSum(61)
    slot = BucketData(60_000, 1.0, 1.0, 2.0, 0, (0, array("B", [200] * 300)))
    for _ in range(61):
        ring_sum.apply(slot, 1)
    assert ring_sum.count > 1 << 16 and ring_sum.width == 2  # 61 x 255 < 65,536
