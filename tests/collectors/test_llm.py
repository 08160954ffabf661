"""LlmCollector: total tokens, streamed characters and chunks per second."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from collectors import LlmCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import InferenceCompleted
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import DistributionSeries

MV: dict[str, Any] = {"model_name": "gpt", "version": "v1"}


@pytest.fixture
def env() -> Iterator[tuple[EventBus, AggregatingRegistry]]:
    bus = EventBus()
    registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
    metrics = Metrics(bus=bus, registry=registry).collect(LlmCollector())
    yield bus, registry
    metrics.close()


def observed(registry: AggregatingRegistry, name: str) -> tuple[int, float, float, float]:
    series = registry.snapshot().get(name, MV)
    assert isinstance(series, DistributionSeries), name
    return series.count, series.total, series.all_time.minimum, series.all_time.maximum


def test_total_tokens_streamed_chars_and_chunk_rate(
    env: tuple[EventBus, AggregatingRegistry],
) -> None:
    bus, registry = env
    # 20 chunks, 600 characters, first chunk at 200 ms of 1200 ms: 20 chunks in 1 s.
    bus.emit(
        InferenceCompleted(
            **MV,
            duration_ms=1200.0,
            time_to_first_token_ms=200.0,
            input_tokens=100,
            output_tokens=50,
            cached_tokens=40,
            stream_chunks=20,
            stream_chars=600,
        )
    )
    # No TTFT: 30 chunks over the whole 500 ms.
    bus.emit(InferenceCompleted(**MV, duration_ms=500.0, output_tokens=7, stream_chunks=30))

    assert observed(registry, names.TOTAL_TOKENS) == (2, 157.0, 7.0, 150.0)
    assert observed(registry, names.STREAM_CHARS) == (1, 600.0, 600.0, 600.0)
    assert observed(registry, names.STREAM_CHUNKS_PER_SECOND) == (2, 80.0, 20.0, 60.0)


def test_requests_without_llm_fields_record_nothing(
    env: tuple[EventBus, AggregatingRegistry],
) -> None:
    bus, registry = env
    bus.emit(InferenceCompleted(**MV, duration_ms=3.0, confidence=0.9))
    bus.emit(InferenceCompleted(**MV, duration_ms=0.0, stream_chunks=5))  # no time: no rate
    bus.emit(InferenceCompleted(**MV, duration_ms=10.0, stream_chunks=0))  # an empty stream

    assert [s.name for s in registry.snapshot()] == []


def test_a_first_token_at_the_end_rates_over_the_whole_duration(
    env: tuple[EventBus, AggregatingRegistry],
) -> None:
    bus, registry = env
    bus.emit(
        InferenceCompleted(**MV, duration_ms=250.0, time_to_first_token_ms=250.0, stream_chunks=1)
    )

    assert observed(registry, names.STREAM_CHUNKS_PER_SECOND) == (1, 4.0, 4.0, 4.0)


def test_counts_are_exact_under_many_threads(env: tuple[EventBus, AggregatingRegistry]) -> None:
    bus, registry = env
    threads, per_thread = 8, 500
    fields: dict[str, Any] = {"duration_ms": 100.0, "input_tokens": 3, "output_tokens": 4}

    def work(n: int) -> None:
        for _ in range(per_thread):
            bus.emit(InferenceCompleted(**MV, **fields, stream_chunks=2, stream_chars=n))

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    total = threads * per_thread
    assert observed(registry, names.TOTAL_TOKENS) == (total, 7.0 * total, 7.0, 7.0)
    chars = sum(range(threads)) * per_thread
    assert observed(registry, names.STREAM_CHARS) == (total, chars, 0.0, threads - 1.0)
    assert observed(registry, names.STREAM_CHUNKS_PER_SECOND)[:2] == (total, 20.0 * total)


def test_stream_chars_must_be_a_count() -> None:
    with pytest.raises(ValueError, match=r"'stream_chars' must be an int >= 0 or None: -1"):
        InferenceCompleted(**MV, duration_ms=1.0, stream_chars=-1)
