"""Domain events: what serving code says happened.

Events are frozen, slotted, keyword-only attrs classes named in the past tense.
Per-model events carry ``model_name`` and ``version``. Users define their own
events by subclassing :class:`Event` (or :class:`ModelEvent`); a listener of a
base class receives every subclass.

Validation runs once per event in ``__attrs_post_init__`` with fast inline
checks, because events are built on the request path; a failing check falls
back to the precise validators for the error message.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from typing import Any

import attrs

from metrics_core._validation import (
    MAX_VALUE,
    check_int,
    check_non_negative,
    finite,
    non_empty_str,
    non_negative,
    non_negative_int,
    optional_count,
    optional_finite,
    optional_non_negative,
    optional_str,
    positive_int,
    unit_interval,
)
from metrics_core.attributes import NO_ATTRIBUTES, Attributes, check_attributes

__all__ = [
    "ActiveConnectionsChanged",
    "CircuitBreakerChanged",
    "CircuitState",
    "DriftMeasured",
    "Event",
    "FirstTokenReceived",
    "GpuSampled",
    "HttpRequestFinished",
    "HttpRequestStarted",
    "InferenceCompleted",
    "InferenceFailed",
    "InferenceStarted",
    "MemoryUsageReported",
    "ModelEvent",
    "PredictionEvaluated",
    "ResourcesSampled",
    "RetriesFinished",
    "RetryAttempted",
]

_MAX = MAX_VALUE


def _fail_model(event: ModelEvent) -> None:
    for field in ("model_name", "version"):
        value = getattr(event, field)
        if not isinstance(value, str) or not value:
            raise ValueError(f"'{field}' must be a non-empty string: {value!r}")


def _non_negative(event: Event, value: object, field: str) -> None:
    # Plain in-range floats and ints pass with two checks; anything else (a Decimal,
    # a numpy scalar) is converted to float by the shared validation, or rejected.
    if (value.__class__ is float or value.__class__ is int) and 0.0 <= value <= _MAX:
        return
    object.__setattr__(event, field, check_non_negative(value, field))


def _optional_count(value: object, field: str) -> None:
    if value is None or (value.__class__ is int and 0 <= value <= _MAX):
        return
    check_int(value, field, 0, " or None")


def _check_timestamp(event: Event) -> None:
    value = event.timestamp
    if value.__class__ is not float or not 0.0 <= value <= _MAX:
        finite(event, attrs.fields(Event).timestamp, value)


@attrs.frozen(kw_only=True, slots=True)
class Event:
    """Base of every event. ``timestamp`` is seconds since the epoch."""

    timestamp: float = attrs.field(factory=time.time)

    def __attrs_post_init__(self) -> None:
        # In post-init, not as a field validator: an inline check costs less per event.
        # Subclasses with a post-init of their own call this, or check the same way.
        _check_timestamp(self)


def _store_attributes(event: ModelEvent) -> None:
    # Frozen: validated and stored once, as strings, at construction.
    object.__setattr__(event, "attributes", check_attributes(event.attributes))


@attrs.frozen(kw_only=True, slots=True)
class ModelEvent(Event):
    """Base of the events about one model version.

    ``attributes`` are extra dimensions (``{"provider": "openai"}``), stored as a
    frozen mapping of strings; a collector records only the keys it keeps (see
    ``metrics_core.attributes``).
    """

    model_name: str
    version: str
    attributes: Attributes = NO_ATTRIBUTES

    def __attrs_post_init__(self) -> None:
        timestamp = self.timestamp
        if timestamp.__class__ is not float or not 0.0 <= timestamp <= _MAX:
            _check_timestamp(self)
        if not (self.model_name and self.version) or not (
            self.model_name.__class__ is str and self.version.__class__ is str
        ):
            _fail_model(self)
        if self.attributes is not NO_ATTRIBUTES:
            _store_attributes(self)


@attrs.frozen(kw_only=True, slots=True)
class InferenceStarted(ModelEvent):
    """A request entered the model; pairs with Completed or Failed for in-flight counts."""

    request_id: str | None = attrs.field(default=None, validator=optional_str)


@attrs.frozen(kw_only=True, slots=True)
class InferenceCompleted(ModelEvent):
    """A request finished successfully.

    ``duration_ms`` is the end-to-end latency. The optional fields are recorded
    when present: tokens (``input_tokens``, ``output_tokens``, ``cached_tokens``),
    ``time_to_first_token_ms`` for streaming, ``cost_usd``, ``batch_size``,
    ``confidence`` (0..1), ``predicted_class``, ``stream_chunks`` (chunks a
    streamed response yielded) and ``stream_chars`` (characters it streamed).
    """

    duration_ms: float
    request_id: str | None = None
    time_to_first_token_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cost_usd: float | None = None
    batch_size: int = 1
    confidence: float | None = None
    predicted_class: str | None = None
    stream_chunks: int | None = None
    stream_chars: int | None = None

    def __attrs_post_init__(self) -> None:
        # Built on the request path: the common case (optional fields None) takes no call.
        name, version = self.model_name, self.version
        if not (name.__class__ is str and version.__class__ is str and name and version):
            _fail_model(self)
        timestamp = self.timestamp
        if timestamp.__class__ is not float or not 0.0 <= timestamp <= _MAX:
            _check_timestamp(self)
        if self.attributes is not NO_ATTRIBUTES:
            _store_attributes(self)
        _non_negative(self, self.duration_ms, "duration_ms")
        if self.time_to_first_token_ms is not None:
            _non_negative(self, self.time_to_first_token_ms, "time_to_first_token_ms")
        tokens = self.output_tokens
        if tokens is not None and not (tokens.__class__ is int and 0 <= tokens <= _MAX):
            _optional_count(tokens, "output_tokens")
        if self.input_tokens is not None:
            _optional_count(self.input_tokens, "input_tokens")
        if self.cached_tokens is not None:
            _optional_count(self.cached_tokens, "cached_tokens")
        chunks = self.stream_chunks
        if chunks is not None and not (chunks.__class__ is int and 0 <= chunks <= _MAX):
            _optional_count(chunks, "stream_chunks")
        if self.stream_chars is not None:
            _optional_count(self.stream_chars, "stream_chars")
        if self.cost_usd is not None:
            _non_negative(self, self.cost_usd, "cost_usd")
        if not (self.batch_size.__class__ is int and 1 <= self.batch_size <= _MAX):
            positive_int(self, attrs.fields(InferenceCompleted).batch_size, self.batch_size)
        if self.confidence is not None:
            unit_interval(self, attrs.fields(InferenceCompleted).confidence, self.confidence)
        if self.request_id is not None and self.request_id.__class__ is not str:
            optional_str(self, attrs.fields(InferenceCompleted).request_id, self.request_id)
        if self.predicted_class is not None and self.predicted_class.__class__ is not str:
            optional_str(
                self, attrs.fields(InferenceCompleted).predicted_class, self.predicted_class
            )


@attrs.frozen(kw_only=True, slots=True)
class InferenceFailed(ModelEvent):
    """A request failed; ``error_type`` names the failure (an exception class name, say)."""

    duration_ms: float
    error_type: str = attrs.field(validator=non_empty_str)
    request_id: str | None = attrs.field(default=None, validator=optional_str)

    def __attrs_post_init__(self) -> None:
        ModelEvent.__attrs_post_init__(self)
        _non_negative(self, self.duration_ms, "duration_ms")


@attrs.frozen(kw_only=True, slots=True)
class FirstTokenReceived(ModelEvent):
    """A streaming response produced its first token."""

    time_to_first_token_ms: float
    request_id: str | None = attrs.field(default=None, validator=optional_str)

    def __attrs_post_init__(self) -> None:
        ModelEvent.__attrs_post_init__(self)
        _non_negative(self, self.time_to_first_token_ms, "time_to_first_token_ms")


@attrs.frozen(kw_only=True, slots=True)
class RetryAttempted(ModelEvent):
    """A call is being retried: ``attempt`` is 1 for the first retry.

    ``error_category`` (``timeout``, ``rate_limit``, ...) is derived from
    ``error_type`` by the collector's classifier unless given here.
    """

    attempt: int = attrs.field(validator=positive_int)
    error_type: str = attrs.field(validator=non_empty_str)
    delay_ms: float = attrs.field(default=0.0, validator=non_negative)
    error_category: str | None = attrs.field(default=None, validator=optional_str)


def _a_bool(_instance: Any, attribute: Any, value: Any) -> None:
    if value.__class__ is not bool:
        raise ValueError(f"'{attribute.name}' must be a bool: {value!r}")


@attrs.frozen(kw_only=True, slots=True)
class RetriesFinished(ModelEvent):
    """A request that was retried is over: ``retries`` retries, then success or giving up.

    ``total_delay_ms`` is the time the request spent waiting between attempts
    (the sum of its back-offs).
    """

    retries: int = attrs.field(validator=positive_int)
    succeeded: bool = attrs.field(validator=_a_bool)
    total_delay_ms: float = attrs.field(default=0.0, validator=non_negative)


class CircuitState(str, enum.Enum):
    """States of a circuit breaker, valued as exported by the state gauge."""

    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"

    @property
    def gauge_value(self) -> float:
        """0 closed, 1 half-open, 2 open."""
        return {"closed": 0.0, "half_open": 1.0, "open": 2.0}[self.value]


def _circuit_state(value: object, field: str) -> CircuitState:
    try:
        return CircuitState(value)
    except ValueError:
        allowed = ", ".join(repr(s.value) for s in CircuitState)
        raise ValueError(f"'{field}' must be one of {allowed}: {value!r}") from None


def _previous_state(value: object) -> CircuitState:
    return _circuit_state(value, "previous")


def _new_state(value: object) -> CircuitState:
    return _circuit_state(value, "state")


@attrs.frozen(kw_only=True, slots=True)
class CircuitBreakerChanged(ModelEvent):
    """A circuit breaker moved from ``previous`` to ``state``."""

    previous: CircuitState = attrs.field(converter=_previous_state)
    state: CircuitState = attrs.field(converter=_new_state)
    breaker: str = attrs.field(default="default", validator=non_empty_str)


@attrs.frozen(kw_only=True, slots=True)
class ActiveConnectionsChanged(ModelEvent):
    """The number of open connections (or in-flight sessions) of a version is now ``count``."""

    count: int = attrs.field(validator=non_negative_int)


@attrs.frozen(kw_only=True, slots=True)
class MemoryUsageReported(ModelEvent):
    """A version now uses ``memory_bytes`` of memory."""

    memory_bytes: int = attrs.field(validator=non_negative_int)


@attrs.frozen(kw_only=True, slots=True)
class ResourcesSampled(Event):
    """One sample of host and process resources; ``None`` where it could not be read.

    Disk and network fields are cumulative byte counts since boot, as the OS reports them.
    """

    cpu_percent: float | None = attrs.field(default=None, validator=optional_non_negative)
    process_cpu_percent: float | None = attrs.field(default=None, validator=optional_non_negative)
    memory_used_bytes: int | None = attrs.field(default=None, validator=optional_count)
    memory_available_bytes: int | None = attrs.field(default=None, validator=optional_count)
    process_rss_bytes: int | None = attrs.field(default=None, validator=optional_count)
    disk_read_bytes: int | None = attrs.field(default=None, validator=optional_count)
    disk_write_bytes: int | None = attrs.field(default=None, validator=optional_count)
    net_sent_bytes: int | None = attrs.field(default=None, validator=optional_count)
    net_recv_bytes: int | None = attrs.field(default=None, validator=optional_count)
    open_fds: int | None = attrs.field(default=None, validator=optional_count)
    threads: int | None = attrs.field(default=None, validator=optional_count)


def _pairs(pairs: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    checked = []
    for pid, used in pairs:
        checked.append(
            (
                check_int(pid, "process_memory_bytes pid"),
                check_int(used, "process_memory_bytes bytes"),
            )
        )
    return tuple(checked)


@attrs.frozen(kw_only=True, slots=True)
class GpuSampled(Event):
    """One NVML sample of one GPU; ``None`` where NVML did not answer.

    ``process_memory_bytes`` maps a process id to the GPU memory it uses.
    """

    gpu_index: int = attrs.field(validator=non_negative_int)
    gpu_name: str | None = attrs.field(default=None, validator=optional_str)
    utilization_percent: float | None = attrs.field(default=None, validator=optional_non_negative)
    memory_used_bytes: int | None = attrs.field(default=None, validator=optional_count)
    memory_total_bytes: int | None = attrs.field(default=None, validator=optional_count)
    temperature_celsius: float | None = attrs.field(default=None, validator=optional_finite)
    power_watts: float | None = attrs.field(default=None, validator=optional_non_negative)
    process_memory_bytes: tuple[tuple[int, int], ...] = attrs.field(default=(), converter=_pairs)


@attrs.frozen(kw_only=True, slots=True)
class DriftMeasured(ModelEvent):
    """A drift score of ``kind`` (distribution, confidence, ...) was measured."""

    kind: str = attrs.field(validator=non_empty_str)
    score: float = attrs.field(validator=finite)
    threshold: float | None = attrs.field(default=None, validator=optional_finite)


def _class_label(_instance: Any, attribute: Any, value: Any) -> None:
    if value.__class__ is not bool and (not isinstance(value, str) or not value):
        raise ValueError(f"'{attribute.name}' must be a non-empty string or a bool: {value!r}")


@attrs.frozen(kw_only=True, slots=True)
class PredictionEvaluated(ModelEvent):
    """Ground truth arrived for a prediction: ``expected`` versus ``actual`` class.

    Classes are strings, or booleans for pass/fail outcomes (``True`` is recorded as
    the class ``"true"``, and is the positive class unless the collector names one).
    """

    expected: str | bool = attrs.field(validator=_class_label)
    actual: str | bool = attrs.field(validator=_class_label)
    request_id: str | None = attrs.field(default=None, validator=optional_str)


@attrs.frozen(kw_only=True, slots=True)
class HttpRequestStarted(Event):
    """An HTTP request reached the app (``MetricsMiddleware`` emits it); pairs with Finished.

    ``method`` is the request method as received; ``scheme`` is ``http`` or ``https``.
    """

    method: str = attrs.field(validator=non_empty_str)
    scheme: str = attrs.field(default="http", validator=non_empty_str)


@attrs.frozen(kw_only=True, slots=True)
class HttpRequestFinished(Event):
    """An HTTP request ended: its response body was sent, or the app raised.

    ``route`` is the matched route template (``/items/{item_id}``), never the raw
    path, so that series stay few. ``duration_ms`` runs from the request reaching
    the app to the last body byte handed to the server. ``error_type`` names the
    exception when the app raised (``status_code`` is then 500 unless a response
    had already started).
    """

    method: str = attrs.field(validator=non_empty_str)
    route: str = attrs.field(validator=non_empty_str)
    status_code: int
    duration_ms: float
    scheme: str = attrs.field(default="http", validator=non_empty_str)
    error_type: str | None = attrs.field(default=None, validator=optional_str)

    def __attrs_post_init__(self) -> None:
        _check_timestamp(self)
        status = self.status_code
        if not (status.__class__ is int and 100 <= status <= 599):
            raise ValueError(f"'status_code' must be an int within 100..599: {status!r}")
        _non_negative(self, self.duration_ms, "duration_ms")
