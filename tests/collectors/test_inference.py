"""InferenceCollector: what known event sequences leave in the registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collectors.inference import InferenceCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import (
    ActiveConnectionsChanged,
    FirstTokenReceived,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
    MemoryUsageReported,
)
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry, RawRegistry, Registry
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries, Snapshot
from metrics_core.values import Counter

T0 = 1_700_000_000.0
MODEL = "llama"
VERSION = "v1"
VERSION_TAGS = {names.MODEL_NAME: MODEL, names.VERSION: VERSION}


class CollectorEnv:
    """A fresh bus, registry and clock with an InferenceCollector wired in."""

    def __init__(self, registry: Registry, clock: ManualClock) -> None:
        self.clock = clock
        self.bus = EventBus()
        self.registry = registry
        self.collector = InferenceCollector()
        self.metrics = Metrics(bus=self.bus, registry=registry).collect(self.collector)

    def emit(self, *events: object) -> None:
        for event in events:
            self.bus.emit(event)  # type: ignore[arg-type]

    def snapshot(self) -> Snapshot:
        return self.registry.snapshot()


@pytest.fixture
def collector_env() -> Iterator[CollectorEnv]:
    clock = ManualClock(T0)
    env = CollectorEnv(AggregatingRegistry(clock=clock), clock)
    yield env
    env.metrics.close()


@pytest.fixture
def raw_collector_env() -> Iterator[CollectorEnv]:
    clock = ManualClock(T0)
    env = CollectorEnv(RawRegistry(clock=clock), clock)
    yield env
    env.metrics.close()


def completed(version: str = VERSION, **fields: object) -> InferenceCompleted:
    fields.setdefault("duration_ms", 10.0)
    return InferenceCompleted(model_name=MODEL, version=version, **fields)  # type: ignore[arg-type]


def failed(error_type: str, duration_ms: float = 5.0, version: str = VERSION) -> InferenceFailed:
    return InferenceFailed(
        model_name=MODEL, version=version, duration_ms=duration_ms, error_type=error_type
    )


def started(version: str = VERSION, request_id: str | None = None) -> InferenceStarted:
    return InferenceStarted(model_name=MODEL, version=version, request_id=request_id)


def counter(snapshot: Snapshot, name: str, **extra: str) -> CounterSeries:
    series = snapshot.get(name, {**VERSION_TAGS, **extra})
    assert isinstance(series, CounterSeries), f"no counter {name} {extra}"
    return series


def gauge(snapshot: Snapshot, name: str, version: str = VERSION) -> GaugeSeries:
    series = snapshot.get(name, {names.MODEL_NAME: MODEL, names.VERSION: version})
    assert isinstance(series, GaugeSeries), f"no gauge {name}"
    return series


def distribution(snapshot: Snapshot, name: str, **extra: str) -> DistributionSeries:
    series = snapshot.get(name, {**VERSION_TAGS, **extra})
    assert isinstance(series, DistributionSeries), f"no distribution {name} {extra}"
    return series


# -- requests, errors, latency ------------------------------------------------------------


def test_requests_errors_and_latency_are_counted_per_type(collector_env: CollectorEnv) -> None:
    collector_env.emit(
        completed(duration_ms=10.0),
        completed(duration_ms=20.0),
        completed(duration_ms=30.0),
        failed("Timeout", duration_ms=100.0),
        failed("Timeout", duration_ms=200.0),
        failed("OOM", duration_ms=40.0),
    )

    snap = collector_env.snapshot()
    assert counter(snap, names.REQUESTS_TOTAL).total == 6.0
    assert counter(snap, names.ERRORS_TOTAL, error_type="Timeout").total == 2.0
    assert counter(snap, names.ERRORS_TOTAL, error_type="OOM").total == 1.0
    assert len(snap.find(names.ERRORS_TOTAL)) == 2
    latency = distribution(snap, names.LATENCY)
    assert latency.count == 6
    assert latency.total == 400.0
    assert latency.all_time.minimum == 10.0
    assert latency.all_time.maximum == 200.0


def test_versions_are_kept_apart(collector_env: CollectorEnv) -> None:
    collector_env.emit(completed(version="v1"), completed(version="v2"), completed(version="v2"))

    snap = collector_env.snapshot()
    totals = {
        s.tags[names.VERSION]: s.total
        for s in snap.find(names.REQUESTS_TOTAL)
        if isinstance(s, CounterSeries)
    }
    assert totals == {"v1": 1.0, "v2": 2.0}


# -- in flight ----------------------------------------------------------------------------


def test_in_flight_is_started_minus_finished(collector_env: CollectorEnv) -> None:
    collector_env.emit(started(), started(), started(), completed(), failed("Timeout"))

    assert gauge(collector_env.snapshot(), names.IN_FLIGHT).value == 1.0


def test_in_flight_returns_to_zero_when_all_finish(collector_env: CollectorEnv) -> None:
    collector_env.emit(started(), started(), completed(), failed("OOM"))

    assert gauge(collector_env.snapshot(), names.IN_FLIGHT).value == 0.0


def test_in_flight_never_goes_below_zero(collector_env: CollectorEnv) -> None:
    collector_env.emit(started(), completed(), completed(), failed("OOM"), completed())

    assert gauge(collector_env.snapshot(), names.IN_FLIGHT).value == 0.0
    collector_env.emit(started())
    assert gauge(collector_env.snapshot(), names.IN_FLIGHT).value == 1.0


def test_completed_without_any_started_leaves_no_negative_in_flight(
    collector_env: CollectorEnv,
) -> None:
    collector_env.emit(completed(), completed())

    in_flight = collector_env.snapshot().find(names.IN_FLIGHT)
    assert all(isinstance(s, GaugeSeries) and s.value >= 0.0 for s in in_flight)


def test_started_events_reach_the_in_flight_count_by_the_bus_or_by_on_started(
    collector_env: CollectorEnv,
) -> None:
    collector_env.emit(started())
    collector_env.collector.on_started(started())
    assert gauge(collector_env.snapshot(), names.IN_FLIGHT).value == 2.0
    assert collector_env.collector.listeners()[InferenceStarted] == (
        collector_env.collector._in_flight.start
    )


def test_in_flight_is_tracked_only_for_versions_that_emit_started(
    collector_env: CollectorEnv,
) -> None:
    # Another version has in-flight state; v2 never emits Started, so it gets no gauge.
    collector_env.emit(started(version="v1"), completed(version="v2"))

    snap = collector_env.snapshot()
    assert gauge(snap, names.IN_FLIGHT, version="v1").value == 1.0
    assert snap.get(names.IN_FLIGHT, {names.MODEL_NAME: MODEL, names.VERSION: "v2"}) is None


# -- time to first token ------------------------------------------------------------------


def test_ttft_from_first_token_event(collector_env: CollectorEnv) -> None:
    collector_env.emit(
        FirstTokenReceived(model_name=MODEL, version=VERSION, time_to_first_token_ms=120.0),
        FirstTokenReceived(model_name=MODEL, version=VERSION, time_to_first_token_ms=80.0),
    )

    ttft = distribution(collector_env.snapshot(), names.TIME_TO_FIRST_TOKEN)
    assert (ttft.count, ttft.total) == (2, 200.0)


def test_ttft_from_completed_event(collector_env: CollectorEnv) -> None:
    collector_env.emit(completed(duration_ms=500.0, time_to_first_token_ms=50.0))

    ttft = distribution(collector_env.snapshot(), names.TIME_TO_FIRST_TOKEN)
    assert (ttft.count, ttft.total) == (1, 50.0)


def test_ttft_counted_once_when_both_events_carry_the_request_id(
    collector_env: CollectorEnv,
) -> None:
    collector_env.emit(
        FirstTokenReceived(
            model_name=MODEL, version=VERSION, time_to_first_token_ms=40.0, request_id="r1"
        ),
        completed(duration_ms=400.0, time_to_first_token_ms=40.0, request_id="r1"),
    )

    ttft = distribution(collector_env.snapshot(), names.TIME_TO_FIRST_TOKEN)
    assert (ttft.count, ttft.total) == (1, 40.0)


def test_ttft_counted_for_each_request_with_different_ids(collector_env: CollectorEnv) -> None:
    collector_env.emit(
        FirstTokenReceived(
            model_name=MODEL, version=VERSION, time_to_first_token_ms=40.0, request_id="r1"
        ),
        completed(duration_ms=400.0, time_to_first_token_ms=60.0, request_id="r2"),
        completed(duration_ms=400.0, time_to_first_token_ms=40.0, request_id="r1"),
        completed(duration_ms=400.0, time_to_first_token_ms=30.0),
    )

    ttft = distribution(collector_env.snapshot(), names.TIME_TO_FIRST_TOKEN)
    assert (ttft.count, ttft.total) == (3, 130.0)


def test_time_per_output_token_excludes_the_first_token(collector_env: CollectorEnv) -> None:
    collector_env.emit(
        completed(duration_ms=1100.0, time_to_first_token_ms=100.0, output_tokens=11),
        completed(duration_ms=700.0, time_to_first_token_ms=100.0, output_tokens=4),
    )

    tpot = distribution(collector_env.snapshot(), names.TIME_PER_OUTPUT_TOKEN)
    # (1100 - 100) / (11 - 1) = 100 and (700 - 100) / (4 - 1) = 200.
    assert (tpot.count, tpot.total) == (2, 300.0)


def test_time_per_output_token_needs_ttft_and_two_tokens(collector_env: CollectorEnv) -> None:
    collector_env.emit(
        completed(duration_ms=500.0, output_tokens=10),
        completed(duration_ms=500.0, time_to_first_token_ms=100.0, output_tokens=1),
    )

    tpot = collector_env.snapshot().find(names.TIME_PER_OUTPUT_TOKEN)
    assert all(isinstance(s, DistributionSeries) and s.count == 0 for s in tpot)


# -- tokens, cost, batch size -------------------------------------------------------------


def test_token_usage_by_token_type_with_exact_sums(collector_env: CollectorEnv) -> None:
    collector_env.emit(
        completed(input_tokens=100, output_tokens=20, cached_tokens=10),
        completed(input_tokens=50, output_tokens=30),
        completed(),
    )

    snap = collector_env.snapshot()
    by_type = {
        s.tags[names.TOKEN_TYPE]: (s.count, s.total)
        for s in snap.find(names.TOKEN_USAGE, VERSION_TAGS)
        if isinstance(s, DistributionSeries) and s.count
    }
    assert by_type == {"input": (2, 150.0), "output": (2, 50.0), "cached": (1, 10.0)}


def test_cost_is_summed(collector_env: CollectorEnv) -> None:
    collector_env.emit(completed(cost_usd=0.25), completed(cost_usd=0.5), completed())

    assert counter(collector_env.snapshot(), names.COST_TOTAL).total == 0.75


def test_batch_size_recorded_only_for_batches(collector_env: CollectorEnv) -> None:
    collector_env.emit(
        completed(batch_size=1), completed(batch_size=4), completed(batch_size=8), completed()
    )

    batch = distribution(collector_env.snapshot(), names.BATCH_SIZE)
    assert (batch.count, batch.total) == (2, 12.0)
    assert counter(collector_env.snapshot(), names.REQUESTS_TOTAL).total == 4.0


# -- gauges -------------------------------------------------------------------------------


def test_active_connections_and_memory_keep_the_last_value(collector_env: CollectorEnv) -> None:
    collector_env.emit(
        ActiveConnectionsChanged(model_name=MODEL, version=VERSION, count=7),
        ActiveConnectionsChanged(model_name=MODEL, version=VERSION, count=3),
        MemoryUsageReported(model_name=MODEL, version=VERSION, memory_bytes=2048),
        MemoryUsageReported(model_name=MODEL, version=VERSION, memory_bytes=1024),
    )

    snap = collector_env.snapshot()
    assert gauge(snap, names.ACTIVE_CONNECTIONS).value == 3.0
    assert gauge(snap, names.MEMORY_USAGE).value == 1024.0


# -- other registries and rebinding -------------------------------------------------------


def test_collector_works_with_raw_registry(raw_collector_env: CollectorEnv) -> None:
    raw_collector_env.emit(
        started(),
        completed(duration_ms=10.0, input_tokens=7, cost_usd=0.5),
        failed("Timeout", duration_ms=30.0),
        MemoryUsageReported(model_name=MODEL, version=VERSION, memory_bytes=4096),
    )

    snap = raw_collector_env.snapshot()
    assert counter(snap, names.REQUESTS_TOTAL).total == 2.0
    assert counter(snap, names.ERRORS_TOTAL, error_type="Timeout").total == 1.0
    assert counter(snap, names.COST_TOTAL).total == 0.5
    latency = distribution(snap, names.LATENCY)
    assert (latency.count, latency.total) == (2, 40.0)
    tokens = distribution(snap, names.TOKEN_USAGE, **{names.TOKEN_TYPE: "input"})
    assert (tokens.count, tokens.total) == (1, 7.0)
    assert gauge(snap, names.MEMORY_USAGE).value == 4096.0
    assert gauge(snap, names.IN_FLIGHT).value == 0.0

    registry = raw_collector_env.registry
    assert isinstance(registry, RawRegistry)
    raw_requests = registry.find(names.REQUESTS_TOTAL, VERSION_TAGS)
    assert [type(v) for v in raw_requests] == [Counter, Counter]
    assert [v.value for v in raw_requests] == [1.0, 1.0]


def test_collector_bound_to_a_second_metrics_records_into_the_new_registry() -> None:
    clock = ManualClock(T0)
    collector = InferenceCollector()
    first_bus, first_registry = EventBus(), AggregatingRegistry(clock=clock)
    first = Metrics(bus=first_bus, registry=first_registry).collect(collector)
    first_bus.emit(completed())
    first.close()

    second_bus, second_registry = EventBus(), AggregatingRegistry(clock=clock)
    with Metrics(bus=second_bus, registry=second_registry).collect(collector):
        second_bus.emit(completed())
        second_bus.emit(failed("OOM"))

        assert counter(first_registry.snapshot(), names.REQUESTS_TOTAL).total == 1.0
        assert first_registry.snapshot().find(names.ERRORS_TOTAL) == []
        assert counter(second_registry.snapshot(), names.REQUESTS_TOTAL).total == 2.0
        assert (
            counter(second_registry.snapshot(), names.ERRORS_TOTAL, error_type="OOM").total == 1.0
        )


def test_closed_metrics_stops_the_collector_listening(collector_env: CollectorEnv) -> None:
    collector_env.emit(completed())
    collector_env.metrics.close()
    collector_env.emit(completed())

    assert counter(collector_env.snapshot(), names.REQUESTS_TOTAL).total == 1.0
    assert not collector_env.bus.has_listeners(InferenceCompleted)
