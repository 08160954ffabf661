"""Property-based tests: the sketch, its quantiles, windows and the registry against models.

Every test is derandomized, so CI runs the same examples each time; the reference models
are plain Python written from the documented rules, not from the code under test.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from itertools import pairwise

import attrs
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from metrics_core.clock import ManualClock
from metrics_core.names import OVERFLOW_TOTAL
from metrics_core.registry._overflow import OVERFLOW_TAGS
from metrics_core.registry.aggregating import AggregatingRegistry, Instrument
from metrics_core.sketch import EMPTY, BucketData, merge_all, quantiles
from metrics_core.snapshot import CounterSeries, DistributionSeries
from metrics_core.tags import Tags
from metrics_core.values import MetricKind
from metrics_core.windows import TIERS

PROPERTY = settings(deadline=None, derandomize=True, database=None)
"""Reproducible in CI, and no example database written into the checkout."""

B = 1_700_002_800.0
"""A whole hour (a multiple of 3600): 1-s, 10-s and 60-s slots all align on it."""

BUCKET_RATIO = 2.0 ** (1.0 / 64)
"""Upper over lower bound of every bucket."""

QS = (0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 1.0)


# -- the sketch -------------------------------------------------------------------------

POSITIVE = st.one_of(
    st.floats(min_value=1e-6, max_value=1e9),
    # Spread evenly over the decades, which plain float draws are not.
    st.floats(min_value=-6.0, max_value=9.0).map(lambda exponent: 10.0**exponent),
    st.sampled_from((1e-6, 0.5, 1.0, 2.0, 1024.0, 1e9)),  # bucket edges and the extremes
)
NEGATIVE = POSITIVE.map(lambda magnitude: -magnitude)
FINITE = st.one_of(POSITIVE, NEGATIVE, st.sampled_from((0.0, -0.0)))


@st.composite
def partitions(draw: st.DrawFn) -> tuple[list[float], list[list[float]], list[int]]:
    """Values, a partition of them into parts (some empty), and a shuffled part order."""
    values = draw(st.lists(FINITE, max_size=120))
    cuts = sorted(draw(st.lists(st.integers(0, len(values)), max_size=8)))
    bounds = [0, *cuts, len(values)]
    parts = [values[low:high] for low, high in pairwise(bounds)]
    order = draw(st.permutations(range(len(parts))))
    return values, parts, list(order)


def assert_same_observations(got: BucketData, expected: BucketData, magnitude: float) -> None:
    assert got.count == expected.count
    assert got.zeros == expected.zeros
    assert got.minimum == expected.minimum
    assert got.maximum == expected.maximum
    assert got.positive_buckets() == expected.positive_buckets()
    assert got.negative_buckets() == expected.negative_buckets()
    # Parts are summed first: with cancellation the error is relative to sum(|v|), not the sum.
    assert got.total == pytest.approx(expected.total, rel=1e-12, abs=1e-12 * magnitude)


@settings(PROPERTY, max_examples=250)
@given(partitions())
@example(([1.0, -1.0, 0.0, -0.0, 2.0], [[1.0], [-1.0, 0.0], [], [-0.0, 2.0]], [3, 1, 0, 2]))
@example(([1e9, 1e-6, -1e9], [[1e9, 1e-6], [-1e9]], [1, 0]))
def test_merge_all_of_a_partition_equals_the_whole(
    case: tuple[list[float], list[list[float]], list[int]],
) -> None:
    values, parts, order = case
    whole = BucketData.of(values)
    summaries = [BucketData.of(part) for part in parts]
    magnitude = math.fsum(abs(value) for value in values)

    merged = merge_all(summaries)
    assert_same_observations(merged, whole, magnitude)
    assert_same_observations(merge_all(summaries, compact=False), whole, magnitude)
    assert_same_observations(functools.reduce(BucketData.merge, summaries, EMPTY), whole, magnitude)

    # The order of the parts changes nothing, not even the last bit of the total (fsum).
    shuffled = merge_all(summaries[k] for k in order)
    assert_same_observations(shuffled, merged, 0.0)
    assert shuffled.total == merged.total


# -- quantiles --------------------------------------------------------------------------


@settings(PROPERTY, max_examples=200)
@given(st.lists(FINITE, min_size=1, max_size=150))
@example([-1.0, 0.0, 1.0])
@example([5.0])
def test_quantiles_stay_within_the_range_and_rise_with_q(values: list[float]) -> None:
    data = BucketData.of(values)
    got = quantiles(data, QS)
    assert got == [data.quantile(q) for q in QS]
    for value in got:
        assert min(values) <= value <= max(values)
    for lower, upper in pairwise(got):
        assert lower <= upper


@settings(PROPERTY, max_examples=200)
@given(st.lists(POSITIVE, min_size=1, max_size=150))
@example([1.0, 1e9])
@example([2.0, 2.0 * BUCKET_RATIO, 2.0 * BUCKET_RATIO**2])
def test_quantiles_of_positive_data_are_within_one_bucket_of_numpy(values: list[float]) -> None:
    """Within 1.1 % (one bucket width) of ``numpy.percentile``.

    Asserted for every q, not only when the two order statistics numpy interpolates
    between share or neighbour a bucket: each estimated order statistic is within one
    bucket ratio of the true one, so their linear interpolation is too, wherever they lie.
    """
    data = BucketData.of(values)
    for q, got in zip(QS, quantiles(data, QS), strict=True):
        expected = float(np.percentile(values, 100.0 * q))
        assert got == pytest.approx(expected, rel=0.011), q


@settings(PROPERTY, max_examples=150)
@given(
    st.one_of(
        st.lists(POSITIVE, min_size=1, max_size=150), st.lists(FINITE, min_size=1, max_size=150)
    )
)
@example([1.0, 2.0, 3.0, 4.0])
@example([-3.0, 0.0, 0.0, 1e-6, 1e9])
def test_quantiles_of_negated_data_mirror_the_original_ones(values: list[float]) -> None:
    """``quantile(q)`` of ``-x`` is ``-quantile(1 - q)`` of ``x``: all-positive data against
    all-negative, and mixed signs with zeros."""
    mirrored = quantiles(BucketData.of(values), [1.0 - q for q in QS])
    negated = quantiles(BucketData.of([-value for value in values]), QS)
    # Interpolating across zero cancels: compare near zero against the data's scale.
    scale = max(abs(value) for value in values)
    for q, got, expected in zip(QS, negated, mirrored, strict=True):
        assert got == pytest.approx(-expected, rel=1e-9, abs=1e-12 * scale), q


# -- windows against a reference model -------------------------------------------------

WIDTHS = (1, 10, 60)
KEPT = (60, 61, 61)
SPANS = (60, 600, 3600)
"""Per tier: slot width, closed slots kept, and the longest window it answers (windows.py)."""

Record = tuple[float, float]
"""``(time, amount)``: a counter increment and a timer duration (ms) at that time."""


def test_tiers_are_the_ones_the_model_is_written_for() -> None:
    assert tuple(zip(WIDTHS, KEPT, strict=True)) == TIERS


def _roll_up(units: list[int], width: int) -> tuple[list[int], list[int]]:
    """Closed blocks of ``width`` s over sorted closed ``units``, and the units of the open one.

    A block closes when a unit of a later block closes, so the block of the latest unit
    is still in progress.
    """
    if not units:
        return [], []
    latest = units[-1] - units[-1] % width
    blocks = sorted({unit - unit % width for unit in units} - {latest})
    return blocks, [unit for unit in units if unit - unit % width == latest]


class SlotModel:
    """The window rule of ``metrics_core.windows``, computed from the record list alone.

    The slot of the last record is open; every other slot with data is closed (a
    counter slot whose increments are all zero is never closed, a timer slot always
    is). Tier rings keep the most recent closed slots or blocks; blocks still in
    progress and the open slot are always held.
    """

    def __init__(self, records: Sequence[Record], *, zero_slots_close: bool) -> None:
        self.first_seen = records[0][0]
        self.slots: dict[int, list[float]] = {}
        for time, amount in records:
            self.slots.setdefault(math.floor(time), []).append(amount)
        self.current = math.floor(records[-1][0])
        closed = [
            slot
            for slot in sorted(self.slots)
            if slot != self.current and (zero_slots_close or any(self.slots[slot]))
        ]
        tens, self.pending_slots = _roll_up(closed, WIDTHS[1])
        sixties, self.pending_tens = _roll_up(tens, WIDTHS[2])
        self.rings = (closed[-KEPT[0] :], tens[-KEPT[1] :], sixties[-KEPT[2] :])

    def held(self, slot: int, tier: int) -> bool:
        if slot == self.current:
            return True
        if tier == 0:
            return slot in self.rings[0]
        if slot in self.pending_slots:
            return True
        ten = slot - slot % WIDTHS[1]
        if tier == 1:
            return ten in self.rings[1]
        return ten in self.pending_tens or slot - slot % WIDTHS[2] in self.rings[2]

    def window(self, window: float, now: float) -> tuple[list[float], float]:
        """The amounts counted in ``window`` s ending at ``now``, and the effective start."""
        tier = next((t for t, span in enumerate(SPANS) if window <= span), len(SPANS) - 1)
        width = WIDTHS[tier]
        start = now - window
        amounts = [
            amount
            for slot, slot_amounts in self.slots.items()
            if self.held(slot, tier) and start <= slot - slot % width <= now
            for amount in slot_amounts
        ]
        effective = max(math.ceil(start / width) * width, min(self.first_seen, now))
        ring = self.rings[tier]
        if len(ring) == KEPT[tier]:  # full: older slots may have rolled off
            effective = max(effective, min(ring[0], now))
        return amounts, effective


# Not down to 1e-300: the dense buckets of a timer would span 60,000 indexes, slow to merge.
AMOUNT = st.one_of(st.integers(0, 3).map(float), st.floats(min_value=1e-3, max_value=1e3))
GAP = st.one_of(
    st.floats(min_value=0.0, max_value=0.3),  # bursts inside one second
    st.integers(0, 70).map(float),  # whole seconds: records on slot and block edges
    st.floats(min_value=0.0, max_value=90.0),
)
LONG_GAP = st.floats(min_value=3600.0, max_value=4000.0)
"""Longer than the span of every tier."""
WINDOW = st.one_of(
    st.sampled_from(
        (1.0, 5.0, 59.0, 60.0, 61.0, 300.0, 599.0, 600.0, 601.0, 3600.0, 3601.0, 7200.0)
    ),
    st.floats(min_value=0.01, max_value=8000.0),
)
LATER = st.one_of(
    st.just(0.0),
    st.floats(min_value=0.0, max_value=1.5),
    st.integers(0, 700).map(float),
    st.floats(min_value=0.0, max_value=5000.0),
)
"""How long after the last record a window ends."""
NUDGE = st.one_of(
    st.sampled_from((-1.0, -0.5, 0.0, 0.5, 1.0, 5.0, 30.0)),
    st.floats(min_value=-70.0, max_value=70.0),
)


@st.composite
def queries(
    draw: st.DrawFn,
    records: Sequence[Record],
    windows: st.SearchStrategy[float] = WINDOW,
    latest: st.SearchStrategy[float] = LATER,
) -> list[tuple[float, float]]:
    """``(now, window)`` pairs; ``now`` is never before the last record.

    Half the windows are drawn freely; the other half start on or beside the edge of a
    slot or block holding a record, where an off-by-one in the rule would show, and so do
    the probes added last.
    """
    last = records[-1][0]
    pairs: list[tuple[float, float]] = []
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            now = last + draw(latest)
        else:  # on a slot or block edge
            width = draw(st.sampled_from(WIDTHS))
            now = max(last, float((math.floor(last / width) + draw(st.integers(0, 2))) * width))
        window = draw(windows)
        if draw(st.booleans()):
            # Often one of the last few records: their blocks are the ones still in progress.
            pool = records[-4:] if draw(st.booleans()) else records
            slot = math.floor(draw(st.sampled_from(pool))[0])
            edge = slot - slot % draw(st.sampled_from(WIDTHS))
            anchored = now - (edge + draw(NUDGE))
            if anchored > 0:
                window = anchored
        pairs.append((now, window))
    # Probes: windows starting on, just before and just after the edges of the blocks of
    # the last few slots, which are the blocks in progress, at any tier.
    now = last + draw(st.one_of(st.just(0.0), st.floats(0.0, 1.5), st.floats(600.0, 4000.0)))
    for slot in sorted({math.floor(time) for time, _ in records[-4:]}):
        for width in WIDTHS:
            for nudge in (-0.5, 0.0, 0.5):
                window = now - (slot - slot % width + nudge)
                if window > 0:
                    pairs.append((now, window))
    return pairs


@st.composite
def histories(draw: st.DrawFn) -> list[Record]:
    """Records at non-decreasing times, over up to about two hours plus one long gap."""
    # A drawn length, not a plain st.lists: those stay short, and rings would never fill.
    length = draw(st.integers(0, 150))
    steps = draw(st.lists(st.tuples(GAP, AMOUNT), min_size=length, max_size=length))
    long_gap_at = draw(st.one_of(st.none(), st.integers(0, length)))
    time = B + draw(st.floats(min_value=0.0, max_value=3600.0))
    records = [(time, draw(AMOUNT))]
    for step, (gap, amount) in enumerate(steps):
        time += draw(LONG_GAP) if step == long_gap_at else gap
        records.append((time, amount))
    return records


@st.composite
def window_cases(draw: st.DrawFn) -> tuple[list[Record], list[tuple[float, float]]]:
    records = draw(histories())
    return records, draw(queries(records))


@st.composite
def full_ring_histories(draw: st.DrawFn) -> tuple[int, list[Record]]:
    """A tier, and records in more of its blocks than its ring keeps."""
    tier = draw(st.integers(0, len(TIERS) - 1))
    width, kept = TIERS[tier]
    block = B + width * draw(st.integers(0, 3600 // width))
    records: list[Record] = []
    # One more block per tier than kept: the open slot and each block in progress.
    for _ in range(kept + 1 + tier + draw(st.integers(0, 6))):
        block += width * draw(st.integers(1, 3))
        # Whole seconds plus under one: a record never rounds into the next block.
        offsets = st.tuples(st.integers(0, width - 1), st.floats(0.0, 0.999))
        for second, fraction in sorted(draw(st.lists(offsets, min_size=1, max_size=2))):
            # Zeros too: a counter slot of zeros never closes, so never fills a ring.
            records.append((block + second + fraction, float(draw(st.integers(0, 5)))))
    return tier, records


def record_history(records: Sequence[Record]) -> tuple[CounterSeries, DistributionSeries]:
    clock = ManualClock(records[0][0])
    registry = AggregatingRegistry(clock=clock, series_ttl=None)
    for time, amount in records:
        clock.set(time)
        registry.counter("c", Tags.empty(), amount)
        registry.timer("t", Tags.empty(), amount)
    snapshot = registry.snapshot()
    (counter,) = snapshot.counters()
    (timer,) = snapshot.distributions()
    return counter, timer


def assert_windows_match(records: Sequence[Record], pairs: Sequence[tuple[float, float]]) -> None:
    counter, timer = record_history(records)
    counter_model = SlotModel(records, zero_slots_close=False)
    timer_model = SlotModel(records, zero_slots_close=True)
    assert counter.total == pytest.approx(math.fsum(amount for _, amount in records), rel=1e-9)
    assert timer.count == len(records)
    assert timer.total == pytest.approx(math.fsum(amount for _, amount in records), rel=1e-9)
    for now, window in pairs:
        total, start = counter.window_total_since(window, now)
        amounts, expected_start = counter_model.window(window, now)
        assert total == pytest.approx(math.fsum(amounts), rel=1e-9, abs=1e-9), (window, now)
        assert start == expected_start, (window, now)

        summary = timer.window_summary(window, now)
        amounts, expected_start = timer_model.window(window, now)
        assert summary.count == len(amounts), (window, now)
        assert summary.total == pytest.approx(math.fsum(amounts), rel=1e-9, abs=1e-9)
        assert summary.minimum == min(amounts, default=math.inf)
        assert summary.maximum == max(amounts, default=-math.inf)
        assert summary.window_start == expected_start, (window, now)
        assert summary.window_end == now
        # Buckets exactly: the running ring sums against the model and against plain merges.
        expected = BucketData.of(amounts)
        assert summary.data.positive_buckets() == expected.positive_buckets(), (window, now)
        assert summary.data.zeros == expected.zeros
        plain, _ = attrs.evolve(timer.window, sums=None).parts(window, now)
        merged = merge_all(plain)
        assert summary.data.positive_buckets() == merged.positive_buckets()
        assert (summary.count, summary.minimum, summary.maximum) == (
            merged.count,
            merged.minimum,
            merged.maximum,
        )


@settings(PROPERTY, max_examples=120)
@given(window_cases())
@example(
    (
        # Slot, block and window edges on whole seconds; a slot of zeros in between.
        [(B + 59.0, 1.0), (B + 60.0, 0.0), (B + 60.5, 0.0), (B + 600.0, 2.0), (B + 660.0, 3.0)],
        [(B + 660.0, w) for w in (60.0, 600.0, 601.0, 660.0)] + [(B + 661.0, 1.0)],
    )
)
@example(
    (
        # A gap longer than an hour between two bursts.
        [(B + 0.1, 1.0), (B + 0.2, 1.0), (B + 3700.0, 1.0), (B + 3700.9, 1.0)],
        [(B + 3700.9, w) for w in (3600.0, 3700.0, 7200.0)] + [(B + 3701.4, 1.0)],
    )
)
def test_window_totals_follow_the_documented_rule(
    case: tuple[list[Record], list[tuple[float, float]]],
) -> None:
    records, pairs = case
    assert_windows_match(records, pairs)


TIER_WINDOWS = (
    st.one_of(st.sampled_from((1.0, 30.0, 59.0, 60.0)), st.floats(0.01, 60.0)),
    st.one_of(st.sampled_from((61.0, 300.0, 599.0, 600.0)), st.floats(60.01, 600.0)),
    st.one_of(
        st.sampled_from((601.0, 3600.0, 3601.0, 7200.0, 20_000.0)), st.floats(600.01, 30_000.0)
    ),
)


@settings(PROPERTY, max_examples=60)
@given(full_ring_histories(), st.data())
def test_windows_over_full_rings_follow_the_documented_rule(
    case: tuple[int, list[Record]], data: st.DataObject
) -> None:
    tier, records = case
    assert len(SlotModel(records, zero_slots_close=True).rings[tier]) == KEPT[tier]
    later = st.one_of(st.just(0.0), st.floats(0.0, 2.0 * WIDTHS[tier]))
    assert_windows_match(records, data.draw(queries(records, TIER_WINDOWS[tier], later)))


# -- the registry against a dict model --------------------------------------------------

NAMES = {
    MetricKind.COUNTER: ("c1", "c2"),
    MetricKind.GAUGE: ("g1", "g2"),
    MetricKind.TIMER: ("t1", "t2"),
    MetricKind.HISTOGRAM: ("h1",),
}
METRICS = [(kind, name) for kind, names in NAMES.items() for name in names]
TAG_SETS = (
    Tags.empty(),
    Tags({"model_name": "a"}),
    Tags({"model_name": "a", "version": "1"}),
    Tags({"model_name": "b", "version": "1"}),
    Tags({"model_name": "b", "version": "2"}),
    Tags({"version": "2"}),
    Tags({"model_name": "b", "version": "2", "error_type": "E"}),
    Tags({"model_name": "c", "version": "1", "error_type": "E"}),
    Tags({"model_name": "c", "version": "2"}),
)
# Quarters up to 1000: every sum of a few hundred is exact, so totals compare with ==.
QUARTERS = st.integers(-4000, 4000).map(lambda n: n / 4)


@attrs.frozen
class Op:
    """One step: ``record``, ``bind`` (an instrument), ``use`` (the ``tags``-th instrument),
    ``advance`` (the clock by ``value`` s) or ``snapshot``."""

    action: str
    kind: MetricKind = MetricKind.COUNTER
    name: str = ""
    tags: int = 0
    value: float = 0.0


def _op(action: str, metric: tuple[MetricKind, str], tags: int, value: float) -> Op:
    return Op(action, metric[0], metric[1], tags, value)


OP = st.one_of(
    st.builds(
        _op,
        st.just("record"),
        st.sampled_from(METRICS),
        st.integers(0, len(TAG_SETS) - 1),
        QUARTERS,
    ),
    st.builds(
        _op,
        st.just("bind"),
        st.sampled_from(METRICS),
        st.integers(0, len(TAG_SETS) - 1),
        st.just(0.0),
    ),
    st.builds(Op, st.just("use"), tags=st.integers(0, 7), value=QUARTERS),
    st.builds(
        Op,
        st.just("advance"),
        value=st.one_of(st.floats(0.0, 2.0), st.integers(0, 120).map(float), st.just(4000.0)),
    ),
    st.just(Op("snapshot")),
)


@st.composite
def op_lists(draw: st.DrawFn) -> list[Op]:
    """Up to 120 steps: enough for most names to see more than three tag sets."""
    length = draw(st.integers(0, 120))
    return draw(st.lists(OP, min_size=length, max_size=length))


def valid(kind: MetricKind, value: float) -> float:
    """``value`` made acceptable to ``kind``: counters and timers take no negatives."""
    return abs(value) if kind in (MetricKind.COUNTER, MetricKind.TIMER) else value


class RegistryModel:
    """What a registry with ``series_ttl=None`` must hold, as plain dicts.

    Past ``limit`` tag sets a name folds new ones into ``overflow="true"``, counting
    each folded record in ``metrics_cardinality_overflow_total{metric=name}``.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.admitted: dict[str, list[Tags]] = {}
        self.kept: dict[str, list[Tags]] = {}
        self.counters: dict[tuple[str, Tags], float] = {}
        self.gauges: dict[tuple[str, Tags], float] = {}
        self.distributions: dict[tuple[str, Tags], tuple[MetricKind, list[float]]] = {}

    def fold(self, name: str, tags: Tags) -> Tags:
        """Keep the version, else the model, each within 10 % more series; else neither."""
        assert self.limit is not None
        kept = self.kept.setdefault(name, [])
        model, version = tags.get("model_name"), tags.get("version")
        wanted = []
        if model is not None and version is not None:
            wanted.append(Tags({"model_name": model, "version": version, "overflow": "true"}))
        if model is not None:
            wanted.append(Tags({"model_name": model, "overflow": "true"}))
        for candidate in wanted:
            if candidate in kept:
                return candidate
            if sum(len(t) == len(candidate) for t in kept) < max(1, self.limit // 10):
                kept.append(candidate)
                return candidate
        return OVERFLOW_TAGS

    def record(self, kind: MetricKind, name: str, tags: Tags, value: float) -> None:
        admitted = self.admitted.setdefault(name, [])
        if tags not in admitted:
            if self.limit is None or len(admitted) < self.limit:
                admitted.append(tags)
            elif tags != OVERFLOW_TAGS:
                key = (OVERFLOW_TOTAL, Tags({"metric": name}))
                self.counters[key] = self.counters.get(key, 0.0) + 1.0
                tags = self.fold(name, tags)
        key = (name, tags)
        if kind is MetricKind.COUNTER:
            self.counters[key] = self.counters.get(key, 0.0) + value
        elif kind is MetricKind.GAUGE:
            self.gauges[key] = value
        else:
            self.distributions.setdefault(key, (kind, []))[1].append(value)

    def assert_matches(self, registry: AggregatingRegistry) -> None:
        snapshot = registry.snapshot()
        assert {(s.name, s.tags): s.total for s in snapshot.counters()} == self.counters
        assert {(s.name, s.tags): s.value for s in snapshot.gauges()} == self.gauges
        got = {
            (s.name, s.tags): (s.kind, s.count, s.total, s.all_time.minimum, s.all_time.maximum)
            for s in snapshot.distributions()
        }
        expected = {
            key: (kind, len(values), sum(values), min(values), max(values))
            for key, (kind, values) in self.distributions.items()
        }
        assert got == expected
        for series in snapshot.distributions():
            assert sum(series.bucket_counts) == series.count
        held = len(self.counters) + len(self.gauges) + len(self.distributions)
        assert registry.series_count() == held


def run_against_model(ops: Sequence[Op], limit: int | None) -> None:
    clock = ManualClock(B)
    if limit is None:
        registry = AggregatingRegistry(clock=clock, series_ttl=None)
    else:
        registry = AggregatingRegistry(clock=clock, series_ttl=None, max_series_per_metric=limit)
    model = RegistryModel(limit)
    recorders: dict[MetricKind, Callable[[str, Tags, float], object]] = {
        MetricKind.COUNTER: registry.counter,
        MetricKind.GAUGE: registry.gauge,
        MetricKind.TIMER: registry.timer,
        MetricKind.HISTOGRAM: registry.histogram,
    }
    instruments: list[tuple[Instrument, MetricKind, str, Tags]] = []
    for op in ops:
        if op.action == "record":
            tags = TAG_SETS[op.tags]
            value = valid(op.kind, op.value)
            recorders[op.kind](op.name, tags, value)
            model.record(op.kind, op.name, tags, value)
        elif op.action == "bind":
            tags = TAG_SETS[op.tags]
            instruments.append(
                (registry.instrument(op.kind, op.name, tags), op.kind, op.name, tags)
            )
        elif op.action == "use" and instruments:
            instrument, kind, name, tags = instruments[op.tags % len(instruments)]
            value = valid(kind, op.value)
            instrument.record(value)
            model.record(kind, name, tags, value)
        elif op.action == "advance":
            clock.advance(op.value)
        elif op.action == "snapshot":
            model.assert_matches(registry)
    model.assert_matches(registry)


@settings(PROPERTY, max_examples=100)
@given(op_lists())
def test_registry_matches_a_dict_model(ops: list[Op]) -> None:
    run_against_model(ops, limit=None)


@settings(PROPERTY, max_examples=100)
@given(op_lists())
@example(
    [
        Op("bind", MetricKind.COUNTER, "c1", 5),
        *(Op("record", MetricKind.COUNTER, "c1", tags, 1.0) for tags in range(5)),
        Op("use", value=2.0),
        Op("use", value=3.0),
        Op("record", MetricKind.COUNTER, "c1", 0, 4.0),
    ]
)
def test_registry_folds_tag_sets_past_the_limit_like_the_model(ops: list[Op]) -> None:
    run_against_model(ops, limit=3)
