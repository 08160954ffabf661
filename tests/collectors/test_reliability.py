"""ReliabilityCollector: retries and circuit-breaker state from known event sequences."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from collectors import InferenceCollector
from collectors.reliability import ReliabilityCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.errors import ERROR_CATEGORIES, classify_error
from metrics_core.events import (
    CircuitBreakerChanged,
    CircuitState,
    InferenceFailed,
    RetriesFinished,
    RetryAttempted,
)
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

    timeouts = env.counter(names.RETRIES_TOTAL, error_type="Timeout", error_category="timeout")
    limited = env.counter(
        names.RETRIES_TOTAL, error_type="RateLimited", error_category="rate_limit"
    )
    assert (timeouts, limited) == (3.0, 1.0)
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
    timeouts = env.counter(names.RETRIES_TOTAL, error_type="Timeout", error_category="timeout")
    assert timeouts == total / 2
    assert all(
        env.counter(names.RETRIES_TOTAL, error_type=f"E{n}", error_category="other")
        == per_thread / 2
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


# -- retried requests, error categories ----------------------------------------------------


def test_retried_requests_count_success_total_delay_and_retries(env: ReliabilityEnv) -> None:
    for retries, succeeded, waited in ((1, True, 100.0), (3, True, 700.0), (2, False, 300.0)):
        env.bus.emit(
            RetriesFinished(
                model_name="gpt",
                version="v1",
                retries=retries,
                succeeded=succeeded,
                total_delay_ms=waited,
            )
        )

    assert env.counter(names.RETRIED_REQUESTS_TOTAL, outcome="succeeded") == 2.0
    assert env.counter(names.RETRIED_REQUESTS_TOTAL, outcome="failed") == 1.0
    total_delay = env.snapshot().get(names.RETRY_TOTAL_DELAY, MV)
    assert isinstance(total_delay, DistributionSeries)
    assert (total_delay.kind.value, total_delay.count, total_delay.total) == ("timer", 3, 1_100.0)
    per_request = env.snapshot().get(names.RETRIES_PER_REQUEST, MV)
    assert isinstance(per_request, DistributionSeries)
    assert (per_request.count, per_request.total, per_request.all_time.maximum) == (3, 6.0, 3.0)


def test_an_explicit_category_wins_and_a_custom_classifier_is_used() -> None:
    bus = EventBus()
    registry = AggregatingRegistry(clock=ManualClock(T0))
    collector = ReliabilityCollector(error_classifier=lambda error: "quota")
    metrics = Metrics(bus=bus, registry=registry).collect(collector)
    for category in (None, "server"):
        bus.emit(
            RetryAttempted(
                model_name="gpt", version="v1", attempt=1, error_type="E", error_category=category
            )
        )
    metrics.close()

    got = {
        s.tags[names.ERROR_CATEGORY]: s.total
        for s in registry.snapshot().find(names.RETRIES_TOTAL)
        if isinstance(s, CounterSeries)
    }
    assert got == {"quota": 1.0, "server": 1.0}


class RateLimitError(Exception):
    """Named like the OpenAI and Anthropic SDKs' exception."""


class APIStatusError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(status_code)
        self.status_code = status_code


class Response:
    status_code = 503


class HTTPStatusError(Exception):
    response = Response()


class ReadTimeout(OSError):  # noqa: N818
    """Named like httpx's."""


@pytest.mark.parametrize(
    ("error", "category"),
    [
        (408, "timeout"),
        (504, "timeout"),
        (429, "rate_limit"),
        (500, "server"),
        (503, "server"),
        (400, "client"),
        (404, "client"),
        (302, "other"),
        ("429", "rate_limit"),
        (TimeoutError(), "timeout"),
        (TimeoutError, "timeout"),
        (ConnectionResetError(), "network"),
        (RateLimitError(), "rate_limit"),
        (ReadTimeout(), "timeout"),
        (APIStatusError(429), "rate_limit"),
        (HTTPStatusError(), "server"),
        ("RateLimited", "rate_limit"),
        ("ReadTimeout", "timeout"),
        ("APIConnectionError", "network"),
        ("InternalServerError", "server"),
        ("ServiceUnavailable", "server"),
        ("AuthenticationError", "client"),
        ("BadRequestError", "client"),
        ("ValueError", "other"),
        (KeyError("x"), "other"),
        (None, "other"),
        (True, "other"),
    ],
)
def test_classify_error(error: object, category: str) -> None:
    assert classify_error(error) == category
    assert category in ERROR_CATEGORIES


def test_a_classifier_must_be_callable() -> None:
    with pytest.raises(TypeError, match="'error_classifier' must be callable: 3"):
        ReliabilityCollector(error_classifier=3)  # type: ignore[arg-type]


def test_inference_errors_carry_the_category_when_a_classifier_is_given() -> None:
    bus = EventBus()
    registry = AggregatingRegistry(clock=ManualClock(T0))
    collector = InferenceCollector(error_classifier=classify_error)
    metrics = Metrics(bus=bus, registry=registry).collect(collector)
    for error_type in ("RateLimitError", "RateLimitError", "ReadTimeout", "503", "ValueError"):
        bus.emit(
            InferenceFailed(model_name="gpt", version="v1", duration_ms=1.0, error_type=error_type)
        )
    metrics.close()

    got = {
        (s.tags[names.ERROR_TYPE], s.tags[names.ERROR_CATEGORY]): s.total
        for s in registry.snapshot().find(names.ERRORS_TOTAL)
        if isinstance(s, CounterSeries)
    }
    assert got == {
        ("RateLimitError", "rate_limit"): 2.0,
        ("ReadTimeout", "timeout"): 1.0,
        ("503", "server"): 1.0,
        ("ValueError", "other"): 1.0,
    }
    plain = Metrics(bus=EventBus(), registry=AggregatingRegistry()).collect(InferenceCollector())
    plain.bus.emit(InferenceFailed(model_name="gpt", version="v1", duration_ms=1.0, error_type="E"))
    (series,) = plain.snapshot().find(names.ERRORS_TOTAL)
    assert dict(series.tags) == {"model_name": "gpt", "version": "v1", "error_type": "E"}
    plain.close()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"retries": 0}, "'retries' must be an int >= 1: 0"),
        ({"succeeded": 1}, "'succeeded' must be a bool: 1"),
        ({"total_delay_ms": -5.0}, "'total_delay_ms' must be >= 0: -5.0"),
    ],
)
def test_retries_finished_is_validated_naming_the_field(
    fields: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {"retries": 2, "succeeded": True, "total_delay_ms": 1.0, **fields}
    with pytest.raises(ValueError) as error:
        RetriesFinished(model_name="gpt", version="v1", **values)  # type: ignore[arg-type]
    assert str(error.value).startswith(message)
