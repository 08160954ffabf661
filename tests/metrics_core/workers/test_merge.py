"""Merging members' snapshots: exactly what one process that saw every value would answer."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics_core import names
from metrics_core.clock import ManualClock
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries, Snapshot
from metrics_core.workers._merge import GroupWindowView, materialize, merge_series

TAGS = {"model_name": "bert", "version": "v1"}
WINDOWS = (1, 10, 60, 300, 600, 3600)
QS = (0.5, 0.95, 0.99)


def split_run(
    events: list[tuple[float, float, int]], members: int
) -> tuple[list[Snapshot], Snapshot, float]:
    """Feed each (seconds later, latency, member) to that member and to one single registry."""
    clock = ManualClock()  # no idle expiry: the merge is tested here, expiry in test_group
    workers = [AggregatingRegistry(clock=clock, series_ttl=None) for _ in range(members)]
    single = AggregatingRegistry(clock=clock, series_ttl=None)
    for later, latency, member in events:
        clock.advance(later)
        for registry in (workers[member % members], single):
            registry.counter(names.REQUESTS_TOTAL, TAGS)
            registry.timer(names.LATENCY, TAGS, latency)
    return [w.snapshot() for w in workers], single.snapshot(), clock()


def merged(snapshots: list[Snapshot]) -> Snapshot:
    return Snapshot(snapshots[0].taken_at, tuple(merge_series([list(s) for s in snapshots])))


def assert_equal_to_single(group: Snapshot, single: Snapshot, now: float) -> None:
    latency = group.get(names.LATENCY, TAGS)
    requests = group.get(names.REQUESTS_TOTAL, TAGS)
    one_latency = single.get(names.LATENCY, TAGS)
    one_requests = single.get(names.REQUESTS_TOTAL, TAGS)
    assert isinstance(latency, DistributionSeries) and isinstance(one_latency, DistributionSeries)
    assert isinstance(requests, CounterSeries) and isinstance(one_requests, CounterSeries)
    assert requests.total == one_requests.total
    assert latency.count == one_latency.count
    assert latency.bucket_counts == one_latency.bucket_counts
    for window in WINDOWS:
        assert requests.window_total(window, now) == one_requests.window_total(window, now)
        ours, theirs = latency.window_summary(window, now), one_latency.window_summary(window, now)
        assert ours.count == theirs.count
        assert ours.quantiles(*QS) == theirs.quantiles(*QS)
        assert (ours.minimum, ours.maximum) == (theirs.minimum, theirs.maximum)


events = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.2, 1.0, 3.0, 9.0, 61.0, 700.0]),
        st.floats(min_value=0.0, max_value=60_000.0, allow_nan=False),
        st.integers(min_value=0, max_value=15),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(events, st.sampled_from([2, 3, 4, 16]))
def test_merged_members_answer_as_one_process_that_saw_every_value(
    items: list[tuple[float, float, int]], members: int
) -> None:
    snapshots, single, now = split_run(items, members)
    group = merged(snapshots)
    for later in (0.0, 30.0, 1_000.0):
        assert_equal_to_single(group, single, now + later)


def test_merged_p95_equals_the_single_process_p95_on_a_realistic_load() -> None:
    rng = random.Random(12)
    items = [(rng.choice([0.0, 0.01, 0.3]), rng.lognormvariate(3.5, 0.6), rng.randrange(4))
             for _ in range(5_000)]  # fmt: skip
    snapshots, single, now = split_run(items, 4)
    group = merged(snapshots)
    ours = group.get(names.LATENCY, TAGS)
    theirs = single.get(names.LATENCY, TAGS)
    assert isinstance(ours, DistributionSeries) and isinstance(theirs, DistributionSeries)
    assert isinstance(ours.window, GroupWindowView)
    for window in (60, 3600):
        p95 = ours.window_summary(window, now).quantile(0.95)
        assert p95 == theirs.window_summary(window, now).quantile(0.95)
    assert ours.window_summary(3600, now).count == 5_000


@settings(max_examples=25, deadline=None)
@given(events, st.sampled_from([1, 3]))
def test_a_materialized_merge_answers_as_the_lazy_one(
    items: list[tuple[float, float, int]], members: int
) -> None:
    snapshots, _, now = split_run(items, members)
    lazy = merged(snapshots)
    flat = Snapshot(lazy.taken_at, tuple(materialize(s, now) for s in lazy))
    for later in (0.0, 5.0, 2_000.0):
        for left, right in zip(lazy, flat, strict=True):
            assert isinstance(left, (CounterSeries, DistributionSeries))
            assert isinstance(right, (CounterSeries, DistributionSeries))
            for window in WINDOWS:  # sums of floats: merged in another order
                assert left.window_total(window, now + later) == pytest.approx(
                    right.window_total(window, now + later), rel=1e-12
                )
            if isinstance(left, DistributionSeries):
                assert isinstance(right, DistributionSeries)
                assert left.window_summary(600, now + later).quantiles(*QS) == right.window_summary(
                    600, now + later
                ).quantiles(*QS)


def test_gauges_sum_or_keep_the_latest_by_metric() -> None:
    clock = ManualClock()
    a, b = AggregatingRegistry(clock=clock), AggregatingRegistry(clock=clock)
    a.gauge(names.IN_FLIGHT, TAGS, 3.0)
    a.gauge(names.SYSTEM_CPU, {}, 40.0)
    a.gauge("queue_depth", {}, 8.0)
    clock.advance(1.0)
    b.gauge(names.IN_FLIGHT, TAGS, 4.0)
    b.gauge(names.SYSTEM_CPU, {}, 55.0)
    b.gauge("queue_depth", {}, 2.0)
    group = merged([a.snapshot(), b.snapshot()])
    in_flight, cpu, queue = (
        group.get(n, t)
        for n, t in ((names.IN_FLIGHT, TAGS), (names.SYSTEM_CPU, {}), ("queue_depth", {}))
    )
    assert isinstance(in_flight, GaugeSeries) and in_flight.value == 7.0
    assert isinstance(cpu, GaugeSeries) and cpu.value == 55.0
    assert isinstance(queue, GaugeSeries) and queue.value == 2.0
    custom = merge_series([list(a.snapshot()), list(b.snapshot())], {"queue_depth": "max"})
    assert [s.value for s in custom if isinstance(s, GaugeSeries) and s.name == "queue_depth"] == [
        8.0
    ]


def test_distributions_with_other_bucket_bounds_are_left_out_of_the_merge() -> None:
    clock = ManualClock()
    a = AggregatingRegistry(clock=clock)
    b = AggregatingRegistry(clock=clock, buckets={names.LATENCY: (1.0, 2.0)})
    a.timer(names.LATENCY, TAGS, 5.0)
    b.timer(names.LATENCY, TAGS, 1.5)
    (series,) = merge_series([list(a.snapshot()), list(b.snapshot())])
    assert isinstance(series, DistributionSeries)
    assert (
        series.count == 1 and series.bucket_counts == a.snapshot().distributions()[0].bucket_counts
    )
