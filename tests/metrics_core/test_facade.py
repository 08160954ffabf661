"""The ``Metrics`` facade: wiring, recording API, queries, comparison, exporting, closing."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import numpy as np
import pytest
from structlog.testing import capture_logs

from collectors.inference import InferenceCollector
from metrics_core import names
from metrics_core.bus import EventBus, listener_name
from metrics_core.clock import ManualClock
from metrics_core.events import InferenceCompleted
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, DistributionSeries, Snapshot
from metrics_core.stats import Verdict
from metrics_core.testing import InMemoryExporter

T0 = 1_700_000_000.0


class MetricsEnv:
    """A Metrics on a fresh bus and manual-clock registry, with an InferenceCollector."""

    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.bus = EventBus()
        self.registry = AggregatingRegistry(clock=self.clock)
        self.metrics = Metrics(bus=self.bus, registry=self.registry).collect(InferenceCollector())
        self.gates: list[threading.Event] = []

    def gate(self) -> threading.Event:
        """An event that hanging exporters wait on; set at teardown."""
        gate = threading.Event()
        self.gates.append(gate)
        return gate

    def counter_total(self, name: str, **tags: str) -> float:
        return sum(
            s.total
            for s in self.registry.snapshot(names=[name]).find(name, tags)
            if isinstance(s, CounterSeries)
        )


@pytest.fixture
def metrics_env() -> Iterator[MetricsEnv]:
    env = MetricsEnv()
    yield env
    for gate in env.gates:
        gate.set()
    env.metrics.close(deadline=2.0)


# -- exporters used below ------------------------------------------------------------------


class RaisingExporter:
    def export(self, snapshot: Snapshot) -> None:
        raise RuntimeError("backend down")

    def close(self) -> None:
        pass


class HangingExporter:
    """Blocks in export until ``gate`` is set; ``entered`` is set on entry."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.entered = threading.Event()
        self.calls = 0

    def export(self, snapshot: Snapshot) -> None:
        self.calls += 1
        self.entered.set()
        self.gate.wait()

    def close(self) -> None:
        pass


class OverlapDetectingExporter:
    """Counts calls, sleeping ``pause`` in each; flags any two calls running at once."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.calls = 0
        self.overlapped = False
        self._active = False
        self._lock = threading.Lock()

    def export(self, snapshot: Snapshot) -> None:
        with self._lock:
            if self._active:
                self.overlapped = True
            self._active = True
        time.sleep(self.pause)
        with self._lock:
            self._active = False
            self.calls += 1

    def close(self) -> None:
        pass


class ConsoleLikeExporter:
    def export(self, snapshot: Snapshot) -> None:
        pass

    def close(self) -> None:
        pass


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


# -- construction and wiring ---------------------------------------------------------------


def test_clock_given_with_a_registry_of_another_clock_raises() -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0))

    with pytest.raises(ValueError, match="'clock'"):
        Metrics(bus=EventBus(), registry=registry, clock=ManualClock(T0))


def test_clock_is_given_to_the_new_registry() -> None:
    clock = ManualClock(T0)
    with Metrics(bus=EventBus(), clock=clock) as metrics:
        assert metrics.registry.clock is clock
        assert metrics.snapshot().taken_at == T0


def test_same_clock_as_the_registry_is_accepted() -> None:
    clock = ManualClock(T0)
    registry = AggregatingRegistry(clock=clock)
    with Metrics(bus=EventBus(), registry=registry, clock=clock) as metrics:
        assert metrics.registry is registry


@pytest.mark.parametrize("timeout", [0, -1.0, math.nan])
def test_invalid_export_timeout_raises(timeout: float) -> None:
    with pytest.raises(ValueError, match="'export_timeout'"):
        Metrics(bus=EventBus(), registry=AggregatingRegistry(), export_timeout=timeout)


def test_collect_and_export_to_are_chainable() -> None:
    metrics = Metrics(bus=EventBus(), registry=AggregatingRegistry(clock=ManualClock(T0)))
    exporter = InMemoryExporter()

    chained = metrics.collect(InferenceCollector()).export_to(exporter)

    assert chained is metrics
    metrics.record_inference("bert", "v1", 5.0, success=True)
    metrics.export()
    assert exporter.last.find(names.REQUESTS_TOTAL)[0].total == 1.0  # type: ignore[union-attr]
    metrics.close()


# -- the recording API ---------------------------------------------------------------------


def test_record_inference_success_and_failure(metrics_env: MetricsEnv) -> None:
    m = metrics_env.metrics
    m.record_inference("bert", "v1", 10.0, success=True)
    m.record_inference("bert", "v1", 20.0, success=False, error_type="Timeout")
    m.record_inference("bert", "v1", 30.0, success=False)

    assert metrics_env.counter_total(names.REQUESTS_TOTAL) == 3.0
    assert metrics_env.counter_total(names.ERRORS_TOTAL, error_type="Timeout") == 1.0
    assert metrics_env.counter_total(names.ERRORS_TOTAL, error_type="unknown") == 1.0
    latency = metrics_env.registry.snapshot().get(
        names.LATENCY, {names.MODEL_NAME: "bert", names.VERSION: "v1"}
    )
    assert isinstance(latency, DistributionSeries)
    assert (latency.count, latency.total) == (3, 60.0)


def test_error_type_with_success_raises_and_records_nothing(metrics_env: MetricsEnv) -> None:
    with pytest.raises(ValueError, match="'error_type'"):
        metrics_env.metrics.record_inference("bert", "v1", 10.0, success=True, error_type="OOM")

    assert metrics_env.counter_total(names.REQUESTS_TOTAL) == 0.0


def test_record_active_connections_and_memory_usage(metrics_env: MetricsEnv) -> None:
    m = metrics_env.metrics
    m.record_active_connections("bert", "v1", 12)
    m.record_active_connections("bert", "v1", 5)
    m.record_memory_usage("bert", "v1", 256 * 1024 * 1024)

    result = m.get_metrics("bert", "v1")

    assert result.active_connections == 5
    assert result.memory_usage_mb == 256.0


# -- queries -------------------------------------------------------------------------------


def record_mixed_batch(m: Metrics, version: str = "v1") -> None:
    """20 successes (latency 1..20 ms), 6 Timeouts (100 ms), 4 OOMs (50 ms)."""
    for i in range(1, 21):
        m.record_inference("bert", version, float(i), success=True)
    for _ in range(6):
        m.record_inference("bert", version, 100.0, success=False, error_type="Timeout")
    for _ in range(4):
        m.record_inference("bert", version, 50.0, success=False, error_type="OOM")


def test_get_metrics_exact_counts_rates_and_average(metrics_env: MetricsEnv) -> None:
    record_mixed_batch(metrics_env.metrics)
    metrics_env.clock.advance(15.0)

    result = metrics_env.metrics.get_metrics("bert", "v1", window=60)

    # The version was first seen 15 s ago, inside the 60 s window: the window starts there.
    assert result.window_start == T0
    assert result.window_end == T0 + 15
    assert result.request_count == 30
    assert result.requests_per_second == 2.0
    assert result.error_rate == 10 / 30
    assert result.errors_by_type == {"OOM": 4, "Timeout": 6}
    assert result.average_latency_ms == (210.0 + 600.0 + 200.0) / 30
    assert (result.model_name, result.version) == ("bert", "v1")


def test_get_metrics_window_rounds_to_slots_when_version_is_older(
    metrics_env: MetricsEnv,
) -> None:
    m = metrics_env.metrics
    m.record_inference("bert", "v1", 1.0, success=True)
    metrics_env.clock.advance(100.5)
    for _ in range(9):
        m.record_inference("bert", "v1", 1.0, success=True)

    result = m.get_metrics("bert", "v1", window=60)

    # Asked start T0 + 40.5; 1 s slots, so the effective start is T0 + 41.
    assert result.window_start == T0 + 41
    assert result.request_count == 9
    assert result.requests_per_second == 9 / 59.5


def test_window_accepts_timedelta_and_seconds(metrics_env: MetricsEnv) -> None:
    record_mixed_batch(metrics_env.metrics)
    metrics_env.clock.advance(3.0)

    results = [
        metrics_env.metrics.get_metrics("bert", "v1", window=window)
        for window in (300, 300.0, timedelta(minutes=5))
    ]

    # TTFT quantiles are NaN here (no streaming), so compare everything else.
    fields = [
        (
            r.window_start,
            r.window_end,
            r.request_count,
            r.requests_per_second,
            r.p50_latency_ms,
            r.p99_latency_ms,
            r.errors_by_type,
        )
        for r in results
    ]
    assert fields[0] == fields[1] == fields[2]
    assert results[2].request_count == 30
    assert results[2].window_start == T0


INVALID_WINDOWS = [0, -1, math.nan, math.inf, "5 minutes", "0s", timedelta(0), True]


@pytest.mark.parametrize("window", INVALID_WINDOWS)
def test_invalid_window_raises_naming_window(metrics_env: MetricsEnv, window: object) -> None:
    m = metrics_env.metrics
    m.record_inference("bert", "v1", 1.0, success=True)
    with pytest.raises(ValueError, match="'window'"):
        m.get_metrics("bert", "v1", window=window)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'window'"):
        m.get_all_metrics(window=window)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'window'"):
        m.compare("bert", "v1", "v2", window=window)  # type: ignore[arg-type]


@pytest.mark.parametrize("window", [0, "5 minutes"])
def test_invalid_window_raises_even_with_no_data(metrics_env: MetricsEnv, window: object) -> None:
    with pytest.raises(ValueError, match="'window'"):
        metrics_env.metrics.get_all_metrics(window=window)  # type: ignore[arg-type]


def test_get_all_metrics_keyed_model_version(metrics_env: MetricsEnv) -> None:
    m = metrics_env.metrics
    record_mixed_batch(m, "v1")
    m.record_inference("bert", "v2", 7.0, success=True)
    m.record_inference("gpt", "2024-01", 9.0, success=False, error_type="OOM")
    metrics_env.clock.advance(10.0)

    result = m.get_all_metrics(window=60)

    assert list(result) == ["bert:v1", "bert:v2", "gpt:2024-01"]
    assert result["bert:v1"].request_count == 30
    assert result["bert:v2"].request_count == 1
    assert result["bert:v2"].average_latency_ms == 7.0
    assert result["gpt:2024-01"].errors_by_type == {"OOM": 1}
    assert result["gpt:2024-01"].error_rate == 1.0


def test_unknown_version_gives_zero_counts(metrics_env: MetricsEnv) -> None:
    result = metrics_env.metrics.get_metrics("bert", "nope")

    assert result.request_count == 0
    assert result.error_rate == 0.0
    assert math.isnan(result.p95_latency_ms)


# -- comparison ----------------------------------------------------------------------------


def record_pattern(
    m: Metrics, version: str, n: int, latency: Callable[[int], float], fails: Callable[[int], bool]
) -> None:
    for i in range(n):
        if fails(i):
            m.record_inference("bert", version, latency(i), success=False, error_type="Timeout")
        else:
            m.record_inference("bert", version, latency(i), success=True)


def test_compare_slower_and_more_error_prone_candidate_is_worse(metrics_env: MetricsEnv) -> None:
    m = metrics_env.metrics
    record_pattern(m, "v1", 200, lambda i: 10.0 + i % 20, lambda i: i % 100 == 0)
    record_pattern(m, "v2", 200, lambda i: 40.0 + i % 20, lambda i: i % 5 == 0)
    metrics_env.clock.advance(5.0)

    result = m.compare("bert", "v1", "v2")

    assert result.verdict is Verdict.WORSE
    assert result.baseline.request_count == 200
    assert result.candidate.request_count == 200
    assert result.error_rate_delta == 40 / 200 - 2 / 200
    assert result.p50_latency_delta_ms > 25.0
    assert result.latency_test.effect == 1.0
    assert result.error_test.statistic > 0


def test_compare_identical_versions_shows_no_difference(metrics_env: MetricsEnv) -> None:
    m = metrics_env.metrics
    for version in ("v1", "v2"):
        record_pattern(m, version, 200, lambda i: 10.0 + i % 20, lambda i: i % 10 == 0)
    metrics_env.clock.advance(5.0)

    result = m.compare("bert", "v1", "v2", window=60)

    assert result.verdict is Verdict.NO_DIFFERENCE
    assert result.p50_latency_delta_ms == 0.0
    assert result.p99_latency_delta_ms == 0.0
    assert result.error_rate_delta == 0.0
    assert result.latency_test.p_value == 1.0


def test_compare_faster_candidate_is_better(metrics_env: MetricsEnv) -> None:
    m = metrics_env.metrics
    record_pattern(m, "v1", 200, lambda i: 40.0 + i % 20, lambda i: i % 10 == 0)
    record_pattern(m, "v2", 200, lambda i: 10.0 + i % 20, lambda i: i % 10 == 0)
    metrics_env.clock.advance(5.0)

    result = m.compare("bert", "v1", "v2")

    assert result.verdict is Verdict.BETTER
    assert result.p50_latency_delta_ms < -25.0
    assert result.error_rate_delta == 0.0


@pytest.mark.parametrize(("n", "verdict"), [(29, Verdict.INSUFFICIENT_DATA), (30, None)])
def test_compare_needs_thirty_requests_per_version(
    metrics_env: MetricsEnv, n: int, verdict: Verdict | None
) -> None:
    m = metrics_env.metrics
    record_pattern(m, "v1", n, lambda i: 10.0, lambda i: False)
    record_pattern(m, "v2", n, lambda i: 500.0, lambda i: True)
    metrics_env.clock.advance(5.0)

    result = m.compare("bert", "v1", "v2")

    if verdict is None:
        assert result.verdict is not Verdict.INSUFFICIENT_DATA
    else:
        assert result.verdict is verdict


def test_compare_with_an_unknown_candidate_is_insufficient(metrics_env: MetricsEnv) -> None:
    record_pattern(metrics_env.metrics, "v1", 100, lambda i: 10.0, lambda i: False)

    result = metrics_env.metrics.compare("bert", "v1", "v9")

    assert result.verdict is Verdict.INSUFFICIENT_DATA
    assert result.candidate.request_count == 0


# -- warnings, listener errors -------------------------------------------------------------


def test_warns_once_when_nothing_collects_the_events() -> None:
    metrics = Metrics(bus=EventBus(), registry=AggregatingRegistry(clock=ManualClock(T0)))
    with capture_logs() as logs:
        for _ in range(3):
            metrics.record_inference("bert", "v1", 1.0, success=True)
        metrics.record_inference("bert", "v1", 1.0, success=False)

    warnings = [entry for entry in logs if entry["event"] == "event_not_collected"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["event_type"] == "InferenceCompleted"
    metrics.close()


def test_no_warning_when_a_collector_listens(metrics_env: MetricsEnv) -> None:
    with capture_logs() as logs:
        metrics_env.metrics.record_inference("bert", "v1", 1.0, success=True)
        metrics_env.metrics.record_memory_usage("bert", "v1", 10)

    assert [entry for entry in logs if entry["event"] == "event_not_collected"] == []


def test_listener_errors_are_counted_in_the_registry(metrics_env: MetricsEnv) -> None:
    def boom(event: InferenceCompleted) -> None:
        raise RuntimeError("listener bug")

    metrics_env.bus.subscribe(InferenceCompleted, boom)
    with capture_logs():
        metrics_env.metrics.record_inference("bert", "v1", 1.0, success=True)
        metrics_env.metrics.record_inference("bert", "v1", 1.0, success=True)

    errors = metrics_env.registry.snapshot().find(names.LISTENER_ERRORS_TOTAL)
    assert len(errors) == 1
    assert isinstance(errors[0], CounterSeries)
    assert errors[0].total == 2.0
    assert errors[0].tags == {"event": "InferenceCompleted", "listener": listener_name(boom)}
    # The other listener, the collector, still ran.
    assert metrics_env.counter_total(names.REQUESTS_TOTAL) == 2.0


def test_listener_errors_are_no_longer_counted_after_close() -> None:
    bus, registry = EventBus(), AggregatingRegistry(clock=ManualClock(T0))
    metrics = Metrics(bus=bus, registry=registry)

    @bus.subscribe(InferenceCompleted)
    def boom(event: InferenceCompleted) -> None:
        raise RuntimeError("listener bug")

    metrics.close()
    with capture_logs():
        bus.emit(InferenceCompleted(model_name="bert", version="v1", duration_ms=1.0))

    assert registry.snapshot().find(names.LISTENER_ERRORS_TOTAL) == []
    assert bus.listener_errors == 1


# -- closing -------------------------------------------------------------------------------


def test_context_manager_closes_exports_last_time_and_unsubscribes() -> None:
    bus = EventBus()
    exporter = InMemoryExporter()
    with Metrics(bus=bus, registry=AggregatingRegistry(clock=ManualClock(T0))) as metrics:
        metrics.collect(InferenceCollector()).export_to(exporter)
        metrics.record_inference("bert", "v1", 3.0, success=True)
        assert exporter.snapshots == []

    assert exporter.closed
    assert len(exporter.snapshots) == 1
    assert exporter.find(names.REQUESTS_TOTAL)[0].total == 1.0  # type: ignore[union-attr]
    assert not bus.has_listeners(InferenceCompleted)
    metrics.close()  # a second close is a no-op
    assert len(exporter.snapshots) == 1


def test_context_manager_closes_when_the_body_raises() -> None:
    exporter = InMemoryExporter()
    with (
        pytest.raises(KeyError),
        Metrics(bus=EventBus(), registry=AggregatingRegistry()) as metrics,
    ):
        metrics.export_to(exporter)
        raise KeyError("boom")

    assert exporter.closed


def test_close_is_bounded_by_its_deadline_with_a_hung_exporter(metrics_env: MetricsEnv) -> None:
    hanging = HangingExporter(metrics_env.gate())
    metrics_env.metrics.export_to(hanging)

    began = time.monotonic()
    metrics_env.metrics.close(deadline=0.3)

    assert time.monotonic() - began < 2.0
    assert hanging.calls == 1


# -- thread safety and accuracy through the whole stack ------------------------------------

VERSIONS = ("v1", "v2", "v3")
ERROR_TYPES = ("Timeout", "OOM")


def call_pattern(thread: int, i: int) -> tuple[str, float, str | None]:
    """(version, latency, error type or None) of call ``i`` of ``thread``."""
    version = VERSIONS[(thread + i) % 3]
    error = ERROR_TYPES[(thread * i) % 2] if (thread + 3 * i) % 7 == 0 else None
    return version, float(i % 50), error


def test_hundred_threads_record_exact_counts(metrics_env: MetricsEnv) -> None:
    m = metrics_env.metrics
    threads, calls = 100, 1_000
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            barrier.wait()
            for i in range(calls):
                version, latency, error = call_pattern(thread, i)
                if error is None:
                    m.record_inference("bert", version, latency, success=True)
                else:
                    m.record_inference("bert", version, latency, success=False, error_type=error)
        except BaseException as error:  # reported below
            failures.append(error)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []

    expected_requests = dict.fromkeys(VERSIONS, 0)
    expected_errors: dict[str, dict[str, int]] = {v: {} for v in VERSIONS}
    for t in range(threads):
        for i in range(calls):
            version, _, error = call_pattern(t, i)
            expected_requests[version] += 1
            if error is not None:
                expected_errors[version][error] = expected_errors[version].get(error, 0) + 1

    snapshot = metrics_env.registry.snapshot()
    for version in VERSIONS:
        result = m.get_metrics("bert", version, window=60)
        assert result.request_count == expected_requests[version]
        assert result.errors_by_type == dict(sorted(expected_errors[version].items()))
        latency = snapshot.get(names.LATENCY, {names.MODEL_NAME: "bert", names.VERSION: version})
        assert isinstance(latency, DistributionSeries)
        assert latency.count == expected_requests[version]
    assert sum(expected_requests.values()) == threads * calls
    assert metrics_env.counter_total(names.REQUESTS_TOTAL) == threads * calls


def test_latency_quantiles_match_numpy_within_one_percent(metrics_env: MetricsEnv) -> None:
    m = metrics_env.metrics
    rng = np.random.default_rng(20240601)
    old = rng.lognormal(mean=math.log(500.0), sigma=0.5, size=2_000)
    for value in old.tolist():
        m.record_inference("bert", "v1", value, success=True)
    metrics_env.clock.advance(300.0)  # the old batch falls out of a 60 s window

    samples = rng.lognormal(mean=math.log(50.0), sigma=0.5, size=20_000)
    for batch in np.array_split(samples, 20):
        for value in batch.tolist():
            m.record_inference("bert", "v1", value, success=True)
        metrics_env.clock.advance(1.0)

    result = m.get_metrics("bert", "v1", window=60)

    assert result.request_count == 20_000
    p50, p95, p99 = np.percentile(samples, [50, 95, 99])
    assert result.p50_latency_ms == pytest.approx(p50, rel=0.01)
    assert result.p95_latency_ms == pytest.approx(p95, rel=0.01)
    assert result.p99_latency_ms == pytest.approx(p99, rel=0.01)
    assert result.average_latency_ms == pytest.approx(float(np.mean(samples)), rel=1e-9)


def test_events_older_than_the_window_are_excluded(metrics_env: MetricsEnv) -> None:
    m = metrics_env.metrics
    for _ in range(50):
        m.record_inference("bert", "v1", 1_000.0, success=False, error_type="Timeout")
    metrics_env.clock.advance(61.0)
    for _ in range(10):
        m.record_inference("bert", "v1", 10.0, success=True)
    metrics_env.clock.advance(1.0)

    recent = m.get_metrics("bert", "v1", window=60)
    both = m.get_metrics("bert", "v1", window=300)

    assert recent.request_count == 10
    assert recent.errors_by_type == {}
    assert recent.error_rate == 0.0
    assert recent.p99_latency_ms == 10.0
    assert recent.average_latency_ms == 10.0
    assert both.request_count == 60
    assert both.errors_by_type == {"Timeout": 50}


# -- exporting through the facade ----------------------------------------------------------


def test_raising_exporter_does_not_stop_the_others(metrics_env: MetricsEnv) -> None:
    memory = InMemoryExporter()
    m = metrics_env.metrics.export_to(RaisingExporter()).export_to(memory)
    m.record_inference("bert", "v1", 1.0, success=True)

    with capture_logs():
        outcomes = m.export()

    assert [(o.exporter, o.status) for o in outcomes] == [
        ("RaisingExporter", "error"),
        ("InMemoryExporter", "ok"),
    ]
    assert "backend down" in (outcomes[0].error or "")
    assert len(memory.snapshots) == 1
    assert (
        metrics_env.counter_total(
            names.EXPORT_ERRORS_TOTAL, exporter="RaisingExporter", reason="error"
        )
        == 1.0
    )


def test_hung_exporter_times_out_then_is_skipped_as_busy(metrics_env: MetricsEnv) -> None:
    memory = InMemoryExporter()
    hanging = HangingExporter(metrics_env.gate())
    m = metrics_env.metrics.export_to(hanging, timeout=0.3).export_to(memory)

    with capture_logs():
        began = time.monotonic()
        first = m.export()
        first_seconds = time.monotonic() - began
        began = time.monotonic()
        second = m.export()
        second_seconds = time.monotonic() - began

    assert first_seconds < 2.0
    assert [(o.exporter, o.status) for o in first] == [
        ("HangingExporter", "timeout"),
        ("InMemoryExporter", "ok"),
    ]
    assert second_seconds < 0.25  # did not wait for the 0.3 s timeout again
    assert [(o.exporter, o.status) for o in second] == [
        ("HangingExporter", "busy"),
        ("InMemoryExporter", "ok"),
    ]
    assert hanging.calls == 1
    assert len(memory.snapshots) == 2
    for reason in ("timeout", "busy"):
        total = metrics_env.counter_total(
            names.EXPORT_ERRORS_TOTAL, exporter="HangingExporter", reason=reason
        )
        assert total == 1.0


def test_hung_exporter_recovers_once_it_returns(metrics_env: MetricsEnv) -> None:
    gate = metrics_env.gate()
    hanging = HangingExporter(gate)
    m = metrics_env.metrics.export_to(hanging, timeout=0.2)
    with capture_logs():
        assert [o.status for o in m.export()] == ["timeout"]
    gate.set()

    assert wait_until(lambda: m.export()[0].status == "ok", timeout=2.0)
    assert hanging.calls >= 2


def test_slow_exporter_within_its_timeout_is_ok(metrics_env: MetricsEnv) -> None:
    class SlowExporter:
        def export(self, snapshot: Snapshot) -> None:
            time.sleep(0.1)

        def close(self) -> None:
            pass

    outcomes = metrics_env.metrics.export_to(SlowExporter(), timeout=2.0).export()

    assert [(o.exporter, o.status) for o in outcomes] == [("SlowExporter", "ok")]
    assert outcomes[0].seconds >= 0.09
    assert metrics_env.registry.snapshot().find(names.EXPORT_ERRORS_TOTAL) == []


def test_recording_continues_during_a_hung_export(metrics_env: MetricsEnv) -> None:
    gate = metrics_env.gate()
    hanging = HangingExporter(gate)
    m = metrics_env.metrics.export_to(hanging, timeout=5.0)
    m.record_inference("bert", "v1", 1.0, success=True)
    outcomes: list[list[object]] = []
    exporting = threading.Thread(target=lambda: outcomes.append(list(m.export())))
    exporting.start()
    assert hanging.entered.wait(2.0)

    for i in range(500):
        m.record_inference("bert", "v1", 2.0, success=i % 5 != 0)
    during = m.get_metrics("bert", "v1")
    still_exporting = exporting.is_alive()
    gate.set()
    exporting.join(5.0)

    assert still_exporting
    assert during.request_count == 501
    assert during.errors_by_type == {"unknown": 100}
    assert not exporting.is_alive()
    assert [o.status for o in outcomes[0]] == ["ok"]  # type: ignore[attr-defined]


def test_concurrent_exports_are_serialised(metrics_env: MetricsEnv) -> None:
    counting = OverlapDetectingExporter(pause=0.01)
    m = metrics_env.metrics.export_to(counting)
    barrier = threading.Barrier(10)
    statuses: list[str] = []
    lock = threading.Lock()

    def export() -> None:
        barrier.wait()
        result = m.export()
        with lock:
            statuses.extend(o.status for o in result)

    threads = [threading.Thread(target=export) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10.0)

    assert counting.calls == 10
    assert not counting.overlapped
    assert statuses == ["ok"] * 10


def test_exporter_names_are_deduplicated(metrics_env: MetricsEnv) -> None:
    m = metrics_env.metrics
    m.export_to(ConsoleLikeExporter()).export_to(ConsoleLikeExporter())
    m.export_to(ConsoleLikeExporter(), name="ConsoleLikeExporter_3")
    m.export_to(ConsoleLikeExporter())

    assert [o.exporter for o in m.export()] == [
        "ConsoleLikeExporter",
        "ConsoleLikeExporter_2",
        "ConsoleLikeExporter_3",
        "ConsoleLikeExporter_4",
    ]


def test_duplicate_explicit_exporter_names_raise(metrics_env: MetricsEnv) -> None:
    m = metrics_env.metrics.export_to(ConsoleLikeExporter(), name="console")

    with pytest.raises(ValueError, match="'console'"):
        m.export_to(ConsoleLikeExporter(), name="console")


@pytest.mark.parametrize("timeout", [-1.0, math.nan])
def test_invalid_exporter_timeout_raises(metrics_env: MetricsEnv, timeout: float) -> None:
    with pytest.raises(ValueError, match="'timeout'"):
        metrics_env.metrics.export_to(ConsoleLikeExporter(), timeout=timeout)


def test_zero_exporter_timeout_raises(metrics_env: MetricsEnv) -> None:
    with pytest.raises(ValueError, match="'timeout'"):
        metrics_env.metrics.export_to(ConsoleLikeExporter(), timeout=0)


# -- auto-export ---------------------------------------------------------------------------


def test_auto_export_collects_snapshots(metrics_env: MetricsEnv) -> None:
    memory = InMemoryExporter()
    m = metrics_env.metrics.export_to(memory)
    m.record_inference("bert", "v1", 1.0, success=True)

    m.start_auto_export(0.05)

    assert wait_until(lambda: len(memory.snapshots) >= 3, timeout=3.0)
    m.stop_auto_export()
    assert memory.find(names.REQUESTS_TOTAL)[0].total == 1.0  # type: ignore[union-attr]


def test_auto_export_slower_than_its_interval_never_overlaps(metrics_env: MetricsEnv) -> None:
    slow = OverlapDetectingExporter(pause=0.1)
    m = metrics_env.metrics.export_to(slow)

    m.start_auto_export(0.02)
    assert wait_until(lambda: slow.calls >= 3, timeout=5.0)
    m.stop_auto_export()

    assert not slow.overlapped


def test_a_hung_exporter_does_not_slow_the_others_auto_export(metrics_env: MetricsEnv) -> None:
    gate = metrics_env.gate()
    hanging = HangingExporter(gate)
    memory = InMemoryExporter()
    # The hung exporter's own timeout (10 s) is far longer than the interval: a round
    # still ends on the interval, and later rounds skip it as busy.
    m = metrics_env.metrics.export_to(hanging, timeout=10.0).export_to(memory)

    with capture_logs():
        m.start_auto_export(0.05)
        assert wait_until(lambda: len(memory.snapshots) >= 10, timeout=3.0)
        m.stop_auto_export()
    gate.set()

    assert hanging.calls == 1
    timeouts = metrics_env.counter_total(
        names.EXPORT_ERRORS_TOTAL, exporter="HangingExporter", reason="timeout"
    )
    busy = metrics_env.counter_total(
        names.EXPORT_ERRORS_TOTAL, exporter="HangingExporter", reason="busy"
    )
    assert timeouts == 1.0
    assert busy >= 8.0


def test_stop_auto_export_stops_it(metrics_env: MetricsEnv) -> None:
    memory = InMemoryExporter()
    m = metrics_env.metrics.export_to(memory)
    m.start_auto_export(0.02)
    assert wait_until(lambda: len(memory.snapshots) >= 1, timeout=3.0)

    m.stop_auto_export()
    stopped_at = len(memory.snapshots)
    time.sleep(0.2)

    assert len(memory.snapshots) == stopped_at
    assert not any(t.name == "metrics-auto-export" and t.is_alive() for t in threading.enumerate())


def test_restarting_auto_export_keeps_one_loop(metrics_env: MetricsEnv) -> None:
    m = metrics_env.metrics.export_to(InMemoryExporter())
    m.start_auto_export(0.5)
    m.start_auto_export(0.5)

    loops = [t for t in threading.enumerate() if t.name == "metrics-auto-export"]
    m.stop_auto_export()
    assert len(loops) == 1


@pytest.mark.parametrize("interval", [0, -1.0, math.nan])
def test_invalid_auto_export_interval_raises(metrics_env: MetricsEnv, interval: float) -> None:
    with pytest.raises(ValueError, match="'interval'"):
        metrics_env.metrics.start_auto_export(interval)


def test_close_is_bounded_while_another_export_holds_the_lock(metrics_env: MetricsEnv) -> None:
    hanging = HangingExporter(metrics_env.gate())
    m = metrics_env.metrics.export_to(hanging, timeout=3.0)
    exporting = threading.Thread(target=m.export)
    exporting.start()
    assert hanging.entered.wait(2.0)

    began = time.monotonic()
    with capture_logs():
        m.close(deadline=0.3)
    seconds = time.monotonic() - began

    assert seconds < 2.0
    assert exporting.is_alive()  # the close did not wait for the hung export
    metrics_env.gates[0].set()
    exporting.join(5.0)


def test_close_gives_healthy_exporters_time_while_another_export_hangs(
    metrics_env: MetricsEnv,
) -> None:
    healthy = OverlapDetectingExporter(pause=0.2)
    hanging = HangingExporter(metrics_env.gate())
    m = metrics_env.metrics.export_to(hanging, timeout=3.0).export_to(healthy)
    exporting = threading.Thread(target=m.export)
    exporting.start()
    assert hanging.entered.wait(2.0)
    assert wait_until(lambda: healthy.calls == 1, timeout=2.0)

    with capture_logs():
        m.close(deadline=1.0)

    assert healthy.calls == 2
    assert (
        metrics_env.counter_total(names.EXPORT_ERRORS_TOTAL, exporter="OverlapDetectingExporter")
        == 0.0
    )
