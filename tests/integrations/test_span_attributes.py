"""``attributes=`` on track_inference and inference_span, and ``span.attributes``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from collectors import InferenceCollector
from integrations import current_span, inference_span, track_inference
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import Event, InferenceStarted
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.tags import Tags


def wired() -> tuple[Metrics, list[Event]]:
    registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
    metrics = Metrics(bus=EventBus(), registry=registry)
    metrics.collect(InferenceCollector(dimensions=("provider", "finish_reason")))
    seen: list[Event] = []
    metrics.bus.subscribe(Event, seen.append)
    return metrics, seen


def test_span_sets_attributes_that_land_on_its_events_and_series() -> None:
    metrics, seen = wired()
    with inference_span("chat", "v1", bus=metrics, attributes={"provider": "openai"}) as span:
        span.chunk()
        span.attributes["finish_reason"] = "length"
    started, first, completed = seen
    assert isinstance(started, InferenceStarted)
    assert started.attributes == Tags({"provider": "openai"})
    # each event carries the attributes set when it is sent
    assert first.attributes == Tags({"provider": "openai"})  # type: ignore[attr-defined]
    assert completed.attributes == Tags({"provider": "openai", "finish_reason": "length"})  # type: ignore[attr-defined]
    (requests,) = metrics.snapshot().find(names.REQUESTS_TOTAL)
    assert requests.tags == Tags(
        {"model_name": "chat", "version": "v1", "provider": "openai", "finish_reason": "length"}
    )


def test_span_attributes_are_validated_when_set_and_frozen_after_the_end() -> None:
    metrics, _ = wired()
    with inference_span("chat", "v1", bus=metrics) as span:
        with pytest.raises(ValueError, match="'attributes\\['k'\\]' must be a str"):
            span.attributes["k"] = [1]  # type: ignore[assignment]
        with pytest.raises(ValueError, match="'attributes': tag key must be an identifier"):
            span.attributes["a b"] = 1
        span.attributes["streamed"] = False
        del span.attributes["streamed"]
    with pytest.raises(RuntimeError, match="has ended"):
        span.attributes["late"] = "x"
    with pytest.raises(TypeError, match="'attributes' must be a mapping"):
        inference_span("chat", "v1", bus=metrics, attributes=["x"])  # type: ignore[arg-type]


def test_decorator_attributes_apply_to_every_call_and_the_callee_adds_its_own() -> None:
    metrics, _ = wired()

    @track_inference("chat", "v1", bus=metrics, attributes={"provider": "anthropic"})
    def answer(reason: str) -> str:
        span = current_span()
        assert span is not None
        span.attributes["finish_reason"] = reason
        return reason

    @track_inference("chat", "v1", bus=metrics, attributes={"provider": "anthropic"})
    def stream() -> Iterator[str]:
        yield "a"

    @track_inference("chat", "v1", bus=metrics, attributes={"provider": "openai"})
    async def async_answer() -> str:
        return "x"

    @track_inference("chat", "v1", bus=metrics, attributes={"provider": "openai"})
    async def async_stream() -> AsyncIterator[str]:
        yield "a"

    async def consume() -> None:
        await async_answer()
        async for _ in async_stream():
            pass

    answer("stop")
    answer("stop")
    answer("length")
    list(stream())
    asyncio.run(consume())
    split = metrics.get_all_metrics(60, by=("provider", "finish_reason"))
    assert {key: m.request_count for key, m in split.items()} == {
        "chat:v1|provider=anthropic": 1,
        "chat:v1|provider=anthropic|finish_reason=length": 1,
        "chat:v1|provider=anthropic|finish_reason=stop": 2,
        "chat:v1|provider=openai": 2,
    }


def test_bad_decorator_attributes_fail_at_decoration() -> None:
    with pytest.raises(ValueError, match="'attributes\\['k'\\]' must be a str"):
        track_inference("chat", "v1", attributes={"k": None})  # type: ignore[dict-item]
