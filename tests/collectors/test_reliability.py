"""ReliabilityCollector: retries and circuit-breaker state from known event sequences."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from collectors.reliability import ReliabilityCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import CircuitBreakerChanged, CircuitState, RetryAttempted
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries, Snapshot

T0 = 1_700_000_000.0
MV = {names.MODEL_NAME: "gpt", names.VERSION: "v1"}


class ReliabilityEnv:
    def __init__(self) -> None:
        self.bus = EventBus()
        self.registry = AggregatingRegistry(clock=ManualClock(T0))
        self.metrics = Metrics(bus=self.bus, registry=self.registry).collect(ReliabilityCollector())

    def retry(self, error_type: str, delay_ms: float = 0.0, attempt: int = 1) -> None:
        self.bus.emit(
            RetryAttempted(
                model_name="gpt",
                version="v1",
                attempt=attempt,
                error_type=error_type,
                delay_ms=delay_ms,
            )
        )

    def breaker(self, previous: str, state: str, breaker: str = "default") -> None:
        self.bus.emit(
            CircuitBreakerChanged(
                model_name="gpt", version="v1", previous=previous, state=state, breaker=breaker
            )
        )

    def snapshot(self) -> Snapshot:
        return self.registry.snapshot()

    def counter(self, name: str, **tags: str) -> float:
        series = self.snapshot().get(name, {**MV, **tags})
        assert isinstance(series, CounterSeries), f"no counter {name} {tags}"
        return series.total

    def state(self, breaker: str = "default") -> float:
        series = self.snapshot().get(names.CIRCUIT_BREAKER_STATE, {**MV, "breaker": breaker})
        assert isinstance(series, GaugeSeries)
        return series.value


@pytest.fixture
def env() -> Iterator[ReliabilityEnv]:
    reliability = ReliabilityEnv()
    yield reliability
    reliability.metrics.close()


def test_retries_are_counted_by_error_type_and_delays_timed(env: ReliabilityEnv) -> None:
    env.retry("Timeout", delay_ms=100.0, attempt=1)
    env.retry("Timeout", delay_ms=200.0, attempt=2)
    env.retry("Timeout", delay_ms=0.0, attempt=3)
    env.retry("RateLimited", delay_ms=1_000.0)

    assert env.counter(names.RETRIES_TOTAL, error_type="Timeout") == 3.0
    assert env.counter(names.RETRIES_TOTAL, error_type="RateLimited") == 1.0
    delay = env.snapshot().get(names.RETRY_DELAY, MV)
    assert isinstance(delay, DistributionSeries)
    assert delay.kind.value == "timer"
    assert (delay.count, delay.total) == (4, 1_300.0)
    assert (delay.all_time.minimum, delay.all_time.maximum) == (0.0, 1_000.0)


def test_breaker_state_gauge_follows_transitions(env: ReliabilityEnv) -> None:
    env.breaker("closed", "open")
    assert env.state() == 2.0
    env.breaker("open", "half_open")
    assert env.state() == 1.0
    env.breaker("half_open", "closed")
    assert env.state() == 0.0
    env.breaker("closed", "open")

    assert env.state() == 2.0
    transitions = {
        (s.tags["from"], s.tags["to"]): s.total
        for s in env.snapshot().find(names.CIRCUIT_BREAKER_TRANSITIONS_TOTAL)
        if isinstance(s, CounterSeries)
    }
    assert transitions == {
        ("closed", "open"): 2.0,
        ("open", "half_open"): 1.0,
        ("half_open", "closed"): 1.0,
    }


def test_breakers_are_kept_apart(env: ReliabilityEnv) -> None:
    env.breaker("closed", "open", breaker="search")
    env.breaker("closed", "half_open", breaker="embeddings")

    assert env.state("search") == 2.0
    assert env.state("embeddings") == 1.0
    opened = {"from": "closed", "to": "open"}
    assert env.counter(names.CIRCUIT_BREAKER_TRANSITIONS_TOTAL, breaker="search", **opened) == 1


def test_state_values_match_circuit_state() -> None:
    assert [state.gauge_value for state in CircuitState] == [0.0, 1.0, 2.0]


def test_counts_are_exact_under_many_threads(env: ReliabilityEnv) -> None:
    threads, per_thread = 8, 500
    start = threading.Barrier(threads)

    def work(index: int) -> None:
        start.wait()
        for i in range(per_thread):
            env.retry("Timeout" if i % 2 else f"E{index}", delay_ms=2.0)
            env.breaker("closed", "open", breaker=f"b{index % 2}")

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    total = threads * per_thread
    assert env.counter(names.RETRIES_TOTAL, error_type="Timeout") == total / 2
    assert all(
        env.counter(names.RETRIES_TOTAL, error_type=f"E{n}") == per_thread / 2
        for n in range(threads)
    )
    delay = env.snapshot().get(names.RETRY_DELAY, MV)
    assert isinstance(delay, DistributionSeries)
    assert (delay.count, delay.total) == (total, 2 * total)
    opened = {"from": "closed", "to": "open"}
    for breaker in ("b0", "b1"):
        transitions = env.counter(
            names.CIRCUIT_BREAKER_TRANSITIONS_TOTAL, breaker=breaker, **opened
        )
        assert transitions == total / 2


def test_bad_events_are_rejected_naming_the_field() -> None:
    with pytest.raises(ValueError, match="'state'"):
        CircuitBreakerChanged(model_name="gpt", version="v1", previous="closed", state="melted")
    with pytest.raises(ValueError, match="'delay_ms'"):
        RetryAttempted(model_name="gpt", version="v1", attempt=1, error_type="E", delay_ms=-1.0)
