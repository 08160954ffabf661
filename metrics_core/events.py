"""Domain events: what serving code says happened.

Events are frozen, slotted, keyword-only attrs classes named in the past tense.
Per-model events carry ``model_name`` and ``version``. Users define their own
events by subclassing :class:`Event` (or :class:`ModelEvent`); a listener of a
base class receives every subclass.

Validation runs once per event in ``__attrs_post_init__`` with fast inline
checks, because events are built on the request path; a failing check falls
back to the precise validators for the error message. The bases live in
``metrics_core._event_base``, the request events (``InferenceStarted`` and the
outcomes) in ``metrics_core._inference_events``; all are imported from here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

import attrs

from metrics_core._event_base import (
    Event,
    ModelEvent,
    check_non_negative_field,
    check_timestamp,
)
from metrics_core._inference_events import (
    FirstTokenReceived,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
)
from metrics_core._validation import (
    check_int,
    finite,
    non_empty_str,
    non_negative,
    non_negative_int,
    optional_count,
    optional_finite,
    optional_non_negative,
    optional_str,
    positive_int,
)

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
        check_timestamp(self)
        status = self.status_code
        if not (status.__class__ is int and 100 <= status <= 599):
            raise ValueError(f"'status_code' must be an int within 100..599: {status!r}")
        check_non_negative_field(self, self.duration_ms, "duration_ms")
