"""``ReliabilityCollector``: retries and circuit-breaker state, per model version."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import ClassVar

from collectors._cache import cache_once
from collectors._dimensions import DEFAULT_MAX_VALUES, Dimensions
from collectors.base import BaseCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.errors import ErrorClassifier, classify_error
from metrics_core.events import CircuitBreakerChanged, Event, RetriesFinished, RetryAttempted
from metrics_core.registry import Registry
from metrics_core.registry.protocol import BoundInstrument
from metrics_core.tags import Tags
from metrics_core.values import MetricKind


class ReliabilityCollector(BaseCollector):
    """Records what retry and circuit-breaker events say, per ``model_name`` and ``version``.

    - ``RetryAttempted`` -> ``model_inference_retries_total{error_type,error_category}``
      and ``model_inference_retry_delay`` (timer, ms: the back-off before each retry,
      0 for an immediate one); both also tagged with the kept ``dimensions`` of
      the event's attributes (``ReliabilityCollector(dimensions=("provider",))``,
      each key limited to ``max_dimension_values`` values, then ``_other``). The
      category is the event's ``error_category``, else what ``error_classifier``
      (default ``metrics_core.errors.classify_error``) says of ``error_type``.
    - ``RetriesFinished`` -> ``model_inference_retried_requests_total{outcome}``
      (``succeeded``: the request succeeded after retries, seed 004's
      ``retry_succeeded``; ``failed``: it gave up), ``model_inference_retry_total_delay``
      (timer, ms: the back-off of one request, all retries together) and
      ``model_inference_retries_per_request`` (histogram).
    - ``CircuitBreakerChanged`` -> ``model_circuit_breaker_state{breaker}`` (gauge:
      0 closed, 1 half-open, 2 open) and
      ``model_circuit_breaker_transitions_total{breaker,from,to}``.
    """

    subscriptions: ClassVar[Mapping[type[Event], str]] = {
        RetryAttempted: "on_retry",
        RetriesFinished: "on_retries_finished",
        CircuitBreakerChanged: "on_circuit_breaker",
    }

    def __init__(
        self,
        *,
        dimensions: Iterable[str] = (),
        max_dimension_values: int = DEFAULT_MAX_VALUES,
        error_classifier: ErrorClassifier = classify_error,
    ) -> None:
        if not callable(error_classifier):
            raise TypeError(f"'error_classifier' must be callable: {error_classifier!r}")
        self.error_classifier = error_classifier
        self._lock = threading.Lock()
        self._instruments: dict[tuple[object, ...], BoundInstrument] = {}
        reserved = (
            names.MODEL_NAME, names.VERSION, names.ERROR_TYPE, names.ERROR_CATEGORY,
            names.OUTCOME, "le", "quantile",
        )  # fmt: skip
        self._dimensions = (
            Dimensions(dimensions, max_values=max_dimension_values, reserved=reserved)
            if dimensions
            else None
        )

    def bind(self, registry: Registry, bus: EventBus) -> None:
        """Keep the registry; instruments bound to an earlier one are dropped."""
        super().bind(registry, bus)
        if self._dimensions is not None:
            self._dimensions.bind(registry)
        with self._lock:
            self._instruments = {}

    def _instrument(
        self, key: tuple[object, ...], kind: MetricKind, name: str, tags: Mapping[str, str]
    ) -> BoundInstrument:
        found = self._instruments.get(key)
        if found is None:
            found = cache_once(
                self._instruments,
                key,
                self._lock,
                lambda: self.registry.instrument(kind, name, Tags(tags)),
            )
        return found

    def on_retry(self, event: RetryAttempted) -> None:
        """Count the retry by error type and category and time its back-off."""
        model_name, version, error_type = event.model_name, event.version, event.error_type
        category = event.error_category or self.error_classifier(error_type)
        mv = {names.MODEL_NAME: model_name, names.VERSION: version}
        kept = self._dimensions.project(event.attributes) if self._dimensions else ()
        if kept:
            mv.update(kept)
        self._instrument(
            (names.RETRIES_TOTAL, model_name, version, error_type, category, kept),
            MetricKind.COUNTER,
            names.RETRIES_TOTAL,
            {**mv, names.ERROR_TYPE: error_type, names.ERROR_CATEGORY: category},
        ).record(1.0)
        self._instrument(
            (names.RETRY_DELAY, model_name, version, kept), MetricKind.TIMER, names.RETRY_DELAY, mv
        ).record(event.delay_ms)

    def on_retries_finished(self, event: RetriesFinished) -> None:
        """Count the retried request by outcome; record its total back-off and retries."""
        model_name, version = event.model_name, event.version
        outcome = "succeeded" if event.succeeded else "failed"
        mv = {names.MODEL_NAME: model_name, names.VERSION: version}
        kept = self._dimensions.project(event.attributes) if self._dimensions else ()
        if kept:
            mv.update(kept)
        self._instrument(
            (names.RETRIED_REQUESTS_TOTAL, model_name, version, outcome, kept),
            MetricKind.COUNTER,
            names.RETRIED_REQUESTS_TOTAL,
            {**mv, names.OUTCOME: outcome},
        ).record(1.0)
        self._instrument(
            (names.RETRY_TOTAL_DELAY, model_name, version, kept),
            MetricKind.TIMER,
            names.RETRY_TOTAL_DELAY,
            mv,
        ).record(event.total_delay_ms)
        self._instrument(
            (names.RETRIES_PER_REQUEST, model_name, version, kept),
            MetricKind.HISTOGRAM,
            names.RETRIES_PER_REQUEST,
            mv,
        ).record(event.retries)

    def on_circuit_breaker(self, event: CircuitBreakerChanged) -> None:
        """Set the breaker's state gauge and count the transition."""
        model_name, version, breaker = event.model_name, event.version, event.breaker
        tags = {names.MODEL_NAME: model_name, names.VERSION: version, names.BREAKER: breaker}
        previous, state = event.previous.value, event.state.value
        self._instrument(
            (names.CIRCUIT_BREAKER_STATE, model_name, version, breaker),
            MetricKind.GAUGE,
            names.CIRCUIT_BREAKER_STATE,
            tags,
        ).record(event.state.gauge_value)
        self._instrument(
            (
                names.CIRCUIT_BREAKER_TRANSITIONS_TOTAL,
                model_name,
                version,
                breaker,
                previous,
                state,
            ),
            MetricKind.COUNTER,
            names.CIRCUIT_BREAKER_TRANSITIONS_TOTAL,
            {**tags, names.FROM_STATE: previous, names.TO_STATE: state},
        ).record(1.0)
