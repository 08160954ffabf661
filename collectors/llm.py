"""``LlmCollector``: total tokens, streamed characters and chunks per second, per version."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import ClassVar

from collectors._cache import cache_once
from collectors.base import BaseCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.events import Event, InferenceCompleted
from metrics_core.registry import Registry
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

__all__ = ["LlmCollector"]


class _Instruments:
    __slots__ = ("chars", "chunk_rate", "total_tokens")

    def __init__(self, registry: Registry, tags: Tags) -> None:
        histogram = MetricKind.HISTOGRAM
        self.total_tokens = registry.instrument(histogram, names.TOTAL_TOKENS, tags)
        self.chars = registry.instrument(histogram, names.STREAM_CHARS, tags)
        self.chunk_rate = registry.instrument(histogram, names.STREAM_CHUNKS_PER_SECOND, tags)


class LlmCollector(BaseCollector):
    """Records seed 004's request and streaming metrics that ``InferenceCollector`` leaves out.

    From each ``InferenceCompleted``, per ``model_name`` and ``version``:

    - ``model_inference_total_tokens`` (histogram): ``input_tokens + output_tokens``
      of a request that reports either (cached tokens are part of the input);
    - ``model_inference_stream_chars`` (histogram): ``stream_chars``, the
      characters a streamed response yielded;
    - ``model_inference_stream_chunks_per_second`` (histogram): ``stream_chunks``
      over the streaming time, from the first chunk to the end
      (``duration_ms - time_to_first_token_ms``), or over ``duration_ms`` when the
      event has no time to first token; only for streams of at least one chunk
      that took some time.

    Use it beside ``InferenceCollector``, which records the tokens by type and the
    chunks per response.
    """

    subscriptions: ClassVar[Mapping[type[Event], str]] = {InferenceCompleted: "on_completed"}

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[tuple[str, str], _Instruments] = {}

    def bind(self, registry: Registry, bus: EventBus) -> None:
        """Keep the registry; instruments bound to an earlier one are dropped."""
        super().bind(registry, bus)
        with self._lock:
            self._versions = {}

    def _instruments(self, model_name: str, version: str) -> _Instruments:
        key = (model_name, version)
        found = self._versions.get(key)
        if found is None:
            tags = Tags({names.MODEL_NAME: model_name, names.VERSION: version})
            found = cache_once(
                self._versions, key, self._lock, lambda: _Instruments(self.registry, tags)
            )
        return found

    def on_completed(self, event: InferenceCompleted) -> None:
        """Record what the completion says of tokens and streaming."""
        input_tokens, output_tokens = event.input_tokens, event.output_tokens
        chunks, chars = event.stream_chunks, event.stream_chars
        if input_tokens is None and output_tokens is None and chunks is None and chars is None:
            return  # not an LLM request: nothing to look up
        inst = self._instruments(event.model_name, event.version)
        if input_tokens is not None or output_tokens is not None:
            inst.total_tokens.record((input_tokens or 0) + (output_tokens or 0))
        if chars is not None:
            inst.chars.record(chars)
        if chunks:
            ttft = event.time_to_first_token_ms
            streaming_ms = event.duration_ms - (ttft or 0.0)
            if ttft is not None and streaming_ms <= 0:
                streaming_ms = event.duration_ms
            if streaming_ms > 0:
                inst.chunk_rate.record(chunks / (streaming_ms / 1000.0))
