"""Compact rings of closed slots against a plain list of pieces.

A ``SketchRing`` keeps a distribution's closed slots as columns and encoded (and
then chunked, compressed) counts (``metrics_core._rings``, ``_slot_codec``); these
properties check that every slot decodes to exactly the summary appended, through
every step of encoding, chunking and rolling off, and that frozen copies stay what
they were. (Running sums in narrow fields: ``test_packed.py``.)
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from metrics_core._frozen_ring import FrozenRing
from metrics_core._packed import narrowest
from metrics_core._rings import SketchRing, staggered_ring
from metrics_core._slot_codec import CHUNK, ONE_SIZE, Chunk, decode, encode
from metrics_core.sketch import BucketData

PROPERTY = settings(deadline=None, derandomize=True, database=None)


@st.composite
def summaries(draw: st.DrawFn) -> BucketData:
    """A slot's summary: raw values (any sign, zeros), or wide runs of big counts."""
    if draw(st.booleans()):
        values = draw(
            st.lists(
                st.one_of(st.floats(1e-3, 1e6), st.floats(-1e6, -1e-3), st.just(0.0)),
                min_size=1,
                max_size=300,
            )
        )
        return BucketData.of(values)
    counts = draw(st.lists(st.integers(0, 70_000), min_size=9, max_size=300))
    counts[0] = counts[-1] = 1  # a run starts and ends at a bucket in use
    offset = draw(st.integers(-5_000, 5_000))
    zeros = draw(st.integers(0, 3))
    total = sum(counts)
    return BucketData(
        total + zeros, float(total), 0.0 if zeros else 1.0, 9.0, zeros, (offset, narrowest(counts))
    )


def same(got: BucketData, expected: BucketData) -> None:
    assert got == expected
    assert got.positive_buckets() == expected.positive_buckets()


@settings(PROPERTY, max_examples=200)
@given(summaries())
def test_a_slot_decodes_to_the_summary_encoded(data: BucketData) -> None:
    stored = encode(data)
    same(decode(stored, data.total, data.minimum, data.maximum), data)
    if isinstance(stored, bytes):  # arrays: the bytes hold the counts, typed as they were
        assert len(data.positive[1]) > 8 or (data.count == 1 and len(stored) == ONE_SIZE)


def test_few_buckets_stay_as_they_are_and_a_chunk_shrinks_many() -> None:
    thin = BucketData.of([1.0, 1.01, 1.01])  # two buckets: a short tuple
    assert encode(thin) is thin
    spread = [BucketData.of([2 ** (k / 8 + j / 50) for k in range(80)]) for j in range(CHUNK)]
    entries = [encode(data) for data in spread]  # 80 of 633 buckets in use in each
    assert all(isinstance(entry, bytes) and len(entry) > 633 for entry in entries)
    chunk = Chunk.of(entries)  # type: ignore[arg-type]
    assert chunk is not None and len(chunk) < CHUNK * 633 // 3


@settings(PROPERTY, max_examples=60)
@given(st.lists(summaries(), min_size=CHUNK, max_size=CHUNK))
def test_a_chunk_gives_back_its_slots(parts: list[BucketData]) -> None:
    entries = [encode(part) for part in parts]
    if not all(isinstance(entry, bytes) for entry in entries):
        return
    chunk = Chunk.of(entries)  # type: ignore[arg-type]
    assert chunk is not None
    for entry, part, back in zip(entries, parts, chunk.entries(), strict=True):
        assert back == entry
        same(decode(back, part.total, part.minimum, part.maximum), part)


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), summaries(), st.booleans()),
        st.tuples(st.just("settle")),
        st.tuples(st.just("drop")),
    ),
    max_size=70,
)


@settings(PROPERTY, max_examples=120)
@given(OPERATIONS)
def test_a_ring_holds_exactly_the_slots_a_list_would(operations: list[tuple[object, ...]]) -> None:
    ring = SketchRing()
    model: list[tuple[float, BucketData]] = []
    copies: list[tuple[FrozenRing, tuple[tuple[float, BucketData], ...]]] = []
    start = 0.0
    for operation in operations:
        if operation[0] == "append":
            data, settled = operation[1], operation[2]
            assert isinstance(data, BucketData) and isinstance(settled, bool)
            start += 1.0
            ring.append(start, data, settled)
            model.append((start, data))
        elif operation[0] == "settle":
            ring.settle()
        elif model:
            ring.drop_oldest()
            del model[0]
        assert len(ring) == len(model)
        if model:
            same(ring.value(len(model) - 1), model[-1][1])
        frozen, starts = ring.frozen()
        assert list(starts) == [piece[0] for piece in model]
        copies.append((frozen, tuple(model)))
    for frozen, pieces in copies:  # every copy still reads what it read when taken
        assert frozen == pieces
        assert list(frozen) == list(pieces)
        for first in range(len(pieces)):
            assert frozen.values(first, len(pieces)) == [value for _, value in pieces[first:]]
            assert math.fsum(frozen.totals[first:]) == math.fsum(v.total for _, v in pieces[first:])


def test_ring_entries_settle_into_chunks_one_step_at_a_time() -> None:
    ring = SketchRing()
    busy = [BucketData.of([(1 + j / 10) * 2 ** (k / 100) for k in range(500)]) for j in range(11)]
    for k, data in enumerate(busy):
        ring.append(float(k), data, settled=False)
    assert all(isinstance(entry, BucketData) for entry in ring.stored)
    steps = 0
    while ring.settle():
        steps += 1
    assert steps == len(busy) + 1  # each slot encoded, then the oldest CHUNK chunked
    assert all(isinstance(entry, Chunk) for entry in ring.stored[:CHUNK])
    assert all(type(entry) is bytes for entry in ring.stored[CHUNK:])
    assert [ring.value(k) for k in range(len(busy))] == busy


def test_a_sparse_series_slots_are_a_bucket_each_and_never_chunked() -> None:
    ring = SketchRing()
    slots = [BucketData.of([1.0 + k]) for k in range(3 * CHUNK)]
    for k, data in enumerate(slots):
        ring.append(float(k), data, settled=k % 2 == 0)  # encoded now, or by a settle
    while ring.settle():
        pass
    # One observation: its bucket in a few bytes (no object for the collector), no chunk.
    assert all(type(entry) is bytes and len(entry) == ONE_SIZE for entry in ring.stored)
    assert [ring.one_bucket(k) for k in range(len(slots))] == [s.positive[0] for s in slots]
    assert [ring.value(k) for k in range(len(slots))] == slots
    assert ring.frozen()[0].values(0, len(slots)) == slots
    few = BucketData.of([1.0, 1.0])  # two observations in one bucket: kept as it is
    ring.append(99.0, few)
    assert ring.stored[-1] is few and ring.one_bucket(len(ring) - 1) is None


def test_rings_made_together_chunk_in_different_seconds() -> None:
    rings = [staggered_ring() for _ in range(3)]
    busy = [BucketData.of([(1 + j / 10) * 2 ** (k / 100) for k in range(500)]) for j in range(20)]
    chunked_at: list[set[int]] = [set(), set(), set()]
    for second, data in enumerate(busy):
        for ring, seen in zip(rings, chunked_at, strict=True):
            before = sum(isinstance(entry, Chunk) for entry in ring.stored)
            ring.settle()
            if sum(isinstance(entry, Chunk) for entry in ring.stored) > before:
                seen.add(second)
            ring.append(float(second), data)
    assert all(chunked_at)  # each ring chunked
    assert not chunked_at[0] & chunked_at[1] and not chunked_at[1] & chunked_at[2]
    for ring in rings:
        assert [ring.value(k) for k in range(len(busy))] == busy
