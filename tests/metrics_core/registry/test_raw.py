from __future__ import annotations

import math

import numpy as np
import pytest

from metrics_core.clock import ManualClock
from metrics_core.registry import Registry
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.registry.raw import RawRegistry
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries
from metrics_core.tags import Tags
from metrics_core.values import Counter, Gauge, Histogram, MetricKind, Timer

V1 = {"model_name": "bert", "version": "v1"}
V2 = {"model_name": "bert", "version": "v2"}


@pytest.fixture
def raw(clock: ManualClock) -> RawRegistry:
    return RawRegistry(clock=clock)


def test_implements_the_registry_protocol(raw: RawRegistry) -> None:
    assert isinstance(raw, Registry)


def test_keeps_value_objects(clock: ManualClock, raw: RawRegistry) -> None:
    t0 = clock()
    raw.counter("requests_total", V1)
    clock.advance(1.5)
    raw.counter("requests_total", V2, 3)
    raw.gauge("active", V1, -2.0)
    raw.histogram("tokens", V1, 12)
    raw.timer("latency", V1, 250.0)
    assert raw.values() == [
        Counter(name="requests_total", value=1.0, tags=V1, timestamp=t0),
        Counter(name="requests_total", value=3, tags=V2, timestamp=t0 + 1.5),
        Gauge(name="active", value=-2.0, tags=V1, timestamp=t0 + 1.5),
        Histogram(name="tokens", value=12, tags=V1, timestamp=t0 + 1.5),
        Timer(name="latency", value=250.0, tags=V1, timestamp=t0 + 1.5),
    ]
    assert isinstance(raw.values()[0].tags, Tags)


def test_find_by_name_and_tags(raw: RawRegistry) -> None:
    raw.counter("requests_total", V1)
    raw.counter("requests_total", V2, 2)
    raw.counter("errors_total", {**V1, "error_type": "Timeout"})
    assert [v.value for v in raw.find("requests_total")] == [1.0, 2]
    assert [v.value for v in raw.find("requests_total", {"version": "v2"})] == [2]
    assert [v.name for v in raw.find("errors_total", {"model_name": "bert"})] == ["errors_total"]
    assert raw.find("requests_total", {"version": "v9"}) == []
    assert raw.find("missing") == []


def test_instrument_keeps_one_value_of_its_kind_per_record(
    clock: ManualClock, raw: RawRegistry
) -> None:
    latency = raw.instrument(MetricKind.TIMER, "latency", V1)
    requests = raw.instrument(MetricKind.COUNTER, "requests_total", Tags.of(V1))
    active = raw.instrument(MetricKind.GAUGE, "active", V1)
    tokens = raw.instrument(MetricKind.HISTOGRAM, "tokens", V1)
    latency.record(5.0)
    clock.advance(2)
    latency.record(7.0)
    requests.record(1)
    active.record(3)
    tokens.record(-1)
    values = raw.values()
    assert [type(v) for v in values] == [Timer, Timer, Counter, Gauge, Histogram]
    assert [v.value for v in values] == [5.0, 7.0, 1, 3, -1]
    assert values[1].timestamp == clock()
    assert all(v.tags == V1 for v in values)
    with pytest.raises(ValueError, match="'value' must be >= 0: -1"):
        latency.record(-1)
    assert len(raw.values()) == 5


def test_max_values_drops_the_oldest(clock: ManualClock) -> None:
    raw = RawRegistry(clock=clock, max_values=3)
    for value in range(5):
        raw.counter("requests_total", V1, value)
    assert [v.value for v in raw.values()] == [2, 3, 4]
    assert counter_total(raw, "requests_total") == 9


def test_ttl_drops_old_values(clock: ManualClock) -> None:
    raw = RawRegistry(clock=clock, ttl=60)
    t0 = clock()
    raw.counter("requests_total", V1, 1)
    clock.advance(30)
    raw.counter("requests_total", V1, 2)
    clock.advance(30)  # the first value is exactly 60 s old: kept
    assert [v.value for v in raw.values()] == [1, 2]
    clock.advance(0.5)
    assert [v.value for v in raw.values()] == [2]
    assert [v.timestamp for v in raw.find("requests_total")] == [t0 + 30]
    assert counter_total(raw, "requests_total") == 2
    clock.advance(100)
    assert raw.values() == []
    assert len(raw.snapshot()) == 0


def test_no_ttl_keeps_old_values(clock: ManualClock) -> None:
    raw = RawRegistry(clock=clock, ttl=None)
    raw.counter("requests_total", V1)
    clock.advance(10 * 3600)
    assert len(raw.values()) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"max_values": 0}, "max_values"), ({"ttl": 0}, "ttl"), ({"ttl": -5.0}, "ttl")],
)
def test_invalid_settings_raise(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=f"'{field}'"):
        RawRegistry(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "name", "tags", "value", "message"),
    [
        ("counter", "requests_total", V1, -1.0, "'value' must be >= 0"),
        ("counter", "requests_total", V1, math.nan, "'value' must be finite"),
        ("gauge", "active", V1, math.inf, "'value' must be finite"),
        ("histogram", "tokens", V1, -math.inf, "'value' must be finite"),
        ("timer", "latency", V1, -0.1, "'value' must be >= 0"),
        ("timer", "9x", V1, 1.0, "'name' must be an identifier"),
        ("counter", "", V1, 1.0, "'name' must be a non-empty string"),
        ("gauge", "active", {"a-b": "x"}, 1.0, "tag key must be an identifier"),
    ],
)
def test_invalid_input_raises_and_keeps_earlier_data(
    raw: RawRegistry,
    method: str,
    name: str,
    tags: dict[str, str],
    value: float,
    message: str,
) -> None:
    getattr(raw, method)("kept", V1, 1.0)
    before = raw.values()
    with pytest.raises(ValueError, match=message):
        getattr(raw, method)(name, tags, value)
    assert raw.values() == before
    assert len(raw.snapshot()) == 1


def test_clear(raw: RawRegistry) -> None:
    raw.counter("requests_total", V1)
    raw.clear()
    assert raw.values() == []
    assert len(raw.snapshot()) == 0


def test_a_name_used_with_another_kind_is_rejected_when_recorded(raw: RawRegistry) -> None:
    raw.counter("requests_total", V1)
    with pytest.raises(ValueError, match="'requests_total'"):
        raw.gauge("requests_total", V1, 1.0)
    assert len(raw.snapshot()) == 1


# -- snapshot: the same series an AggregatingRegistry holds ------------------------------


def counter_total(raw: RawRegistry, name: str) -> float:
    series = raw.snapshot(names=[name]).find(name)
    return sum(s.total for s in series if isinstance(s, CounterSeries))


def record_workload(
    clock: ManualClock, registries: list[RawRegistry | AggregatingRegistry]
) -> None:
    """Five minutes of mixed traffic, recorded identically into every registry."""
    rng = np.random.default_rng(17)
    start = clock()
    for second in range(300):
        for offset in np.sort(rng.uniform(0.0, 1.0, 4)).tolist():
            clock.set(start + second + offset)
            tags = V1 if rng.random() < 0.6 else V2
            latency = float(rng.lognormal(4.0, 0.6))
            tokens = int(rng.integers(0, 500))
            failed = rng.random() < 0.1
            for registry in registries:
                registry.counter("requests_total", tags)
                registry.timer("latency", tags, latency)
                registry.histogram("tokens", {**tags, "gen_ai.token.type": "output"}, tokens)
                registry.gauge("active", tags, float(second % 7))
                if failed:
                    registry.counter("errors_total", {**tags, "error_type": "Timeout"})
    clock.advance(0.5)


def test_snapshot_folds_into_the_same_series_as_the_aggregating_registry(
    clock: ManualClock, raw: RawRegistry, registry: AggregatingRegistry
) -> None:
    record_workload(clock, [raw, registry])
    now = clock()
    folded = raw.snapshot()
    aggregated = registry.snapshot()
    assert folded.taken_at == aggregated.taken_at == now
    assert len(folded) == len(aggregated) == 10
    for expected in aggregated:
        series = folded.get(expected.name, expected.tags)
        assert series is not None, (expected.name, expected.tags)
        assert type(series) is type(expected)
        assert series.kind is expected.kind
        if isinstance(expected, CounterSeries):
            assert isinstance(series, CounterSeries)
            assert series.total == expected.total
            for window in (1, 60, 300, 3600):
                assert series.window_total(window, now) == expected.window_total(window, now)
                assert series.window_start(window, now) == expected.window_start(window, now)
        elif isinstance(expected, GaugeSeries):
            assert isinstance(series, GaugeSeries)
            assert series.value == expected.value
        else:
            assert isinstance(series, DistributionSeries)
            assert series.count == expected.count
            assert series.total == expected.total
            assert series.all_time == expected.all_time
            assert series.bucket_bounds == expected.bucket_bounds
            assert series.bucket_counts == expected.bucket_counts
            for window in (1, 60, 300, 3600):
                mine = series.window_summary(window, now)
                theirs = expected.window_summary(window, now)
                assert mine == theirs
                assert mine.quantiles(0.5, 0.95, 0.99) == theirs.quantiles(0.5, 0.95, 0.99)
        assert series == expected
    assert folded == aggregated


def test_snapshot_filters_by_names_and_match(clock: ManualClock, raw: RawRegistry) -> None:
    record_workload(clock, [raw])
    assert {s.name for s in raw.snapshot(names=["latency"])} == {"latency"}
    assert len(raw.snapshot(names=["latency", "active"])) == 4
    assert len(raw.snapshot(names=[])) == 0
    v2 = raw.snapshot(match={"version": "v2"})
    assert {s.tags["version"] for s in v2} == {"v2"}
    assert len(v2) == 5
    only = raw.snapshot(names=["requests_total"], match=V1)
    assert [(s.name, s.tags) for s in only] == [("requests_total", Tags.of(V1))]
    total = sum(v.value for v in raw.find("requests_total", V1))
    assert isinstance(only.series[0], CounterSeries)
    assert only.series[0].total == total
