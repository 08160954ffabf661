"""``InferenceCollector``: requests, latency, errors, in-flight, TTFT, tokens, cost, per version."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from collectors._cache import cache_once
from collectors._dimensions import DEFAULT_MAX_SETS, DEFAULT_MAX_VALUES, Dimensions, Projection
from collectors._in_flight import InFlightCounts
from collectors.base import BaseCollector
from collectors.pricing import ModelPrice, PriceTable, as_price_table
from metrics_core import names
from metrics_core._validation import check_int
from metrics_core.bus import EventBus
from metrics_core.control import RecordingControl
from metrics_core.environment import dimensions_from_env
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
_RESERVED = (
    names.MODEL_NAME,
    names.VERSION,
    names.ERROR_TYPE,
    names.TOKEN_TYPE,
    names.SAMPLING_KIND,
    "overflow",
    "le",  # histogram and timer buckets' label
    "quantile",  # summaries' label
)


class _VersionInstruments:
    """The instruments of one model version, bound once."""

    __slots__ = (
        "batch_size",
        "cached_tokens",
        "connections",
        "cost",
        "errors",
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

    def __init__(
        self, registry: Registry, model_name: str, version: str, extra: Projection = ()
    ) -> None:
        tags = Tags({names.MODEL_NAME: model_name, names.VERSION: version, **dict(extra)})
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

    ``dimensions`` (default: ``INFERENCE_METRICS_DIMENSIONS``, else none) names
    the event attributes kept as extra tags of the request,
    error, latency, TTFT, token, cost, batch and chunk series (each key admits
    ``max_dimension_values`` values, later ones record as ``_other``; past
    ``max_dimension_sets`` combinations in all, a new combination records with
    every value ``_other``); in-flight,
    connections and memory stay per version. Under a ``Metrics`` with sampling or
    load shedding (see docs/control.md), distributions are thinned while counters
    stay exact, and ``model_inference_sampling_rate{kind}`` says the rate in force.
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
        dimensions: Iterable[str] | None = None,
        max_dimension_values: int = DEFAULT_MAX_VALUES,
        max_dimension_sets: int = DEFAULT_MAX_SETS,
        prices: PriceTable | Mapping[str, ModelPrice | Mapping[str, float | None]] | None = None,
        error_classifier: ErrorClassifier | None = None,
    ) -> None:
        self.error_classifier = error_classifier
        self.prices = as_price_table(prices)
        if dimensions is None:  # not given: INFERENCE_METRICS_DIMENSIONS, else none
            dimensions = dimensions_from_env(os.environ)
        if max_dimension_sets.__class__ is not int or max_dimension_sets < 1:
            raise ValueError(f"'max_dimension_sets' must be an int >= 1: {max_dimension_sets!r}")
        self._max_dimension_sets = max_dimension_sets
        self._dimensions = (
            Dimensions(dimensions, max_values=max_dimension_values, reserved=_RESERVED)
            if dimensions
            else None
        )
        self._control: RecordingControl | None = None
        # (model_name, version) -> (control generation, {kind: rate}) last published.
        self._rates: dict[tuple[str, str], tuple[int, dict[str, float]]] = {}
        self._versions: dict[tuple[Any, ...], _VersionInstruments] = {}
        self._lock = threading.Lock()
        self._in_flight = InFlightCounts()
        # request_id -> TTFT already recorded, by whichever of the two events came first.
        self._ttft_seen: OrderedDict[str, float] = OrderedDict()
        self._ttft_dedupe_size = check_int(ttft_dedupe_size, "ttft_dedupe_size")

    def bind(self, registry: Registry, bus: EventBus) -> None:
        """Keep the registry; instruments bound to an earlier one are dropped."""
        super().bind(registry, bus)
        if self._dimensions is not None:
            self._dimensions.bind(registry)
        self._in_flight.bind(registry)
        with self._lock:
            self._versions = {}
            self._rates = {}

    def use_control(self, control: RecordingControl) -> None:
        """Follow ``control``'s sampling and load shedding (``Metrics.collect`` calls it)."""
        self._control = control

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The attribute keys kept as tags."""
        return () if self._dimensions is None else self._dimensions.keys

    def _instruments(
        self, model_name: str, version: str, extra: Projection = ()
    ) -> _VersionInstruments:
        key = (model_name, version, extra) if extra else (model_name, version)
        found = self._versions.get(key)
        if found is None:
            found = cache_once(
                self._versions,
                key,
                self._lock,
                lambda: _VersionInstruments(self.registry, model_name, version, extra),
            )
        return found

    def _of(
        self, event: InferenceCompleted | InferenceFailed | FirstTokenReceived
    ) -> _VersionInstruments:
        """The instruments of the event's version and kept dimensions."""
        dims = self._dimensions
        projected = dims.project(event.attributes) if dims else ()
        if projected:
            found = self._versions.get((event.model_name, event.version, projected))
            if found is not None:
                return found
            if dims is not None and len(self._versions) >= self._max_dimension_sets:
                projected = dims.fold(projected)
        return self._instruments(event.model_name, event.version, projected)

    def _keep(
        self, kind: str, event: InferenceCompleted | InferenceFailed | FirstTokenReceived
    ) -> bool:
        """Whether to do the event's distribution work; publishes the rate when it changes."""
        control = self._control
        assert control is not None
        version = (event.model_name, event.version)
        published = self._rates.get(version)
        if published is None or published[0] != control.generation or kind not in published[1]:
            self._publish_rate(control, version, kind)
        return control.keep(kind, event.model_name, event.request_id)

    def _publish_rate(self, control: RecordingControl, version: tuple[str, str], kind: str) -> None:
        """Publish ``kind``'s rate, and after a change in ``control`` those of the other kinds."""
        generation = control.generation
        with self._lock:
            published = self._rates.get(version)
            kinds = {kind} if published is None else {kind, *published[1]}
            rates = {k: control.rate(k, version[0]) for k in sorted(kinds)}
            self._rates[version] = (generation, rates)
        for k, rate in rates.items():
            tags = Tags(
                {names.MODEL_NAME: version[0], names.VERSION: version[1], names.SAMPLING_KIND: k}
            )
            self.registry.gauge(names.SAMPLING_RATE, tags, rate)

    def listeners(self) -> Mapping[type[Event], Callable[[Any], object]]:
        """The handlers of ``subscriptions``; ``InferenceStarted`` goes to the in-flight counts.

        Straight to what :meth:`on_started` calls: one call less per request.
        """
        found = dict(super().listeners())
        found[InferenceStarted] = self._in_flight.start
        return found

    def on_started(self, event: InferenceStarted) -> None:
        """Count the request in flight."""
        self._in_flight.start(event)

    def on_completed(self, event: InferenceCompleted) -> None:
        """Record a successful request and whatever else the event carries."""
        key = (event.model_name, event.version)
        self._in_flight.finish(key)
        if self._dimensions is None:
            inst = self._versions.get(key) or self._instruments(*key)
        else:
            inst = self._of(event)
        control = self._control
        if control is not None and control.active:
            kind = "requests" if event.stream_chunks is None else "streams"
            if not self._keep(kind, event):
                self._record_counts(inst, event)
                return
        inst.requests.record(1.0)
        inst.latency.record(event.duration_ms)
        output = event.output_tokens
        if output is not None:
            inst.output_tokens.record(output)
        if event.input_tokens is not None:
            inst.input_tokens.record(event.input_tokens)
        if event.cached_tokens is not None:
            inst.cached_tokens.record(event.cached_tokens)
        cost = event.cost_usd if self.prices is None else self._cost(event)
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

    def _record_counts(self, inst: _VersionInstruments, event: InferenceCompleted) -> None:
        """A request sampled out: its counters only (tokens included, their sums are totals)."""
        inst.requests.record(1.0)
        if event.output_tokens is not None:
            inst.output_tokens.record(event.output_tokens)
        if event.input_tokens is not None:
            inst.input_tokens.record(event.input_tokens)
        if event.cached_tokens is not None:
            inst.cached_tokens.record(event.cached_tokens)
        cost = event.cost_usd if self.prices is None else self._cost(event)
        if cost is not None:  # sampled out or not, the cost total stays exact
            inst.cost.record(cost)
        if event.request_id is not None and self._ttft_seen:
            with self._lock:
                self._ttft_seen.pop(event.request_id, None)

    def _cost(self, event: InferenceCompleted) -> float | None:
        """The event's ``cost_usd``, else what the price table says of its tokens."""
        if event.cost_usd is not None or self.prices is None:
            return event.cost_usd
        return self.prices.cost(
            event.model_name,
            event.version,
            input_tokens=event.input_tokens,
            output_tokens=event.output_tokens,
            cached_tokens=event.cached_tokens,
        )

    def on_failed(self, event: InferenceFailed) -> None:
        """Record a failed request: counted as a request and as an error of its type."""
        self._in_flight.finish((event.model_name, event.version))
        inst = (
            self._of(event)
            if self._dimensions
            else self._instruments(event.model_name, event.version)
        )
        inst.requests.record(1.0)
        inst.error(event.error_type, self.error_classifier).record(1.0)
        control = self._control
        if control is None or not control.active or self._keep("errors", event):
            inst.latency.record(event.duration_ms)
        if event.request_id is not None and self._ttft_seen:
            # A stream that failed after its first token: its Completed will never come.
            with self._lock:
                self._ttft_seen.pop(event.request_id, None)

    def on_first_token(self, event: FirstTokenReceived) -> None:
        """Record time to first token as soon as it is known (once per ``request_id``)."""
        request_id = event.request_id
        if request_id is not None and self._ttft_seen:
            with self._lock:
                if self._ttft_seen.pop(request_id, None) is not None:
                    return  # InferenceCompleted carried it and came first
        ttft = event.time_to_first_token_ms
        control = self._control
        if control is not None and control.active and not self._keep("streams", event):
            return
        inst = (
            self._of(event)
            if self._dimensions
            else self._instruments(event.model_name, event.version)
        )
        inst.ttft.record(ttft)
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
