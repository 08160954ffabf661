"""``InferenceSpan``: one tracked request, from ``InferenceStarted`` to its outcome.

A span emits ``InferenceStarted`` when it begins, ``FirstTokenReceived`` at its
first ``chunk()``, and ``InferenceCompleted`` (with what the code set on it) or
``InferenceFailed`` when it ends. ``inference_span()`` makes one for a ``with`` or
``async with`` block; ``track_inference`` makes one per call of the function it
wraps. ``current_span()`` finds the span of the tracked call in progress.

Values are validated when set, so a bad one raises ``ValueError`` in the code
that set it, while the request is still running; the request is recorded anyway.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
from collections.abc import Mapping
from contextvars import ContextVar, Token
from time import perf_counter_ns
from types import TracebackType

from integrations._span_attributes import SpanAttributes
from integrations._span_values import SettableValues, SpanValues
from metrics_core._inference_events import prechecked_completed, prechecked_started
from metrics_core.attributes import NO_ATTRIBUTES, EventAttributes
from metrics_core.bus import EventBus, default_bus
from metrics_core.events import (
    FirstTokenReceived,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
)
from metrics_core.facade import Metrics
from metrics_core.logs import get_logger
from metrics_core.tags import TagValue
from metrics_core.unheard import warn_if_unheard

__all__ = ["InferenceSpan", "current_span", "inference_span"]

BusLike = EventBus | Metrics | None
"""What ``bus=`` accepts: a bus, a ``Metrics`` (its bus), or ``None`` for the default bus."""

INVALID_SPAN_VALUE = "InvalidSpanValue"
"""``error_type`` of a request whose completion event could not be built."""

CURRENT_SPAN: ContextVar[InferenceSpan | None] = ContextVar("inference_span", default=None)
"""The span :func:`current_span` returns; ``track_inference`` sets it around the callee."""
# Unique within the process and cheap: a uuid4 costs several times a counter step.
_ID_PREFIX = secrets.token_hex(4) + "-"
_ids = itertools.count(1)
_log = get_logger("integrations.tracking")
_new = object.__new__


def current_span() -> InferenceSpan | None:
    """The span of the tracked call or ``with inference_span()`` block in progress, or ``None``.

    Context-local: each thread and each asyncio task sees its own.
    """
    return CURRENT_SPAN.get()


def resolve_bus(bus: object) -> EventBus | None:
    """The ``EventBus`` that ``bus`` names; ``None`` means the default bus, looked up per call."""
    if bus is None or isinstance(bus, EventBus):
        return bus
    if isinstance(bus, Metrics):
        return bus.bus
    raise TypeError(f"'bus' must be an EventBus, a Metrics or None: {bus!r}")


def check_model(model_name: object, version: object) -> None:
    """Raise ``ValueError`` unless both are non-empty strings."""
    for field, value in (("model_name", model_name), ("version", version)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"'{field}' must be a non-empty string: {value!r}")


def check_request_id(request_id: object) -> None:
    """Raise ``ValueError`` unless ``request_id`` is ``None`` or a non-empty string."""
    if request_id is not None and (not isinstance(request_id, str) or not request_id):
        raise ValueError(f"'request_id' must be a non-empty string or None: {request_id!r}")


class InferenceSpan(SettableValues):
    """One request being tracked; settable values land on ``InferenceCompleted``.

    Use it through ``with inference_span(...) as span`` (or ``async with``), or
    reach the one of a ``@track_inference`` call with :func:`current_span`.
    Setting a value after the span ended raises ``RuntimeError``. The settable
    values (``output_tokens``, ``cost_usd``, ...) are documented on
    :class:`~integrations._span_values.SettableValues`.
    """

    # Few slots, each written once per call: what the code sets lives in ``_values``,
    # made at the first set, so a call that sets nothing costs no more than its name.
    __slots__ = ("_attributes", "_bus", "_started_ns", "_token", "model_name", "version")

    def __init__(
        self,
        model_name: str,
        version: str,
        bus: EventBus | None,
        request_id: str | None,
        attributes: Mapping[str, TagValue] | None = None,
    ) -> None:
        # Checked here because the span's events are built without a check of their own.
        name_ok = model_name.__class__ is str and model_name
        if not (name_ok and version.__class__ is str and version):
            check_model(model_name, version)
        if request_id is not None and (request_id.__class__ is not str or not request_id):
            check_request_id(request_id)
        self._attributes = (
            None if attributes is None else SpanAttributes(attributes, self._check_open)
        )
        self.model_name = model_name
        self.version = version
        self.request_id = request_id
        self._bus = bus
        self._started_ns = 0
        self._ended = False
        self._token: Token[InferenceSpan | None] | None = None
        self._values: SpanValues | None = None

    # -- settable values -----------------------------------------------------------------

    @property
    def attributes(self) -> SpanAttributes:
        """Attributes put on every event of the span (``span.attributes["k"] = "v"``).

        Validated as set; events sent after a change carry it (``InferenceStarted`` has
        those set before the span started, the outcome event all of them).
        """
        found = self._attributes
        if found is None:
            found = self._attributes = SpanAttributes(None, self._check_open)
        return found

    def _tags(self) -> EventAttributes:
        found = self._attributes
        return NO_ATTRIBUTES if found is None else found.tags()

    # -- streaming -----------------------------------------------------------------------

    def chunk(self, text: object = None) -> None:
        """Count one streamed chunk; the first one emits ``FirstTokenReceived``.

        A ``str`` chunk (``text``) also counts its characters (``stream_chars``).
        """
        values = self._open_values()
        if text.__class__ is str:
            values.chars = (values.chars or 0) + len(text)
        if values.chunks:
            values.chunks += 1
            return
        if not self._started_ns:
            raise RuntimeError("chunk() before the span started: enter it with 'with' first")
        values.chunks = 1
        now = values.first_token_ns = perf_counter_ns()
        bus = self._bus
        if bus is not None and bus.has_listeners(FirstTokenReceived):
            bus.emit(
                FirstTokenReceived(
                    model_name=self.model_name,
                    version=self.version,
                    request_id=self.request_id,
                    time_to_first_token_ms=(now - self._started_ns) / 1e6,
                    attributes=self._tags(),
                )
            )

    @property
    def chunks(self) -> int:
        """Chunks counted so far."""
        return (self._values and self._values.chunks) or 0

    @property
    def time_to_first_token_ms(self) -> float | None:
        """Milliseconds from the start to the first chunk; ``None`` before it."""
        values = self._values
        if values is None or not values.chunks:
            return None
        return (values.first_token_ns - self._started_ns) / 1e6

    # -- life cycle ----------------------------------------------------------------------

    def __enter__(self) -> InferenceSpan:
        self.start()
        self._token = CURRENT_SPAN.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            # Exited in another context than entered: nothing to undo here.
            with contextlib.suppress(ValueError):
                CURRENT_SPAN.reset(self._token)
            self._token = None
        if exc_type is None or exc_type is GeneratorExit:
            self.complete()
        else:
            self.fail(exc_type.__name__)

    async def __aenter__(self) -> InferenceSpan:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    # Events nobody listens to are not built: with no collector the span costs ~1 us.

    def start(self, *, stream: bool = False) -> None:
        """Emit ``InferenceStarted`` and start the clock (``with`` does it for you).

        ``stream=True`` marks a stream: its ``stream_chunks`` is reported even when 0.
        """
        if self._started_ns:
            raise RuntimeError("an InferenceSpan can be started only once")
        if stream:
            self._open_values().chunks = 0
        self._begin()

    def _begin(self) -> None:
        """Emit ``InferenceStarted`` and start the clock; ``start()``'s checks are done."""
        bus = self._bus
        if bus is None:
            bus = self._bus = default_bus()
            warn_if_unheard(bus, InferenceCompleted)
        request_id = self.request_id
        if request_id is None:
            request_id = self.request_id = f"{_ID_PREFIX}{next(_ids)}"
        if bus.has_listeners(InferenceStarted):
            found = self._attributes
            tags = NO_ATTRIBUTES if found is None else found.tags()
            bus.emit(prechecked_started(self.model_name, self.version, request_id, tags))
        self._started_ns = perf_counter_ns()

    def complete(self) -> None:
        """Emit ``InferenceCompleted`` with the values set (``with`` does it for you)."""
        end = perf_counter_ns()
        if not self._started_ns or self._ended:
            self._check_started()
        self._ended = True
        bus = self._bus
        if bus is None or not bus.has_listeners(InferenceCompleted):
            return
        if self._values is None and self._attributes is None:  # nothing set: the common case
            ms = (end - self._started_ns) / 1e6
            bus.emit(prechecked_completed(self.model_name, self.version, self.request_id, ms))
            return
        try:
            event = completion_event(self, end)
        except ValueError:
            # Unreachable through the setters; if it happens, the request still counts.
            _log.error("invalid_span_value", request_id=self.request_id, exc_info=True)
            self._fail_at(end, INVALID_SPAN_VALUE)
            return
        bus.emit(event)

    def fail(self, error_type: str) -> None:
        """Emit ``InferenceFailed`` with ``error_type`` (``with`` does it on an exception)."""
        end = perf_counter_ns()
        self._check_started()
        if not isinstance(error_type, str) or not error_type:
            raise ValueError(f"'error_type' must be a non-empty string: {error_type!r}")
        self._fail_at(end, error_type)

    def _fail_at(self, end: int, error_type: str) -> None:
        self._ended = True
        bus = self._bus
        if bus is not None and bus.has_listeners(InferenceFailed):
            bus.emit(
                InferenceFailed(
                    model_name=self.model_name,
                    version=self.version,
                    request_id=self.request_id,
                    duration_ms=(end - self._started_ns) / 1e6,
                    error_type=error_type,
                    attributes=self._tags(),
                )
            )

    def _check_started(self) -> None:
        if not self._started_ns:
            raise RuntimeError("the span has not started: enter it with 'with' first")
        self._check_open()


def completion_event(span: InferenceSpan, end: int) -> InferenceCompleted:
    """The ``InferenceCompleted`` of ``span`` ended at ``end``, with all it set (checked again)."""
    started = span._started_ns
    values = span._values or SpanValues()
    chunks = values.chunks
    return InferenceCompleted(
        model_name=span.model_name,
        version=span.version,
        request_id=span.request_id,
        duration_ms=(end - started) / 1e6,
        time_to_first_token_ms=(values.first_token_ns - started) / 1e6 if chunks else None,
        input_tokens=values.input_tokens,
        output_tokens=values.output_tokens,
        cached_tokens=values.cached_tokens,
        cost_usd=values.cost_usd,
        batch_size=values.batch_size,
        confidence=values.confidence,
        predicted_class=values.predicted_class,
        stream_chunks=chunks,
        stream_chars=values.chars,
        attributes=span._tags(),
    )


def start_call(
    model_name: str, version: str, bus: EventBus | None, attributes: Mapping[str, TagValue] | None
) -> InferenceSpan:
    """Make and start the span of one decorated call: ``InferenceSpan(...)`` then ``start()``.

    The same span, made without calling the class (in CPython 3.11 a class call costs
    more than the stores it makes) and without the checks that ``track_inference``
    made once, at decoration.
    """
    span: InferenceSpan = _new(InferenceSpan)
    span.model_name = model_name
    span.version = version
    span.request_id = None
    span._bus = bus
    span._started_ns = 0
    span._ended = False
    span._token = None
    span._values = None
    span._attributes = None if attributes is None else SpanAttributes(attributes, span._check_open)
    span._begin()
    return span


def inference_span(
    model_name: str,
    version: str,
    *,
    bus: BusLike = None,
    request_id: str | None = None,
    attributes: Mapping[str, TagValue] | None = None,
) -> InferenceSpan:
    """Make a span that tracks one request in a ``with`` or ``async with`` block.

    ``with inference_span("chat", "v1", bus=bus) as span:`` records the block as one
    request; set ``span.output_tokens`` and the other values inside it.
    ``bus`` is an ``EventBus``, a ``Metrics`` (its bus) or ``None`` (the process-wide
    default bus). ``request_id`` defaults to a process-unique id. ``attributes``
    start ``span.attributes``, which the block may change.
    """
    check_model(model_name, version)
    check_request_id(request_id)
    return InferenceSpan(model_name, version, resolve_bus(bus), request_id, attributes)
