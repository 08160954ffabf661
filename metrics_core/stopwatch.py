"""``Stopwatch``: time any operation into a timer, as a ``with`` block or a decorator.

Micrometer's ``Timer.Sample`` and Symfony's Stopwatch, for code that is not an
inference: ``with metrics.timer("queue.wait", {"queue": "a"}):`` records the
block's wall time (``time.perf_counter``) in milliseconds into the timer
``queue.wait{queue="a"}`` when the block ends, whether it returned or raised.
The same object decorates functions, sync or ``async`` (each call is timed), and
works as ``async with``. A timer of an arbitrary operation is a metric, not a
domain fact, so it records into the registry directly, as a collector would,
with no event on the bus.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar, cast

from metrics_core._validation import check_metric_name
from metrics_core.registry import Registry
from metrics_core.tags import Tags, TagValue
from metrics_core.values import Timer

__all__ = ["Stopwatch"]

_F = TypeVar("_F", bound=Callable[..., Any])

# The starts of the blocks open in this thread or task, as (stopwatch id, start) pairs:
# a context variable, so that threads and asyncio tasks sharing a Stopwatch never see
# each other's starts; an entry lives only while its block runs.
_OPEN: contextvars.ContextVar[tuple[tuple[int, int], ...]] = contextvars.ContextVar(
    "inference_metrics_open_stopwatches", default=()
)


class Stopwatch:
    """Times blocks and calls into the timer ``name{tags}`` of ``registry``.

    ``last`` is the ``Timer`` value of the latest block or call timed. One
    ``Stopwatch`` may be entered by many threads or tasks at once: each entry
    keeps its own start.
    """

    __slots__ = ("_registry", "last", "name", "tags")

    def __init__(
        self,
        registry: Registry,
        name: str,
        tags: Tags | Mapping[str, TagValue] | None = None,
    ) -> None:
        self.name = check_metric_name(name)
        self.tags = tags if isinstance(tags, Tags) else Tags.of(tags)
        self._registry = registry
        self.last: Timer | None = None

    def record_since(self, started_ns: int) -> Timer:
        """Record the time since ``started_ns`` (a ``time.perf_counter_ns()``) and return it."""
        elapsed_ms = (time.perf_counter_ns() - started_ns) / 1e6
        self.last = self._registry.timer(self.name, self.tags, elapsed_ms)
        return self.last

    # -- with / async with -------------------------------------------------------------

    def __enter__(self) -> Stopwatch:
        _OPEN.set((*_OPEN.get(), (id(self), time.perf_counter_ns())))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        opened = _OPEN.get()
        me = id(self)
        for index in range(len(opened) - 1, -1, -1):
            if opened[index][0] == me:
                _OPEN.set(opened[:index] + opened[index + 1 :])
                self.record_since(opened[index][1])
                return
        raise RuntimeError("a Stopwatch exited without entering in this thread or task")

    async def __aenter__(self) -> Stopwatch:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator ---------------------------------------------------------------------

    def __call__(self, function: _F) -> _F:
        """Time every call of ``function`` (a coroutine function is timed until it returns)."""
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter_ns()
                try:
                    return await function(*args, **kwargs)
                finally:
                    self.record_since(started)

            return cast(_F, timed_async)

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter_ns()
            try:
                return function(*args, **kwargs)
            finally:
                self.record_since(started)

        return cast(_F, timed)

    def __repr__(self) -> str:
        return f"Stopwatch(name={self.name!r}, tags={dict(self.tags)!r})"
