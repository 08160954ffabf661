"""The API shape users expect: recorded values returned, find/all, clear, timers, text windows."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from collectors import BaseCollector, InferenceCollector, QualityCollector
from exporters import ConsoleExporter
from integrations import inference_span, track_inference
from metrics_core import Counter, Gauge, Histogram, Timer, unheard
from metrics_core.bus import EventBus, reset_default_bus
from metrics_core.clock import ManualClock
from metrics_core.durations import parse_duration
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry, RawRegistry, Registry
from metrics_core.snapshot import CounterSeries, DistributionSeries, window_seconds
from metrics_core.unheard import reset_unheard_warning

T0 = 1_700_000_000.0
MV = {"model_name": "bert", "version": "v1"}


@pytest.fixture(params=["aggregating", "raw"])
def any_registry(request: pytest.FixtureRequest) -> Registry:
    clock = ManualClock(T0)
    if request.param == "raw":
        return RawRegistry(clock=clock)
    return AggregatingRegistry(clock=clock)


# -- values returned, their dict and text forms ----------------------------------------------


def test_recording_methods_return_the_value_recorded(any_registry: Registry) -> None:
    assert any_registry.counter("jobs_total", {"queue": "a"}, 2) == Counter(
        name="jobs_total", tags={"queue": "a"}, value=2.0, timestamp=T0
    )
    assert any_registry.gauge("depth", {"queue": "a"}, -1.5) == Gauge(
        name="depth", tags={"queue": "a"}, value=-1.5, timestamp=T0
    )
    assert any_registry.histogram("size", {}, 7) == Histogram(name="size", value=7.0, timestamp=T0)
    timer = any_registry.timer("wait", MV, 12.5)
    assert timer == Timer(name="wait", tags=MV, value=12.5, timestamp=T0)
    assert (timer.duration_ms, timer.duration_seconds) == (12.5, 0.0125)


def test_bad_input_still_raises_and_records_nothing(any_registry: Registry) -> None:
    with pytest.raises(ValueError, match=r"must be >= 0: -1$"):
        any_registry.counter("jobs_total", {}, -1)

    assert len(any_registry.snapshot()) == 0


def test_base_collector_helpers_return_the_values(any_registry: Registry) -> None:
    collector = BaseCollector()
    collector.bind(any_registry, EventBus())

    assert collector.counter("c", {"k": "v"}).value == 1.0
    assert collector.gauge("g", {}, 3).value == 3.0
    assert collector.histogram("h", {}, 4).value == 4.0
    assert isinstance(collector.timer("t", {}, 5), Timer)


def test_to_dict_and_the_text_form() -> None:
    value = Counter(name="jobs_total", tags={"queue": 'a"b\\c\nd', "k": "v"}, value=2, timestamp=5)

    assert value.to_dict() == {
        "name": "jobs_total",
        "kind": "counter",
        "value": 2.0,
        "tags": {"k": "v", "queue": 'a"b\\c\nd'},
        "timestamp": 5.0,
    }
    assert str(value) == 'jobs_total{k="v",queue="a\\"b\\\\c\\nd"} 2.0'
    assert str(Gauge(name="depth", value=-0.25)) == "depth -0.25"


# -- find / all -----------------------------------------------------------------------------


def test_find_and_all_on_the_aggregating_registry() -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0))
    registry.counter("jobs_total", {"queue": "a", "host": "h1"}, 2)
    registry.counter("jobs_total", {"queue": "b", "host": "h1"}, 3)
    registry.timer("wait", {"queue": "a"}, 4)

    found = registry.find("jobs_total", {"queue": "b"})
    assert [(s.name, dict(s.tags), s.total) for s in found if isinstance(s, CounterSeries)] == [
        ("jobs_total", {"host": "h1", "queue": "b"}, 3.0)
    ]
    assert len(registry.find("jobs_total")) == 2
    assert registry.find("absent") == []
    assert sorted(s.name for s in registry.all()) == ["jobs_total", "jobs_total", "wait"]


def test_find_and_all_on_the_raw_registry() -> None:
    registry = RawRegistry(clock=ManualClock(T0))
    first = registry.counter("jobs_total", {"queue": "a"}, 2)
    registry.gauge("depth", {"queue": "a"}, 1)
    second = registry.counter("jobs_total", {"queue": "b"}, 3)

    assert registry.find("jobs_total", {"queue": "b"}) == [second]
    assert registry.find("jobs_total") == [first, second]
    assert [v.name for v in registry.all()] == ["jobs_total", "depth", "jobs_total"]


# -- Metrics.clear ---------------------------------------------------------------------------


def test_clear_forgets_everything_and_collectors_record_afresh() -> None:
    metrics = Metrics(bus=EventBus(), registry=AggregatingRegistry(clock=ManualClock(T0)))
    metrics.collect(InferenceCollector())
    for _ in range(3):
        metrics.record_inference("bert", "v1", latency_ms=5.0, success=True)

    metrics.clear()
    assert len(metrics.snapshot()) == 0
    metrics.record_inference("bert", "v1", latency_ms=5.0, success=True)

    assert metrics.get_metrics("bert", "v1", window="1m").request_count == 1
    metrics.close()


# -- the generic timer ----------------------------------------------------------------------


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    metrics = Metrics(bus=EventBus())
    yield metrics
    metrics.close()


def timer_series(metrics: Metrics, name: str, tags: dict[str, str]) -> DistributionSeries:
    series = metrics.snapshot().get(name, tags)
    assert isinstance(series, DistributionSeries)
    assert series.kind.value == "timer"
    return series


def test_timer_as_a_with_block_even_when_it_raises(metrics: Metrics) -> None:
    stopwatch = metrics.timer("queue.wait", {"queue": "a"})
    with stopwatch:
        time.sleep(0.02)
    with pytest.raises(KeyError), stopwatch:
        raise KeyError("x")

    series = timer_series(metrics, "queue.wait", {"queue": "a"})
    assert series.count == 2
    assert series.all_time.maximum >= 20.0
    assert stopwatch.last is not None and series.all_time.minimum <= stopwatch.last.value


def test_timer_decorates_sync_and_async_functions(metrics: Metrics) -> None:
    @metrics.timer("job.run", {"kind": "sync"})
    def work(x: int) -> int:
        return x * 2

    @metrics.timer("job.run", {"kind": "async"})
    async def awork(x: int) -> int:
        await asyncio.sleep(0.01)
        return x + 1

    assert [work(n) for n in range(5)] == [0, 2, 4, 6, 8]
    assert asyncio.run(awork(1)) == 2
    assert work.__name__ == "work" and awork.__name__ == "awork"

    assert timer_series(metrics, "job.run", {"kind": "sync"}).count == 5
    slow = timer_series(metrics, "job.run", {"kind": "async"})
    assert slow.count == 1 and slow.all_time.minimum >= 10.0


def test_one_timer_shared_by_threads_and_tasks_keeps_their_starts_apart(
    metrics: Metrics,
) -> None:
    shared = metrics.timer("shared.block")
    threads, per_thread = 8, 200

    def work() -> None:
        for _ in range(per_thread):
            with shared:
                pass

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    async def tasks() -> None:
        async def one(delay: float) -> None:
            async with shared:
                await asyncio.sleep(delay)

        await asyncio.gather(*(one(0.03 if n % 2 else 0.0) for n in range(20)))

    asyncio.run(tasks())

    series = timer_series(metrics, "shared.block", {})
    assert series.count == threads * per_thread + 20
    # Ten tasks slept 30 ms inside the block; a start taken from another task or thread
    # would have recorded a longer or a negative (rejected) duration, and lost a count.
    assert 30.0 <= series.all_time.maximum < 1_000.0


def test_a_timer_needs_a_valid_name(metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="'name' must be an identifier"):
        metrics.timer("queue wait")


# -- windows as text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("5m", 300.0), ("1h", 3600.0), ("500ms", 0.5), ("45", 45.0), ("1.5m", 90.0)],
)
def test_text_windows(text: str, seconds: float) -> None:
    assert parse_duration(text) == window_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "-5m", "0s", "m"])
def test_bad_text_windows_name_the_field(text: str) -> None:
    with pytest.raises(ValueError, match=r"^'window' must be") as error:
        window_seconds(text)
    assert repr(text) in str(error.value)


def test_text_windows_are_accepted_wherever_a_window_is() -> None:
    clock = ManualClock(T0)
    metrics = Metrics(bus=EventBus(), registry=AggregatingRegistry(clock=clock))
    metrics.collect(InferenceCollector())
    metrics.record_inference("bert", "v1", latency_ms=5.0, success=True)
    clock.advance(120)
    metrics.record_inference("bert", "v1", latency_ms=5.0, success=True)

    assert metrics.get_metrics("bert", "v1", window="90s").request_count == 1
    assert metrics.get_metrics("bert", "v1", window="5m").request_count == 2
    assert metrics.get_all_metrics(window="1h")["bert:v1"].request_count == 2
    assert metrics.get_metrics("bert", "v1", window=timedelta(minutes=5)).request_count == 2
    assert metrics.compare("bert", "v1", "v1", window="5m").baseline.request_count == 2
    assert QualityCollector(window="10m").window == 600.0
    assert ConsoleExporter(window="90s") is not None
    metrics.close()


# -- the default-bus warning ----------------------------------------------------------------


@pytest.fixture
def fresh_default_bus() -> Iterator[None]:
    reset_default_bus()
    reset_unheard_warning()
    unheard._own_buses.clear()  # Metrics that earlier tests left open
    yield
    reset_default_bus()
    reset_unheard_warning()


def test_a_span_on_an_unheard_default_bus_warns_once_when_a_metrics_has_its_own(
    fresh_default_bus: None,
) -> None:
    metrics = Metrics(bus=EventBus()).collect(InferenceCollector())

    @track_inference("bert", "v1")  # forgot bus=metrics
    def predict() -> int:
        return 1

    with capture_logs() as logs:
        predict()
        predict()
        with inference_span("bert", "v1"):
            pass

    warnings = [log for log in logs if log["event"] == "events_on_an_unheard_default_bus"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["event_type"] == "InferenceCompleted"
    assert "bus=metrics" in warnings[0]["hint"]
    assert len(metrics.snapshot()) == 0  # indeed nothing was recorded
    metrics.close()


def test_no_warning_without_a_metrics_of_its_own_or_with_a_listener(
    fresh_default_bus: None,
) -> None:
    with capture_logs() as logs:
        with inference_span("bert", "v1"):
            pass  # no Metrics at all
        on_default = Metrics().collect(InferenceCollector())  # the default bus, heard
        own = Metrics(bus=EventBus())
        with inference_span("bert", "v1"):
            pass
        on_default.close()
        own.close()
        with inference_span("bert", "v1"):
            pass  # the Metrics with its own bus is closed

    assert [log for log in logs if log["event"] == "events_on_an_unheard_default_bus"] == []
