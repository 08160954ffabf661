"""Streamed characters: ``track_inference`` and ``inference_span`` count the text they stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from collectors import InferenceCollector, LlmCollector
from integrations import inference_span, track_inference
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.events import InferenceCompleted
from metrics_core.facade import Metrics
from metrics_core.snapshot import DistributionSeries


def completions(bus: EventBus) -> list[InferenceCompleted]:
    seen: list[InferenceCompleted] = []
    bus.subscribe(InferenceCompleted, seen.append)
    return seen


def test_sync_and_async_text_streams_report_their_characters() -> None:
    bus = EventBus()
    seen = completions(bus)

    @track_inference("llm", "v1", bus=bus)
    def stream() -> Iterator[str]:
        yield from ("Hel", "lo, ", "world")

    @track_inference("llm", "v1", bus=bus)
    async def astream() -> AsyncIterator[str]:
        for part in ("ab", "", "cde"):
            yield part

    async def consume() -> str:
        return "".join([part async for part in astream()])

    assert "".join(stream()) == "Hello, world"
    assert asyncio.run(consume()) == "abcde"

    assert [(e.stream_chunks, e.stream_chars) for e in seen] == [(3, 12), (3, 5)]


def test_non_text_chunks_count_no_characters_and_spans_take_text() -> None:
    bus = EventBus()
    seen = completions(bus)

    @track_inference("llm", "v1", bus=bus)
    def stream() -> Iterator[bytes]:
        yield from (b"ab", b"cd")

    assert list(stream()) == [b"ab", b"cd"]
    with inference_span("llm", "v1", bus=bus) as span:
        span.chunk("four")
        span.chunk()  # a chunk whose text the caller did not pass
        span.chunk("!")

    assert [(e.stream_chunks, e.stream_chars) for e in seen] == [(2, None), (3, 5)]


def test_llm_collector_records_the_characters_of_tracked_streams() -> None:
    metrics = Metrics(bus=EventBus()).collect(InferenceCollector()).collect(LlmCollector())

    @track_inference("llm", "v1", bus=metrics)
    def stream() -> Iterator[str]:
        yield from ("x" * 10, "y" * 20)

    for _ in range(3):
        assert len("".join(stream())) == 30

    chars = metrics.snapshot().get(names.STREAM_CHARS, {"model_name": "llm", "version": "v1"})
    assert isinstance(chars, DistributionSeries)
    assert (chars.count, chars.total) == (3, 90.0)
    metrics.close()
