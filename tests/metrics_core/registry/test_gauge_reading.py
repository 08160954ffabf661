"""GaugeReading: an aggregating gauge that reads its value at each snapshot."""

from __future__ import annotations

import pytest

from metrics_core.clock import ManualClock
from metrics_core.registry import AggregatingRegistry, RawRegistry
from metrics_core.registry._live import GaugeReading
from metrics_core.snapshot import GaugeSeries
from metrics_core.values import MetricKind

TAGS = {"model_name": "bert", "version": "v1"}


def gauge_value(registry: AggregatingRegistry) -> tuple[float, float]:
    series = registry.snapshot().get("depth", TAGS)
    assert isinstance(series, GaugeSeries)
    return series.value, series.updated_at


def test_a_gauge_reads_its_reading_at_each_snapshot_at_that_time(
    clock: ManualClock, registry: AggregatingRegistry
) -> None:
    items = [1, 2]
    gauge = registry.instrument(MetricKind.GAUGE, "depth", TAGS)
    gauge.record(0.0)
    reading = GaugeReading(items.__len__)
    gauge.record(reading)  # type: ignore[arg-type]
    assert reading.series is not None and not reading.series.expired
    assert gauge_value(registry) == (2.0, clock())
    items.append(3)
    clock.advance(5.0)
    assert gauge_value(registry) == (3.0, clock())


def test_a_number_recorded_after_a_reading_replaces_it(
    clock: ManualClock, registry: AggregatingRegistry
) -> None:
    gauge = registry.instrument(MetricKind.GAUGE, "depth", TAGS)
    gauge.record(0.0)
    gauge.record(GaugeReading(lambda: 9.0))  # type: ignore[arg-type]
    started = clock()
    gauge.record(4.0)
    clock.advance(5.0)
    assert gauge_value(registry) == (4.0, started)


def test_a_cleared_registry_drops_the_reading_and_says_so(registry: AggregatingRegistry) -> None:
    gauge = registry.instrument(MetricKind.GAUGE, "depth", TAGS)
    gauge.record(0.0)
    reading = GaugeReading(lambda: 9.0)
    gauge.record(reading)  # type: ignore[arg-type]
    registry.clear()
    assert reading.series is not None and reading.series.expired
    assert registry.snapshot().get("depth", TAGS) is None
    assert reading.series.record(reading) is False


def test_a_reading_read_as_a_bad_number_raises_naming_the_value(
    registry: AggregatingRegistry,
) -> None:
    gauge = registry.instrument(MetricKind.GAUGE, "depth", TAGS)
    gauge.record(0.0)
    gauge.record(GaugeReading(lambda: float("nan")))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'value' must be finite: nan"):
        registry.snapshot()


def test_registries_that_cannot_read_reject_a_reading_as_a_non_number(
    clock: ManualClock,
) -> None:
    aggregating = AggregatingRegistry(clock=clock)
    unbound = aggregating.instrument(MetricKind.GAUGE, "depth", TAGS)  # no series yet
    raw = RawRegistry(clock=clock).instrument(MetricKind.GAUGE, "depth", TAGS)
    for gauge in (unbound, raw):
        with pytest.raises(ValueError, match="'value' must be a number"):
            gauge.record(GaugeReading(lambda: 1.0))  # type: ignore[arg-type]
