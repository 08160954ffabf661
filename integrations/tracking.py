"""``track_inference``: a decorator that reports each call of a model function as events.

It wraps sync and async functions and sync and async generators (streams). Each
call gets an :class:`InferenceSpan`: ``InferenceStarted`` first, then
``InferenceCompleted`` or, when the call raises, ``InferenceFailed`` with the
exception's class name as ``error_type``; the exception itself propagates
unchanged. Inside the call, :func:`current_span` returns that span, so the
function can set tokens, cost or confidence on it.

Streams: the wrapper is itself a generator (or async generator) function, so
``inspect`` and stacked decorators see the same kind of function; as with any
generator function, calling it runs nothing, not even the argument check, until
the first ``next()``/``anext()``. The span starts there; every yielded item is a
chunk; the first one emits ``FirstTokenReceived``, and its time is also put on
``InferenceCompleted`` with the same ``request_id`` (``InferenceCollector`` counts
it once). The duration spans the whole stream.

How each ending is recorded:

- the callee returns, or a stream is exhausted: ``InferenceCompleted``;
- the callee raises any exception, ``asyncio.CancelledError``, ``KeyboardInterrupt``
  or another ``BaseException``: ``InferenceFailed(error_type=<class name>)``
  (``"CancelledError"`` for a cancelled task), then the same exception is re-raised;
- the consumer stops a stream early (``break``, ``close()``, ``aclose()``, garbage
  collection): ``InferenceCompleted`` with the chunks yielded so far, as a client
  that stops reading has been served; the stream's duration ends at the close.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any, ParamSpec, TypeVar, cast

from integrations._span_attributes import SpanAttributes
from integrations._spans import (
    CURRENT_SPAN,
    BusLike,
    InferenceSpan,
    check_model,
    current_span,
    inference_span,
    resolve_bus,
    start_call,
)
from metrics_core.bus import EventBus
from metrics_core.tags import TagValue

__all__ = ["InferenceSpan", "current_span", "inference_span", "track_inference"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_Fixed = Mapping[str, TagValue] | None


def _always_open() -> None:
    """The decorator's attributes belong to no span: always settable."""


def track_inference(
    model_name: str,
    version: str,
    *,
    bus: BusLike = None,
    attributes: Mapping[str, TagValue] | None = None,
) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorate a model function so that each call is recorded for ``model_name:version``.

    ``bus`` is an ``EventBus``, a ``Metrics`` (its bus) or ``None``: the process-wide
    default bus, looked up at each call. ``attributes`` start each call's
    ``span.attributes`` (the function may add to them through ``current_span()``).
    The decorated function keeps its name, docstring and signature; see the module
    docstring for what each ending records.

    >>> from metrics_core import EventBus
    >>> @track_inference("classifier", "v3", bus=EventBus())
    ... def predict(text: str) -> str:
    ...     return "spam"
    >>> predict("buy now")
    'spam'
    """
    check_model(model_name, version)
    fixed_bus = resolve_bus(bus)
    # Checked now, so a bad attribute fails at decoration, not at the first call.
    fixed = None if attributes is None else dict(SpanAttributes(attributes, _always_open))

    def decorate(func: Callable[_P, _R]) -> Callable[_P, _R]:
        if inspect.isasyncgenfunction(func):
            wrapper: Callable[..., Any] = _wrap_async_generator(
                func, model_name, version, fixed_bus, fixed
            )
        elif inspect.iscoroutinefunction(func):
            wrapper = _wrap_coroutine(func, model_name, version, fixed_bus, fixed)
        elif inspect.isgeneratorfunction(func):
            wrapper = _wrap_generator(func, model_name, version, fixed_bus, fixed)
        else:
            wrapper = _wrap_function(func, model_name, version, fixed_bus, fixed)
        return cast(Callable[_P, _R], functools.wraps(func)(wrapper))

    return decorate


def _wrap_function(
    func: Callable[..., Any],
    model_name: str,
    version: str,
    bus: EventBus | None,
    attributes: _Fixed = None,
) -> Callable[..., Any]:
    set_current, reset_current = CURRENT_SPAN.set, CURRENT_SPAN.reset  # no lookups per call

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        span = start_call(model_name, version, bus, attributes)
        token = set_current(span)
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            reset_current(token)
            span.fail(error.__class__.__name__)
            raise
        reset_current(token)
        span.complete()
        return result

    return wrapper


def _wrap_coroutine(
    func: Callable[..., Any],
    model_name: str,
    version: str,
    bus: EventBus | None,
    attributes: _Fixed = None,
) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        span = start_call(model_name, version, bus, attributes)
        token = CURRENT_SPAN.set(span)
        try:
            result = await func(*args, **kwargs)
        except BaseException as error:
            CURRENT_SPAN.reset(token)
            span.fail(error.__class__.__name__)
            raise
        CURRENT_SPAN.reset(token)
        span.complete()
        return result

    return wrapper


def _wrap_generator(
    func: Callable[..., Generator[Any, Any, Any]],
    model_name: str,
    version: str,
    bus: EventBus | None,
    attributes: _Fixed = None,
) -> Callable[..., Generator[Any, Any, Any]]:
    # Delegates send() and throw() by hand (``yield from`` would hide each chunk), and
    # sets current_span() only while the callee runs, never in the consumer's code.
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        span = InferenceSpan(model_name, version, bus, None, attributes)
        span.start(stream=True)
        try:
            token = CURRENT_SPAN.set(span)
            try:
                inner = func(*args, **kwargs)
                value = next(inner)
            finally:
                CURRENT_SPAN.reset(token)
            while True:
                span.chunk(value)
                try:
                    sent = yield value
                except GeneratorExit:
                    token = CURRENT_SPAN.set(span)
                    try:
                        inner.close()
                    finally:
                        CURRENT_SPAN.reset(token)
                    raise
                except BaseException as error:
                    token = CURRENT_SPAN.set(span)
                    try:
                        value = inner.throw(error)
                    finally:
                        CURRENT_SPAN.reset(token)
                else:
                    token = CURRENT_SPAN.set(span)
                    try:
                        value = inner.send(sent)
                    finally:
                        CURRENT_SPAN.reset(token)
        except StopIteration as stop:
            span.complete()
            return stop.value
        except GeneratorExit:
            span.complete()
            raise
        except BaseException as error:
            span.fail(error.__class__.__name__)
            raise

    return wrapper


def _wrap_async_generator(
    func: Callable[..., AsyncGenerator[Any, Any]],
    model_name: str,
    version: str,
    bus: EventBus | None,
    attributes: _Fixed = None,
) -> Callable[..., AsyncGenerator[Any, Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        span = InferenceSpan(model_name, version, bus, None, attributes)
        span.start(stream=True)
        try:
            token = CURRENT_SPAN.set(span)
            try:
                inner = func(*args, **kwargs)
                value = await inner.__anext__()
            finally:
                CURRENT_SPAN.reset(token)
            while True:
                span.chunk(value)
                try:
                    sent = yield value
                except GeneratorExit:
                    token = CURRENT_SPAN.set(span)
                    try:
                        await inner.aclose()
                    finally:
                        CURRENT_SPAN.reset(token)
                    raise
                except BaseException as error:
                    token = CURRENT_SPAN.set(span)
                    try:
                        value = await inner.athrow(error)
                    finally:
                        CURRENT_SPAN.reset(token)
                else:
                    token = CURRENT_SPAN.set(span)
                    try:
                        value = await inner.asend(sent)
                    finally:
                        CURRENT_SPAN.reset(token)
        except StopAsyncIteration:
            span.complete()
        except GeneratorExit:
            span.complete()
            raise
        except BaseException as error:
            span.fail(error.__class__.__name__)
            raise

    return wrapper
