"""The async export path: ``await metrics.aexport()``, ``await metrics.flush()``.

Exporters may be async (``async def export(snapshot)``). From an event loop, an async
exporter runs as a task on that loop and a sync one in a daemon thread of its own, both
awaited at most their timeout (and the caller's deadline), all at once: the same
isolation as ``ExportFanout`` (an error is logged and counted, a hung exporter is
abandoned and skipped as ``busy`` until it returns), without blocking the loop. From
the sync path (``Metrics.export``), an async exporter runs in its thread on a loop of
its own.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Protocol, runtime_checkable

from metrics_core.exporting import ExportFanout, ExportOutcome, _Slot
from metrics_core.snapshot import Snapshot


@runtime_checkable
class AsyncExporter(Protocol):
    """An exporter whose ``export`` is a coroutine; ``close`` may be sync or async."""

    async def export(self, snapshot: Snapshot) -> None:
        """Send or render ``snapshot``."""

    def close(self) -> Any:
        """Flush and release resources (may return an awaitable)."""


def is_async_method(exporter: object, method: str) -> bool:
    """Whether ``exporter.<method>`` is a coroutine function."""
    return inspect.iscoroutinefunction(getattr(exporter, method, None))


async def run_async(
    fanout: ExportFanout,
    method: str,
    args: tuple[Any, ...],
    action: str,
    deadline: float | None,
) -> list[ExportOutcome]:
    """Call ``exporter.<method>(*args)`` on every exporter of ``fanout`` that has it.

    ``deadline`` is a ``time.monotonic()`` value. Returns one outcome per exporter
    called, in the order added, within the timeouts and the deadline.
    """
    with fanout._lock:
        slots = [slot for slot in fanout._slots if callable(getattr(slot.exporter, method, None))]
    started = time.monotonic()
    calls = [_one(fanout, slot, method, args, action, deadline, started) for slot in slots]
    return list(await asyncio.gather(*calls))


async def _one(
    fanout: ExportFanout,
    slot: _Slot,
    method: str,
    args: tuple[Any, ...],
    action: str,
    deadline: float | None,
    started: float,
) -> ExportOutcome:
    with fanout._lock:
        if slot.busy:
            busy = ExportOutcome(slot.name, "busy", 0.0, "previous call still running")
            return fanout._failed(busy, action)
        slot.busy = True
    limit = started + slot.timeout if deadline is None else min(started + slot.timeout, deadline)
    done: asyncio.Future[ExportOutcome]
    if is_async_method(slot.exporter, method):
        done = asyncio.ensure_future(_timed(slot, getattr(slot.exporter, method)(*args)))
        done.add_done_callback(lambda _: _release(fanout, slot))
    else:
        done = _in_thread(fanout, slot, lambda exporter: getattr(exporter, method)(*args))
    try:
        outcome = await asyncio.wait_for(asyncio.shield(done), max(0.0, limit - time.monotonic()))
    except asyncio.TimeoutError:
        waited = time.monotonic() - started
        outcome = ExportOutcome(slot.name, "timeout", waited, f"no answer in {waited:.2f}s")
    return outcome if outcome.status == "ok" else fanout._failed(outcome, action)


async def _timed(slot: _Slot, pending: Awaitable[object]) -> ExportOutcome:
    began = time.monotonic()
    try:
        await pending
    except (Exception, SystemExit) as error:  # an exporter must never break the app
        return ExportOutcome(slot.name, "error", time.monotonic() - began, repr(error))
    return ExportOutcome(slot.name, "ok", time.monotonic() - began)


def _release(fanout: ExportFanout, slot: _Slot) -> None:
    with fanout._lock:
        slot.busy = False


def _in_thread(
    fanout: ExportFanout, slot: _Slot, call: Callable[[Any], object]
) -> asyncio.Future[ExportOutcome]:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[ExportOutcome] = loop.create_future()

    def run() -> None:
        result: list[ExportOutcome] = []
        fanout._call(slot, call, result)  # releases the slot when done
        with suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_settle, future, result[0])

    threading.Thread(target=run, name=f"metrics-aexport-{slot.name}", daemon=True).start()
    return future


def _settle(future: asyncio.Future[ExportOutcome], outcome: ExportOutcome) -> None:
    if not future.done():
        future.set_result(outcome)
