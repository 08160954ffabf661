"""Window answers of snapshot series: remembered per series, merged as merge_all would."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from metrics_core import names
from metrics_core.clock import ManualClock
from metrics_core.query import QUERY_NAMES, all_version_metrics
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.sketch import BucketData, merge_all, quantiles
from metrics_core.snapshot import DistributionSeries, merge_for_read

BERT = {names.MODEL_NAME: "bert", names.VERSION: "v1"}

# Magnitudes from 1e-3 up: a value near 1e-300 would make every sketch 60,000 buckets wide.
values = st.one_of(st.just(0.0), st.floats(1e-3, 1e6), st.floats(-1e6, -1e-3))
parts = st.lists(st.lists(values, max_size=30).map(BucketData.of), max_size=6)


@settings(deadline=None, max_examples=200)
@given(parts=parts)
def test_merge_for_read_is_merge_all(parts: list[BucketData]) -> None:
    merged = merge_for_read(parts)
    expected = merge_all(parts, compact=False)

    assert merged.count == expected.count
    assert merged.zeros == expected.zeros
    assert merged.total == expected.total
    assert (merged.minimum, merged.maximum) == (expected.minimum, expected.maximum)
    assert merged.positive_buckets() == expected.positive_buckets()
    assert merged.negative_buckets() == expected.negative_buckets()
    qs = (0.0, 0.01, 0.5, 0.95, 0.99, 1.0)
    assert str(quantiles(merged, qs)) == str(quantiles(expected, qs))  # NaN-safe, bit for bit


def test_merge_for_read_of_one_wide_part_and_an_open_slot() -> None:
    wide = BucketData.of([1.0 + k for k in range(500)])
    slot = BucketData.of([0.5, 700.0, -3.0, 0.0])

    merged = merge_for_read([wide, slot])

    assert merged.positive_buckets() == merge_all([wide, slot]).positive_buckets()
    assert merged.negative_buckets() == BucketData.of([-3.0]).negative_buckets()
    assert merged.count == 504
    assert merged.zeros == 1


def latency_series(registry: AggregatingRegistry) -> DistributionSeries:
    (series,) = registry.snapshot(names=[names.LATENCY]).series
    assert isinstance(series, DistributionSeries)
    return series


def test_a_series_remembers_its_window_answers(registry: AggregatingRegistry) -> None:
    for ms in (5.0, 10.0, 20.0):
        registry.timer(names.LATENCY, BERT, ms)
    series = latency_series(registry)
    now = registry.clock()

    summary = series.window_summary(60.0, now)
    assert series.window_summary(60, now) is summary  # 60 and 60.0 are one window
    assert series.window_summary(300.0, now) is not summary
    assert series.window_total(60.0, now) == 35.0
    first = summary.quantiles(0.5, 0.99)
    first.append(1.0)  # the caller owns the list it gets
    assert summary.quantiles(0.5, 0.99) == [summary.quantile(0.5), summary.quantile(0.99)]


def test_remembered_answers_are_bounded(registry: AggregatingRegistry, clock: ManualClock) -> None:
    registry.timer(names.LATENCY, BERT, 5.0)
    series = latency_series(registry)
    for k in range(100):
        series.window_summary(60.0, clock() + k)
        series.window_total(60.0, clock() + k)

    assert len(series._memo) <= 8


def test_a_remembered_window_moves_with_the_instant_asked(
    registry: AggregatingRegistry, clock: ManualClock
) -> None:
    registry.timer(names.LATENCY, BERT, 5.0)
    series = latency_series(registry)
    now = clock()

    assert series.window_summary(60.0, now).count == 1
    assert series.window_summary(60.0, now + 120.0).count == 0
    assert math.isnan(series.window_summary(60.0, now + 120.0).quantile(0.5))
    assert series.window_total(60.0, now + 120.0) == 0.0
    assert series.count == 1
    assert series.total == 5.0


def test_a_request_recorded_between_two_reads_at_one_instant_appears_in_the_second(
    registry: AggregatingRegistry,
) -> None:
    registry.counter(names.REQUESTS_TOTAL, BERT)
    registry.timer(names.LATENCY, BERT, 10.0)
    first = all_version_metrics(registry.snapshot(names=QUERY_NAMES), 300.0)["bert:v1"]
    registry.counter(names.REQUESTS_TOTAL, BERT)
    registry.timer(names.LATENCY, BERT, 1_000.0)
    second = all_version_metrics(registry.snapshot(names=QUERY_NAMES), 300.0)["bert:v1"]

    assert first.request_count == 1
    assert second.request_count == 2
    assert second.average_latency_ms == 505.0
    assert second.p99_latency_ms > first.p99_latency_ms
