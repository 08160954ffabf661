"""The events of one inference request: Started, FirstTokenReceived, Completed, Failed.

Re-exported by :mod:`metrics_core.events`. ``InferenceStarted`` and
``InferenceCompleted`` are built twice per tracked call, so they have
hand-written ``__init__`` methods: attrs' generated one stores each field through
``object.__setattr__`` (the class is frozen), which cost more than the rest of
the event; these store through the slots' own setters instead, then validate
once in ``__attrs_post_init__`` (which attrs subclasses inherit).
"""

from __future__ import annotations

from time import time
from typing import Any

import attrs

from metrics_core._event_base import (
    MAX,
    NOW,
    ModelEvent,
    check_model_event,
    check_non_negative_field,
    check_optional_count,
    check_timestamp,
    fail_model,
    slot_setter,
    writer_of,
)
from metrics_core._validation import non_empty_str, optional_str, positive_int, unit_interval
from metrics_core.attributes import NO_ATTRIBUTES, Attributes, check_attributes

__all__ = [
    "FirstTokenReceived",
    "InferenceCompleted",
    "InferenceFailed",
    "InferenceStarted",
    "prechecked_completed",
    "prechecked_started",
]


@attrs.frozen(kw_only=True, slots=True, init=False)
class InferenceStarted(ModelEvent):
    """A request entered the model; pairs with Completed or Failed for in-flight counts."""

    __module__ = "metrics_core.events"

    request_id: str | None = None

    def __init__(
        self,
        *,
        model_name: str,
        version: str,
        request_id: str | None = None,
        attributes: Attributes = NO_ATTRIBUTES,
        timestamp: float = NOW,
    ) -> None:
        _set_timestamp(self, time() if timestamp is NOW else timestamp)
        _set_model_name(self, model_name)
        _set_version(self, version)
        _set_attributes(self, attributes)
        _set_request_id(self, request_id)
        if (  # the common case, checked on the arguments; anything else by the post-init
            timestamp is NOW
            and attributes is NO_ATTRIBUTES
            and model_name.__class__ is str
            and version.__class__ is str
            and model_name
            and version
            and (request_id is None or request_id.__class__ is str)
        ):
            return
        self.__attrs_post_init__()

    def __attrs_post_init__(self) -> None:
        check_model_event(self)
        request_id = self.request_id
        if request_id is not None and request_id.__class__ is not str:
            optional_str(self, attrs.fields(InferenceStarted).request_id, request_id)


@attrs.frozen(kw_only=True, slots=True, init=False)
class InferenceCompleted(ModelEvent):
    """A request finished successfully.

    ``duration_ms`` is the end-to-end latency. The optional fields are recorded
    when present: tokens (``input_tokens``, ``output_tokens``, ``cached_tokens``),
    ``time_to_first_token_ms`` for streaming, ``cost_usd``, ``batch_size``,
    ``confidence`` (0..1), ``predicted_class``, ``stream_chunks`` (chunks a
    streamed response yielded) and ``stream_chars`` (characters it streamed).
    """

    __module__ = "metrics_core.events"

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

    def __init__(
        self,
        *,
        model_name: str,
        version: str,
        duration_ms: float,
        request_id: str | None = None,
        time_to_first_token_ms: float | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cached_tokens: int | None = None,
        cost_usd: float | None = None,
        batch_size: int = 1,
        confidence: float | None = None,
        predicted_class: str | None = None,
        stream_chunks: int | None = None,
        stream_chars: int | None = None,
        attributes: Attributes = NO_ATTRIBUTES,
        timestamp: float = NOW,
    ) -> None:
        cls = self.__class__
        fields: Any = self  # stored to through its writable twin, see writer_of
        _write(self, "__class__", _WRITER if cls is InferenceCompleted else writer_of(cls))
        fields.timestamp = time() if timestamp is NOW else timestamp
        fields.model_name = model_name
        fields.version = version
        fields.attributes = attributes
        fields.duration_ms = duration_ms
        fields.request_id = request_id
        fields.time_to_first_token_ms = time_to_first_token_ms
        fields.input_tokens = input_tokens
        fields.output_tokens = output_tokens
        fields.cached_tokens = cached_tokens
        fields.cost_usd = cost_usd
        fields.batch_size = batch_size
        fields.confidence = confidence
        fields.predicted_class = predicted_class
        fields.stream_chunks = stream_chunks
        fields.stream_chars = stream_chars
        fields.__class__ = cls
        self.__attrs_post_init__()

    def __attrs_post_init__(self) -> None:
        # Built on the request path: the common case (optional fields None) takes no call.
        name, version = self.model_name, self.version
        if not (name.__class__ is str and version.__class__ is str and name and version):
            fail_model(self)
        timestamp = self.timestamp
        if timestamp.__class__ is not float or not 0.0 <= timestamp <= MAX:
            check_timestamp(self)
        if self.attributes is not NO_ATTRIBUTES:
            object.__setattr__(self, "attributes", check_attributes(self.attributes))
        duration = self.duration_ms
        if not (
            (duration.__class__ is float or duration.__class__ is int) and 0 <= duration <= MAX
        ):
            check_non_negative_field(self, duration, "duration_ms")
        if self.time_to_first_token_ms is not None:
            check_non_negative_field(self, self.time_to_first_token_ms, "time_to_first_token_ms")
        tokens = self.output_tokens
        if tokens is not None and not (tokens.__class__ is int and 0 <= tokens <= MAX):
            check_optional_count(tokens, "output_tokens")
        tokens = self.input_tokens
        if tokens is not None and not (tokens.__class__ is int and 0 <= tokens <= MAX):
            check_optional_count(tokens, "input_tokens")
        if self.cached_tokens is not None:
            check_optional_count(self.cached_tokens, "cached_tokens")
        chunks = self.stream_chunks
        if chunks is not None and not (chunks.__class__ is int and 0 <= chunks <= MAX):
            check_optional_count(chunks, "stream_chunks")
        if self.stream_chars is not None:
            check_optional_count(self.stream_chars, "stream_chars")
        if self.cost_usd is not None:
            check_non_negative_field(self, self.cost_usd, "cost_usd")
        if not (self.batch_size.__class__ is int and 1 <= self.batch_size <= MAX):
            positive_int(self, attrs.fields(InferenceCompleted).batch_size, self.batch_size)
        if self.confidence is not None:
            unit_interval(self, attrs.fields(InferenceCompleted).confidence, self.confidence)
        if self.request_id is not None and self.request_id.__class__ is not str:
            optional_str(self, attrs.fields(InferenceCompleted).request_id, self.request_id)
        if self.predicted_class is not None and self.predicted_class.__class__ is not str:
            optional_str(
                self, attrs.fields(InferenceCompleted).predicted_class, self.predicted_class
            )


_set_timestamp = slot_setter(InferenceStarted, "timestamp")
_set_model_name = slot_setter(InferenceStarted, "model_name")
_set_version = slot_setter(InferenceStarted, "version")
_set_attributes = slot_setter(InferenceStarted, "attributes")
_set_request_id = slot_setter(InferenceStarted, "request_id")
_WRITER = writer_of(InferenceCompleted)
_write = object.__setattr__
_new = object.__new__
_STARTED_WRITER: Any = writer_of(InferenceStarted)
_COMPLETED_WRITER: Any = _WRITER


# The spans' own path. A span checks its model, version and request id when it is made
# and its attributes as they are set, and measures a duration that cannot be negative:
# the events it sends need no second check. Built through the writable twins, with
# positional arguments: a third of the keyword constructors' cost. Anyone else builds
# events with the constructors, which check every field.


def prechecked_started(
    model_name: str, version: str, request_id: str | None, attributes: Attributes
) -> InferenceStarted:
    """An ``InferenceStarted`` of fields the caller has checked (``attributes`` as stored)."""
    event = _new(_STARTED_WRITER)
    event.timestamp = time()
    event.model_name = model_name
    event.version = version
    event.attributes = attributes
    event.request_id = request_id
    event.__class__ = InferenceStarted
    started: InferenceStarted = event
    return started


def prechecked_completed(
    model_name: str, version: str, request_id: str | None, duration_ms: float
) -> InferenceCompleted:
    """An ``InferenceCompleted`` with nothing optional set, of fields the caller has checked."""
    event = _new(_COMPLETED_WRITER)
    event.timestamp = time()
    event.model_name = model_name
    event.version = version
    event.attributes = NO_ATTRIBUTES
    event.duration_ms = duration_ms
    event.request_id = request_id
    event.time_to_first_token_ms = None
    event.input_tokens = None
    event.output_tokens = None
    event.cached_tokens = None
    event.cost_usd = None
    event.batch_size = 1
    event.confidence = None
    event.predicted_class = None
    event.stream_chunks = None
    event.stream_chars = None
    event.__class__ = InferenceCompleted
    completed: InferenceCompleted = event
    return completed


@attrs.frozen(kw_only=True, slots=True)
class InferenceFailed(ModelEvent):
    """A request failed; ``error_type`` names the failure (an exception class name, say)."""

    __module__ = "metrics_core.events"

    duration_ms: float
    error_type: str = attrs.field(validator=non_empty_str)
    request_id: str | None = attrs.field(default=None, validator=optional_str)

    def __attrs_post_init__(self) -> None:
        check_model_event(self)
        check_non_negative_field(self, self.duration_ms, "duration_ms")


@attrs.frozen(kw_only=True, slots=True)
class FirstTokenReceived(ModelEvent):
    """A streaming response produced its first token."""

    __module__ = "metrics_core.events"

    time_to_first_token_ms: float
    request_id: str | None = attrs.field(default=None, validator=optional_str)

    def __attrs_post_init__(self) -> None:
        check_model_event(self)
        check_non_negative_field(self, self.time_to_first_token_ms, "time_to_first_token_ms")
