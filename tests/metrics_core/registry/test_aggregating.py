from __future__ import annotations

import math
import threading
from collections.abc import Callable

import pytest

from metrics_core.clock import ManualClock
from metrics_core.names import OVERFLOW_TOTAL
from metrics_core.registry import Registry
from metrics_core.registry._overflow import OVERFLOW_TAGS
from metrics_core.registry.aggregating import (
    DEFAULT_HISTOGRAM_BUCKETS,
    DEFAULT_TIMER_BUCKETS_MS,
    AggregatingRegistry,
)
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries, Snapshot
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

V1 = {"model_name": "bert", "version": "v1"}
V2 = {"model_name": "bert", "version": "v2"}


def counter(snapshot: Snapshot, name: str, tags: dict[str, str] | Tags) -> CounterSeries:
    series = snapshot.get(name, tags)
    assert isinstance(series, CounterSeries), (name, tags)
    return series


def gauge(snapshot: Snapshot, name: str, tags: dict[str, str] | Tags) -> GaugeSeries:
    series = snapshot.get(name, tags)
    assert isinstance(series, GaugeSeries), (name, tags)
    return series


def dist(snapshot: Snapshot, name: str, tags: dict[str, str] | Tags) -> DistributionSeries:
    series = snapshot.get(name, tags)
    assert isinstance(series, DistributionSeries), (name, tags)
    return series


def test_implements_the_registry_protocol(registry: AggregatingRegistry) -> None:
    assert isinstance(registry, Registry)


def test_default_clock_is_the_system_clock() -> None:
    import time

    assert AggregatingRegistry().clock is time.time


# -- recording ------------------------------------------------------------------------


def test_counter_totals(registry: AggregatingRegistry) -> None:
    registry.counter("requests_total", V1)
    registry.counter("requests_total", V1, 2.5)
    registry.counter("requests_total", {"version": "v1", "model_name": "bert"}, 0)
    registry.counter("requests_total", Tags.of(V1), 0.5)
    registry.counter("requests_total", V2, 7)
    snap = registry.snapshot()
    assert counter(snap, "requests_total", V1).total == 4.0
    assert counter(snap, "requests_total", V2).total == 7.0
    assert len(snap) == 2
    assert registry.series_count() == 2


def test_gauge_keeps_the_last_value(clock: ManualClock, registry: AggregatingRegistry) -> None:
    registry.gauge("active", V1, 3)
    clock.advance(5)
    registry.gauge("active", V1, -2.5)
    series = gauge(registry.snapshot(), "active", V1)
    assert series.value == -2.5
    assert series.updated_at == clock()
    assert series.kind is MetricKind.GAUGE


def test_timer_summary_and_le_buckets(registry: AggregatingRegistry) -> None:
    values = [0.0, 5.0, 5.0001, 10.0, 60_000.0, 60_001.0, 42.0]
    for value in values:
        registry.timer("latency", V1, value)
    series = dist(registry.snapshot(), "latency", V1)
    assert series.kind is MetricKind.TIMER
    assert series.count == 7
    assert series.total == math.fsum(values)
    assert series.all_time.minimum == 0.0
    assert series.all_time.maximum == 60_001.0
    assert series.all_time.zeros == 1
    assert series.bucket_bounds == DEFAULT_TIMER_BUCKETS_MS
    # 0 and 5 (on the bound) in le=5; 5.0001 and 10 in le=10; 42 in le=50;
    # 60000 in le=60000; 60001 in +Inf.
    expected = [0] * (len(DEFAULT_TIMER_BUCKETS_MS) + 1)
    expected[0] = 2
    expected[1] = 2
    expected[DEFAULT_TIMER_BUCKETS_MS.index(50)] = 1
    expected[DEFAULT_TIMER_BUCKETS_MS.index(60_000)] = 1
    expected[-1] = 1
    assert series.bucket_counts == tuple(expected)


def test_histogram_summary_and_le_buckets(registry: AggregatingRegistry) -> None:
    values = [-3.0, 0.0, 1.0, 1.5, 2.0, 100_000.0, 100_000.5]
    for value in values:
        registry.histogram("tokens", V1, value)
    series = dist(registry.snapshot(), "tokens", V1)
    assert series.kind is MetricKind.HISTOGRAM
    assert (series.count, series.total) == (7, math.fsum(values))
    assert (series.all_time.minimum, series.all_time.maximum) == (-3.0, 100_000.5)
    assert series.all_time.negative_buckets() == {bucket: 1 for bucket in [101]}
    assert series.bucket_bounds == DEFAULT_HISTOGRAM_BUCKETS
    expected = [0] * (len(DEFAULT_HISTOGRAM_BUCKETS) + 1)
    expected[0] = 3  # -3, 0 and 1 are <= 1
    expected[1] = 2  # 1.5 and 2 are <= 2
    expected[-2] = 1  # 100000 is <= 100000
    expected[-1] = 1
    assert series.bucket_counts == tuple(expected)


def test_custom_buckets_per_metric(clock: ManualClock) -> None:
    registry = AggregatingRegistry(
        clock=clock, buckets={"batch_size": [1, 2, 4, 8], "latency": (0.5, 1.0)}
    )
    for value in (1, 2, 3, 4, 9):
        registry.histogram("batch_size", V1, value)
    for duration in (0.5, 0.75, 2.0):
        registry.timer("latency", V1, duration)
    registry.histogram("other", V1, 3)
    snap = registry.snapshot()
    batch = dist(snap, "batch_size", V1)
    assert batch.bucket_bounds == (1.0, 2.0, 4.0, 8.0)
    assert batch.bucket_counts == (1, 1, 2, 0, 1)
    latency = dist(snap, "latency", V1)
    assert latency.bucket_bounds == (0.5, 1.0)
    assert latency.bucket_counts == (1, 1, 1)
    assert dist(snap, "other", V1).bucket_bounds == DEFAULT_HISTOGRAM_BUCKETS


@pytest.mark.parametrize(
    "bounds", [[], [2, 1], [1, 1], [1, math.nan], [1, math.inf], ["a"], [True, 2]]
)
def test_invalid_buckets_raise_naming_the_metric(bounds: list[object]) -> None:
    with pytest.raises(ValueError, match=r"buckets\['batch_size'\]"):
        AggregatingRegistry(buckets={"batch_size": bounds})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_series_per_metric": 0}, "max_series_per_metric"),
        ({"series_ttl": 0}, "series_ttl"),
        ({"series_ttl": -1.0}, "series_ttl"),
    ],
)
def test_invalid_settings_raise(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=f"'{field}'"):
        AggregatingRegistry(**kwargs)  # type: ignore[arg-type]


def test_instrument_records_into_the_named_series(registry: AggregatingRegistry) -> None:
    requests = registry.instrument(MetricKind.COUNTER, "requests_total", V1)
    active = registry.instrument(MetricKind.GAUGE, "active", V1)
    tokens = registry.instrument(MetricKind.HISTOGRAM, "tokens", V1)
    latency = registry.instrument(MetricKind.TIMER, "latency", V1)
    requests.record(1)
    registry.counter("requests_total", V1, 2)
    requests.record(3)
    active.record(4)
    tokens.record(10)
    tokens.record(20)
    latency.record(5)
    snap = registry.snapshot()
    assert counter(snap, "requests_total", V1).total == 6
    assert gauge(snap, "active", V1).value == 4
    assert dist(snap, "tokens", V1).total == 30
    assert dist(snap, "latency", V1).count == 1
    assert len(snap) == 4


def test_instrument_validates_its_name_and_kind(registry: AggregatingRegistry) -> None:
    with pytest.raises(ValueError, match="'name'"):
        registry.instrument(MetricKind.COUNTER, "bad name", V1)
    registry.counter("requests_total", V1)
    with pytest.raises(ValueError, match="'requests_total'"):
        registry.instrument(MetricKind.TIMER, "requests_total", V1)
    with pytest.raises(ValueError, match="tag key"):
        registry.instrument(MetricKind.COUNTER, "ok", {"bad-key": "x"})
    assert registry.series_count() == 1


# -- conflicts and rejected values ------------------------------------------------------


@pytest.mark.parametrize("first", list(MetricKind))
@pytest.mark.parametrize("second", list(MetricKind))
def test_a_name_used_with_another_kind_raises(
    registry: AggregatingRegistry, first: MetricKind, second: MetricKind
) -> None:
    if first is second:
        return
    record: dict[MetricKind, Callable[[str, dict[str, str], float], object]] = {
        MetricKind.COUNTER: registry.counter,
        MetricKind.GAUGE: registry.gauge,
        MetricKind.HISTOGRAM: registry.histogram,
        MetricKind.TIMER: registry.timer,
    }
    record[first]("model_metric", V1, 1.0)
    with pytest.raises(ValueError) as info:
        record[second]("model_metric", V2, 2.0)
    assert str(info.value) == f"metric 'model_metric' is a {first.value}, not a {second.value}"
    with pytest.raises(ValueError, match="'model_metric'"):
        registry.instrument(second, "model_metric", V1).record(1.0)
    snap = registry.snapshot()
    assert len(snap) == 1
    assert snap.series[0].kind is first


@pytest.mark.parametrize(
    ("kind", "bad", "field"),
    [
        (MetricKind.COUNTER, math.nan, "increment"),
        (MetricKind.COUNTER, -1.0, "increment"),
        (MetricKind.COUNTER, math.inf, "increment"),
        (MetricKind.COUNTER, "1", "increment"),
        (MetricKind.GAUGE, math.nan, "value"),
        (MetricKind.GAUGE, math.inf, "value"),
        (MetricKind.GAUGE, -math.inf, "value"),
        (MetricKind.HISTOGRAM, math.nan, "value"),
        (MetricKind.HISTOGRAM, math.inf, "value"),
        (MetricKind.HISTOGRAM, -math.inf, "value"),
        (MetricKind.TIMER, math.nan, "duration_ms"),
        (MetricKind.TIMER, -0.5, "duration_ms"),
        (MetricKind.TIMER, math.inf, "duration_ms"),
    ],
)
def test_a_rejected_value_creates_no_series(
    registry: AggregatingRegistry, kind: MetricKind, bad: object, field: str
) -> None:
    record = getattr(registry, kind.value)
    with pytest.raises(ValueError, match=f"'{field}'"):
        record("metric_a", V1, bad)
    with pytest.raises(ValueError, match=f"'{field}'"):
        registry.instrument(kind, "metric_b", V1).record(bad)  # type: ignore[arg-type]
    assert registry.series_count() == 0
    assert len(registry.snapshot()) == 0
    # The name is not claimed by the kind of the rejected value.
    other = MetricKind.GAUGE if kind is not MetricKind.GAUGE else MetricKind.COUNTER
    getattr(registry, other.value)("metric_a", V1, 1.0)
    assert registry.snapshot().series[0].kind is other


@pytest.mark.parametrize(
    ("kind", "bad", "field"),
    [
        (MetricKind.COUNTER, math.nan, "increment"),
        (MetricKind.COUNTER, -1.0, "increment"),
        (MetricKind.GAUGE, math.nan, "value"),
        (MetricKind.GAUGE, -math.inf, "value"),
        (MetricKind.HISTOGRAM, math.nan, "value"),
        (MetricKind.HISTOGRAM, math.inf, "value"),
        (MetricKind.TIMER, math.nan, "duration_ms"),
        (MetricKind.TIMER, -1.0, "duration_ms"),
        (MetricKind.TIMER, -math.inf, "duration_ms"),
    ],
)
def test_a_rejected_value_leaves_earlier_data_intact(
    registry: AggregatingRegistry, kind: MetricKind, bad: float, field: str
) -> None:
    record = getattr(registry, kind.value)
    instrument = registry.instrument(kind, "metric", V1)
    record("metric", V1, 3.0)
    instrument.record(4.0)
    before = registry.snapshot().series[0]
    with pytest.raises(ValueError, match=f"'{field}'"):
        record("metric", V1, bad)
    with pytest.raises(ValueError, match=f"'{field}'"):
        instrument.record(bad)
    after = registry.snapshot().series[0]
    assert after == before
    assert registry.series_count() == 1


def test_negative_infinity_is_rejected_by_an_existing_histogram(
    registry: AggregatingRegistry,
) -> None:
    registry.histogram("tokens", V1, 3.0)
    with pytest.raises(ValueError, match="'value' must be finite: -inf"):
        registry.histogram("tokens", V1, -math.inf)
    series = dist(registry.snapshot(), "tokens", V1)
    assert (series.count, series.total, series.all_time.minimum) == (1, 3.0, 3.0)


def test_invalid_names_and_tags_create_nothing(registry: AggregatingRegistry) -> None:
    for name in ("", "9x", "a b", "a..b", "a-"):
        with pytest.raises(ValueError, match="'name'"):
            registry.counter(name, V1)
        with pytest.raises(ValueError, match="'name'"):
            registry.timer(name, V1, 1.0)
    with pytest.raises(ValueError, match="tag key must be an identifier"):
        registry.gauge("g", {"1abc": "x"}, 1.0)
    assert registry.series_count() == 0


# -- cardinality ----------------------------------------------------------------------


def test_cardinality_limit_folds_the_excess_into_one_overflow_series(clock: ManualClock) -> None:
    registry = AggregatingRegistry(clock=clock, max_series_per_metric=5)
    for user in range(8):
        registry.counter("requests_total", {"user": user}, user + 1)
    snap = registry.snapshot()
    requests = snap.find("requests_total")
    assert len(requests) == 6
    kept = {s.tags["user"]: s for s in requests if "user" in s.tags}
    assert sorted(kept) == ["0", "1", "2", "3", "4"]
    assert all(counter(snap, "requests_total", {"user": str(u)}).total == u + 1 for u in range(5))
    overflow = counter(snap, "requests_total", OVERFLOW_TAGS)
    assert overflow.tags == {"overflow": "true"}
    assert overflow.total == 6 + 7 + 8
    assert counter(snap, OVERFLOW_TOTAL, {"metric": "requests_total"}).total == 3

    # Repeated records to folded tag sets are folded and counted each time, by name ...
    registry.counter("requests_total", {"user": 6}, 10)
    registry.counter("requests_total", {"user": 9}, 20)
    # ... and through an instrument.
    folded = registry.instrument(MetricKind.COUNTER, "requests_total", {"user": 7})
    for _ in range(3):
        folded.record(100)
    # Kept tag sets still record into their own series.
    registry.counter("requests_total", {"user": 0}, 1)
    kept_instrument = registry.instrument(MetricKind.COUNTER, "requests_total", {"user": 4})
    kept_instrument.record(1)

    snap = registry.snapshot()
    assert len(snap.find("requests_total")) == 6
    assert counter(snap, "requests_total", OVERFLOW_TAGS).total == 21 + 10 + 20 + 300
    assert counter(snap, OVERFLOW_TOTAL, {"metric": "requests_total"}).total == 3 + 2 + 3
    assert counter(snap, "requests_total", {"user": "0"}).total == 2
    assert counter(snap, "requests_total", {"user": "4"}).total == 6
    assert registry.series_count() == 6 + 1


def test_cardinality_is_counted_per_metric(clock: ManualClock) -> None:
    registry = AggregatingRegistry(clock=clock, max_series_per_metric=2)
    for user in range(4):
        registry.timer("latency", {"user": user}, float(user))
        registry.gauge("active", {"user": user}, float(user))
    registry.counter("small", {"user": 0})
    snap = registry.snapshot()
    latency = dist(snap, "latency", OVERFLOW_TAGS)
    assert (latency.count, latency.total, latency.all_time.minimum) == (2, 5.0, 2.0)
    assert latency.bucket_counts[0] == 2
    assert gauge(snap, "active", OVERFLOW_TAGS).value == 3.0
    assert counter(snap, OVERFLOW_TOTAL, {"metric": "latency"}).total == 2
    assert counter(snap, OVERFLOW_TOTAL, {"metric": "active"}).total == 2
    assert snap.get(OVERFLOW_TOTAL, {"metric": "small"}) is None
    assert len(snap.find(OVERFLOW_TOTAL)) == 2


def test_recording_to_the_overflow_tags_directly_is_not_counted(clock: ManualClock) -> None:
    registry = AggregatingRegistry(clock=clock, max_series_per_metric=1)
    registry.counter("c", {"a": 1})
    registry.counter("c", OVERFLOW_TAGS, 5)
    snap = registry.snapshot()
    assert counter(snap, "c", OVERFLOW_TAGS).total == 5
    assert snap.find(OVERFLOW_TOTAL) == []


# -- expiry ---------------------------------------------------------------------------


def test_idle_series_expire_but_gauges_stay(clock: ManualClock) -> None:
    registry = AggregatingRegistry(clock=clock, series_ttl=60)
    registry.counter("requests_total", V1)
    registry.timer("latency", V1, 5.0)
    registry.histogram("tokens", V1, 5.0)
    registry.gauge("active", V1, 2.0)
    registry.counter("requests_total", V2)
    clock.advance(30)
    registry.counter("requests_total", V2)  # V2 stays busy
    clock.advance(29)
    assert len(registry.snapshot()) == 5  # idle 59 s: still there
    clock.advance(7)  # idle 66 s: the sweep runs at most every ttl / 10 = 6 s
    snap = registry.snapshot()
    assert {(s.name, s.tags["version"]) for s in snap} == {
        ("active", "v1"),
        ("requests_total", "v2"),
    }
    assert gauge(snap, "active", V1).value == 2.0
    assert counter(snap, "requests_total", V2).total == 2
    assert registry.series_count() == 2
    clock.advance(10_000)
    snap = registry.snapshot()
    assert [s.name for s in snap] == ["active"]


def test_an_instrument_bound_to_an_expired_series_recreates_it(clock: ManualClock) -> None:
    registry = AggregatingRegistry(clock=clock, series_ttl=60)
    requests = registry.instrument(MetricKind.COUNTER, "requests_total", V1)
    latency = registry.instrument(MetricKind.TIMER, "latency", V1)
    requests.record(1)
    latency.record(7.0)
    clock.advance(120)
    assert len(registry.snapshot()) == 0
    for value in (1, 2, 3):
        requests.record(value)
        latency.record(float(value))
    snap = registry.snapshot()
    assert counter(snap, "requests_total", V1).total == 6
    latency_series = dist(snap, "latency", V1)
    assert (latency_series.count, latency_series.total) == (3, 6.0)
    assert latency_series.all_time.minimum == 1.0
    assert registry.series_count() == 2


def test_the_name_api_recreates_an_expired_series(clock: ManualClock) -> None:
    registry = AggregatingRegistry(clock=clock, series_ttl=60)
    registry.counter("requests_total", V1, 5)
    # Idleness counts from the end of the last record's one-second slot (never early).
    clock.advance(61)
    assert len(registry.snapshot()) == 1
    clock.advance(7)  # past the end of the slot + ttl, and past the next sweep (ttl / 10)
    assert len(registry.snapshot()) == 0
    registry.counter("requests_total", V1, 2)
    assert counter(registry.snapshot(), "requests_total", V1).total == 2


def test_no_ttl_keeps_idle_series(clock: ManualClock) -> None:
    registry = AggregatingRegistry(clock=clock, series_ttl=None)
    registry.counter("requests_total", V1)
    clock.advance(10 * 3600)
    assert counter(registry.snapshot(), "requests_total", V1).total == 1


def test_a_series_idle_less_than_the_ttl_is_kept(clock: ManualClock) -> None:
    registry = AggregatingRegistry(clock=clock, series_ttl=60)
    registry.counter("requests_total", V1)
    registry.timer("latency", V1, 1.0)
    clock.advance(0.9)  # same one-second slot
    registry.counter("requests_total", V1)
    registry.timer("latency", V1, 1.0)
    clock.advance(59.6)  # idle for 59.6 s < 60 s
    assert len(registry.snapshot()) == 2


# -- reading --------------------------------------------------------------------------


def test_snapshot_filters_by_names_and_match(registry: AggregatingRegistry) -> None:
    registry.counter("requests_total", V1)
    registry.counter("requests_total", V2)
    registry.timer("latency", V1, 1.0)
    registry.timer("latency", V2, 1.0)
    registry.gauge("active", {"model_name": "gpt", "version": "v1"}, 1.0)
    assert len(registry.snapshot()) == 5
    assert {s.name for s in registry.snapshot(names=["latency"])} == {"latency"}
    assert len(registry.snapshot(names=("latency", "active", "unknown"))) == 3
    assert len(registry.snapshot(names=[])) == 0
    assert len(registry.snapshot(names=iter(["requests_total"]))) == 2
    v1 = registry.snapshot(match={"version": "v1"})
    assert sorted(s.name for s in v1) == ["active", "latency", "requests_total"]
    bert_v2 = registry.snapshot(names=["requests_total"], match=V2)
    assert [(s.name, s.tags) for s in bert_v2] == [("requests_total", Tags.of(V2))]
    assert len(registry.snapshot(match={"version": "v9"})) == 0
    assert registry.snapshot().versions() == [("bert", "v1"), ("bert", "v2"), ("gpt", "v1")]


def test_snapshot_accessors(clock: ManualClock, registry: AggregatingRegistry) -> None:
    registry.counter("requests_total", V1)
    registry.gauge("active", V1, 1.0)
    registry.histogram("tokens", V1, 1.0)
    registry.timer("latency", V1, 1.0)
    snap = registry.snapshot()
    assert snap.taken_at == clock()
    assert [s.name for s in snap.counters()] == ["requests_total"]
    assert [s.name for s in snap.gauges()] == ["active"]
    assert sorted(s.name for s in snap.distributions()) == ["latency", "tokens"]
    assert snap.get("requests_total", V2) is None
    assert snap.get("requests_total", {"model_name": "bert"}) is None
    assert snap.find("requests_total", {"model_name": "bert"})[0].tags == V1
    assert len(list(snap)) == 4


def test_clear_forgets_everything(registry: AggregatingRegistry) -> None:
    requests = registry.instrument(MetricKind.COUNTER, "requests_total", V1)
    requests.record(5)
    registry.timer("latency", V1, 1.0)
    registry.gauge("active", V1, 1.0)
    registry.clear()
    assert registry.series_count() == 0
    assert len(registry.snapshot()) == 0
    requests.record(2)  # the bound instrument records into a fresh series
    registry.gauge("latency", V1, 3.0)  # the name's kind is forgotten too
    snap = registry.snapshot()
    assert counter(snap, "requests_total", V1).total == 2
    assert gauge(snap, "latency", V1).value == 3.0


def test_snapshots_do_not_change_after_recording(
    clock: ManualClock, registry: AggregatingRegistry
) -> None:
    registry.counter("requests_total", V1, 1)
    registry.gauge("active", V1, 1.0)
    registry.timer("latency", V1, 10.0)
    clock.advance(1)
    registry.counter("requests_total", V1, 2)
    registry.timer("latency", V1, 20.0)
    snap = registry.snapshot()
    now = clock()
    req = counter(snap, "requests_total", V1)
    lat = dist(snap, "latency", V1)
    frozen = (
        req.total,
        req.window_total(60, now),
        gauge(snap, "active", V1).value,
        lat.count,
        lat.total,
        lat.all_time,
        lat.bucket_counts,
        lat.window_summary(60, now),
        lat.window_summary(60, now).quantiles(0.5, 0.99),
    )
    for _ in range(3):  # into the open slot, then into later slots
        registry.counter("requests_total", V1, 100)
        registry.gauge("active", V1, 50.0)
        registry.timer("latency", V1, 5_000.0)
        clock.advance(1)
    registry.counter("requests_total", V2)
    assert (
        req.total,
        req.window_total(60, now),
        gauge(snap, "active", V1).value,
        lat.count,
        lat.total,
        lat.all_time,
        lat.bucket_counts,
        lat.window_summary(60, now),
        lat.window_summary(60, now).quantiles(0.5, 0.99),
    ) == frozen
    assert frozen[:2] == (3.0, 3.0)
    assert len(snap) == 3
    assert counter(registry.snapshot(), "requests_total", V1).total == 303


# -- threads --------------------------------------------------------------------------


def test_concurrent_recording_is_exact(clock: ManualClock, registry: AggregatingRegistry) -> None:
    threads_n, per_thread = 100, 1_000
    shared = registry.instrument(MetricKind.COUNTER, "shared_total", V1)
    start = threading.Barrier(threads_n + 1)
    done = threading.Event()
    errors: list[BaseException] = []
    snapshots = [0]

    def work() -> None:
        tags = Tags.of(V1)
        try:
            start.wait()
            for k in range(per_thread):
                registry.counter("requests_total", tags)
                shared.record(1)
                registry.timer("latency", tags, float(k % 50))
                if k % 100 == 0:  # slots rotate while threads record: 10 s in all
                    clock.advance(0.01)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def read() -> None:
        try:
            start.wait()
            while not done.is_set() and snapshots[0] < 200:
                snap = registry.snapshot()
                for series in snap.distributions():
                    series.window_summary(60, snap.taken_at).quantiles(0.5, 0.99)
                for counted in snap.counters():
                    assert counted.total <= threads_n * per_thread
                snapshots[0] += 1
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(threads_n)]
    helpers = [threading.Thread(target=read)]
    for thread in workers + helpers:
        thread.start()
    for thread in workers:
        thread.join()
    done.set()
    for thread in helpers:
        thread.join()

    assert errors == []
    assert snapshots[0] > 0
    total = threads_n * per_thread
    snap = registry.snapshot()
    assert counter(snap, "requests_total", V1).total == total
    assert counter(snap, "shared_total", V1).total == total
    latency = dist(snap, "latency", V1)
    assert latency.count == total
    assert latency.total == threads_n * sum(float(k % 50) for k in range(per_thread))
    assert latency.all_time.minimum == 0.0
    assert latency.all_time.maximum == 49.0
    assert sum(latency.bucket_counts) == total
    assert latency.window_summary(3600, snap.taken_at).count == total


def test_threads_on_one_series_and_on_many_versions_count_exactly(clock: ManualClock) -> None:
    """16 threads append without a lock into shared and own series while slots rotate,
    buffers fill past ``DRAIN_AT`` and a reader drains them: nothing is lost or doubled."""
    registry = AggregatingRegistry(clock=clock)
    threads_n, per_thread = 16, 3_000
    start = threading.Barrier(threads_n + 1)
    errors: list[BaseException] = []
    done = threading.Event()
    shared_latency = registry.instrument(MetricKind.TIMER, "latency", V1)
    shared_tokens = registry.instrument(MetricKind.HISTOGRAM, "tokens", V1)

    def work(thread: int) -> None:
        own = {"model_name": "bert", "version": f"t{thread}"}
        own_counter = registry.instrument(MetricKind.COUNTER, "requests_total", own)
        try:
            start.wait()
            for k in range(per_thread):
                shared_latency.record(float(k % 100))
                shared_tokens.record(k % 7)  # zeros go through the per-value path
                own_counter.record(1.0)
                registry.counter("requests_total", V1)
                if thread == 0 and k % 500 == 0:
                    clock.advance(1.0)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def read() -> None:
        try:
            start.wait()
            while not done.is_set():
                found = registry.snapshot().get("requests_total", V1)
                assert not isinstance(found, GaugeSeries)
                assert found is None or found.total <= threads_n * per_thread
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
    reader = threading.Thread(target=read)
    for thread in [*workers, reader]:
        thread.start()
    for thread in workers:
        thread.join()
    done.set()
    reader.join()

    assert errors == []
    _check_exact(registry.snapshot(), threads_n, per_thread)


def _check_exact(snap: Snapshot, threads_n: int, per_thread: int) -> None:
    total = threads_n * per_thread
    assert counter(snap, "requests_total", V1).total == total
    for n in range(threads_n):
        own = {"model_name": "bert", "version": f"t{n}"}
        assert counter(snap, "requests_total", own).total == per_thread
    latency = dist(snap, "latency", V1)
    assert latency.count == total
    assert latency.total == threads_n * sum(float(k % 100) for k in range(per_thread))
    assert sum(latency.bucket_counts) == total
    assert latency.window_summary(3600, snap.taken_at).count == total
    tokens = dist(snap, "tokens", V1)
    assert tokens.count == total
    assert tokens.all_time.zeros == threads_n * len(range(0, per_thread, 7))
    assert tokens.total == threads_n * sum(k % 7 for k in range(per_thread))
