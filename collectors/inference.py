"""``InferenceCollector``: requests, latency, errors, in-flight, TTFT, tokens, cost, per version."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import ClassVar

from collectors._cache import cache_once, step_count
from collectors.base import BaseCollector
from collectors.pricing import ModelPrice, PriceTable
from metrics_core import names
from metrics_core._validation import check_int
from metrics_core.bus import EventBus
from metrics_core.errors import ErrorClassifier
from metrics_core.events import (
    ActiveConnectionsChanged,
    Event,
    FirstTokenReceived,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
    MemoryUsageReported,
)
from metrics_core.registry import Registry
from metrics_core.registry.protocol import BoundInstrument
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

_COUNTER = MetricKind.COUNTER
_GAUGE = MetricKind.GAUGE
_HISTOGRAM = MetricKind.HISTOGRAM
_TIMER = MetricKind.TIMER
MAX_ERROR_TYPES = 1_000
"""Error types whose instruments one version caches (more are bound again when seen)."""


class _VersionInstruments:
    """The instruments of one model version, bound once."""

    __slots__ = (
        "batch_size",
        "cached_tokens",
        "connections",
        "cost",
        "errors",
        "in_flight",
        "input_tokens",
        "latency",
        "memory",
        "output_tokens",
        "registry",
        "requests",
        "stream_chunks",
        "tags",
        "time_per_output_token",
        "ttft",
    )  # fmt: skip

    def __init__(self, registry: Registry, model_name: str, version: str) -> None:
        tags = Tags({names.MODEL_NAME: model_name, names.VERSION: version})
        bind = registry.instrument
        self.registry = registry
        self.tags = tags
        self.requests = bind(_COUNTER, names.REQUESTS_TOTAL, tags)
        self.latency = bind(_TIMER, names.LATENCY, tags)
        self.ttft = bind(_TIMER, names.TIME_TO_FIRST_TOKEN, tags)
        self.time_per_output_token = bind(_TIMER, names.TIME_PER_OUTPUT_TOKEN, tags)
        self.input_tokens = bind(
            _HISTOGRAM, names.TOKEN_USAGE, tags.with_tag(names.TOKEN_TYPE, "input")
        )
        self.output_tokens = bind(
            _HISTOGRAM, names.TOKEN_USAGE, tags.with_tag(names.TOKEN_TYPE, "output")
        )
        self.cached_tokens = bind(
            _HISTOGRAM, names.TOKEN_USAGE, tags.with_tag(names.TOKEN_TYPE, "cached")
        )
        self.cost = bind(_COUNTER, names.COST_TOTAL, tags)
        self.batch_size = bind(_HISTOGRAM, names.BATCH_SIZE, tags)
        self.stream_chunks = bind(_HISTOGRAM, names.STREAM_CHUNKS, tags)
        self.in_flight = bind(_GAUGE, names.IN_FLIGHT, tags)
        self.connections = bind(_GAUGE, names.ACTIVE_CONNECTIONS, tags)
        self.memory = bind(_GAUGE, names.MEMORY_USAGE, tags)
        self.errors: dict[str, BoundInstrument] = {}

    def error(self, error_type: str, classify: ErrorClassifier | None = None) -> BoundInstrument:
        instrument = self.errors.get(error_type)
        if instrument is None:
            tags = self.tags.with_tag(names.ERROR_TYPE, error_type)
            if classify is not None:
                tags = tags.with_tag(names.ERROR_CATEGORY, classify(error_type))
            if len(self.errors) >= MAX_ERROR_TYPES:  # a cache: bounded, the registry folds
                self.errors.clear()
            instrument = self.errors.setdefault(
                error_type, self.registry.instrument(_COUNTER, names.ERRORS_TOTAL, tags)
            )
        return instrument


class InferenceCollector(BaseCollector):
    """Records what inference events say, per ``model_name`` and ``version``.

    Metrics (see docs/metrics.md): ``model_inference_requests_total``,
    ``model_inference_errors_total{error_type}``, ``model_inference_latency`` (ms,
    every finished request), ``model_inference_in_flight`` (Started minus
    Completed/Failed, never below 0), ``gen_ai.server.time_to_first_token``,
    ``gen_ai.server.time_per_output_token``, ``gen_ai.client.token.usage`` by
    ``gen_ai.token.type``, ``model_inference_cost_usd_total``,
    ``model_inference_batch_size`` (batched requests only),
    ``model_inference_stream_chunks`` (streamed requests only),
    ``model_active_connections`` and ``model_memory_usage_bytes``.

    With ``prices`` (a ``PriceTable``, or the mapping to build one), a completion
    that has tokens and no ``cost_usd`` is costed from the table
    (``collectors.pricing``); an explicit ``cost_usd`` always wins.

    With ``error_classifier`` (``metrics_core.errors.classify_error``, or your own),
    ``model_inference_errors_total`` also carries ``error_category`` beside
    ``error_type`` (off by default: the series keep the tags they always had).

    Time to first token may come from ``FirstTokenReceived`` or from
    ``InferenceCompleted.time_to_first_token_ms``; when both carry the same
    ``request_id`` it is counted once.
    """

    subscriptions: ClassVar[Mapping[type[Event], str]] = {
        InferenceStarted: "on_started",
        InferenceCompleted: "on_completed",
        InferenceFailed: "on_failed",
        FirstTokenReceived: "on_first_token",
        ActiveConnectionsChanged: "on_connections",
        MemoryUsageReported: "on_memory",
    }

    def __init__(
        self,
        *,
        ttft_dedupe_size: int = 10_000,
        prices: PriceTable | Mapping[str, ModelPrice | Mapping[str, float | None]] | None = None,
        error_classifier: ErrorClassifier | None = None,
    ) -> None:
        self.error_classifier = error_classifier
        self.prices = (
            prices if prices is None or isinstance(prices, PriceTable) else PriceTable(prices)
        )
        self._versions: dict[tuple[str, str], _VersionInstruments] = {}
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[str, str], int] = {}
        # request_id -> TTFT already recorded, by whichever of the two events came first.
        self._ttft_seen: OrderedDict[str, float] = OrderedDict()
        self._ttft_dedupe_size = check_int(ttft_dedupe_size, "ttft_dedupe_size")

    def bind(self, registry: Registry, bus: EventBus) -> None:
        """Keep the registry; instruments bound to an earlier one are dropped."""
        super().bind(registry, bus)
        with self._lock:
            self._versions = {}
            self._in_flight = {}

    def _instruments(self, model_name: str, version: str) -> _VersionInstruments:
        key = (model_name, version)
        found = self._versions.get(key)
        if found is None:
            found = cache_once(
                self._versions,
                key,
                self._lock,
                lambda: _VersionInstruments(self.registry, model_name, version),
            )
        return found

    def on_started(self, event: InferenceStarted) -> None:
        """Count the request in flight."""
        self._move_in_flight(event.model_name, event.version, +1)

    def on_completed(self, event: InferenceCompleted) -> None:
        """Record a successful request and whatever else the event carries."""
        key = (event.model_name, event.version)
        inst = self._versions.get(key) or self._instruments(*key)
        inst.requests.record(1.0)
        inst.latency.record(event.duration_ms)
        output = event.output_tokens
        if output is not None:
            inst.output_tokens.record(output)
        if event.input_tokens is not None:
            inst.input_tokens.record(event.input_tokens)
        if event.cached_tokens is not None:
            inst.cached_tokens.record(event.cached_tokens)
        cost = event.cost_usd
        if cost is None and self.prices is not None:
            cost = self.prices.cost(
                event.model_name,
                event.version,
                input_tokens=event.input_tokens,
                output_tokens=output,
                cached_tokens=event.cached_tokens,
            )
        if cost is not None:
            inst.cost.record(cost)
        if event.batch_size != 1:
            inst.batch_size.record(event.batch_size)
        if event.stream_chunks is not None:
            inst.stream_chunks.record(event.stream_chunks)
        ttft = event.time_to_first_token_ms
        seen = None
        if event.request_id is not None and self._ttft_seen:
            with self._lock:
                seen = self._ttft_seen.pop(event.request_id, None)
        if seen is not None:  # FirstTokenReceived recorded it already
            ttft = seen if ttft is None else ttft
        elif ttft is not None:
            inst.ttft.record(ttft)
            if event.request_id is not None:
                self._remember_ttft(event.request_id, ttft)
        if ttft is not None and output is not None and output > 1 and event.duration_ms > ttft:
            inst.time_per_output_token.record((event.duration_ms - ttft) / (output - 1))
        if self._in_flight and key in self._in_flight:
            self._move_in_flight(event.model_name, event.version, -1)

    def on_failed(self, event: InferenceFailed) -> None:
        """Record a failed request: counted as a request and as an error of its type."""
        inst = self._instruments(event.model_name, event.version)
        inst.requests.record(1.0)
        inst.error(event.error_type, self.error_classifier).record(1.0)
        inst.latency.record(event.duration_ms)
        if event.request_id is not None and self._ttft_seen:
            # A stream that failed after its first token: its Completed will never come.
            with self._lock:
                self._ttft_seen.pop(event.request_id, None)
        if self._in_flight and (event.model_name, event.version) in self._in_flight:
            self._move_in_flight(event.model_name, event.version, -1)

    def on_first_token(self, event: FirstTokenReceived) -> None:
        """Record time to first token as soon as it is known (once per ``request_id``)."""
        request_id = event.request_id
        if request_id is not None and self._ttft_seen:
            with self._lock:
                if self._ttft_seen.pop(request_id, None) is not None:
                    return  # InferenceCompleted carried it and came first
        ttft = event.time_to_first_token_ms
        self._instruments(event.model_name, event.version).ttft.record(ttft)
        if request_id is not None:
            self._remember_ttft(request_id, ttft)

    def on_connections(self, event: ActiveConnectionsChanged) -> None:
        """Set the active connections gauge."""
        self._instruments(event.model_name, event.version).connections.record(event.count)

    def on_memory(self, event: MemoryUsageReported) -> None:
        """Set the memory gauge."""
        self._instruments(event.model_name, event.version).memory.record(event.memory_bytes)

    def _remember_ttft(self, request_id: str, ttft: float) -> None:
        with self._lock:
            self._ttft_seen[request_id] = ttft
            while len(self._ttft_seen) > self._ttft_dedupe_size:
                self._ttft_seen.popitem(last=False)

    def _move_in_flight(self, model_name: str, version: str, step: int) -> None:
        key = (model_name, version)
        inst = self._instruments(model_name, version)
        with self._lock:
            count = step_count(self._in_flight, key, step)
            if count is not None:
                inst.in_flight.record(count)
