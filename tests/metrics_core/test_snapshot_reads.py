"""Window answers of snapshot series: remembered per series, merged exactly."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from metrics_core import names
from metrics_core.clock import ManualClock
from metrics_core.query import QUERY_NAMES, all_version_metrics
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.sketch import BucketData, merge_all, quantiles
from metrics_core.snapshot import DistributionSeries

BERT = {names.MODEL_NAME: "bert", names.VERSION: "v1"}

# Magnitudes from 1e-3 up: a value near 1e-300 would make every sketch 60,000 buckets wide.
values = st.one_of(st.just(0.0), st.floats(1e-3, 1e6), st.floats(-1e6, -1e-3))


values_lists = st.lists(st.lists(values, max_size=30), max_size=6)


@settings(deadline=None, max_examples=200)
@given(value_lists=values_lists)
def test_a_merge_read_once_is_the_summary_of_every_value(value_lists: list[list[float]]) -> None:
    parts = [BucketData.of(part) for part in value_lists]
    merged = merge_all(parts, compact=False)  # a window's merge: copied widest, or packed
    expected = BucketData.of([value for part in value_lists for value in part])

    assert merged.count == expected.count
    assert merged.zeros == expected.zeros
    assert merged.total == math.fsum(part.total for part in parts)
    assert (merged.minimum, merged.maximum) == (expected.minimum, expected.maximum)
    assert merged.positive_buckets() == expected.positive_buckets()
    assert merged.negative_buckets() == expected.negative_buckets()
    stored = merge_all(parts)
    qs = (0.0, 0.01, 0.5, 0.95, 0.99, 1.0)
    assert str(quantiles(merged, qs)) == str(quantiles(stored, qs))  # NaN-safe, bit for bit


def test_a_wide_part_and_an_open_slot_merge_exactly() -> None:
    wide_values = [1.0 + k for k in range(500)]
    slot_values = [0.5, 700.0, -3.0, 0.0]

    merged = merge_all([BucketData.of(wide_values), BucketData.of(slot_values)], compact=False)

    expected = BucketData.of(wide_values + slot_values)
    assert merged.positive_buckets() == expected.positive_buckets()
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
