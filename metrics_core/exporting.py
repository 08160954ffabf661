"""The ``Exporter`` contract and the fan-out that keeps exporters from hurting the app.

Each export runs every exporter in a daemon thread of its own and waits for it
at most its timeout (and the caller's deadline). An exporter that raises is
logged and counted; one that hangs is abandoned: its thread stays busy, later
exports skip it (counted as ``busy``) until it returns, and nothing else waits
for it. Daemon threads never hold up interpreter exit.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import attrs

from metrics_core._validation import check_seconds
from metrics_core.logs import get_logger
from metrics_core.snapshot import Snapshot

_log = get_logger("metrics_core.exporting")


@runtime_checkable
class Exporter(Protocol):
    """Ships snapshots somewhere. Reads snapshots only, never registry internals."""

    def export(self, snapshot: Snapshot) -> None:
        """Send or render ``snapshot``."""

    def close(self) -> None:
        """Flush and release resources."""


SnapshotSource = Callable[[], Snapshot]
"""Returns a fresh snapshot of the registry (``Metrics.snapshot``)."""


@runtime_checkable
class PullExporter(Exporter, Protocol):
    """An exporter that is also read on demand (a Prometheus scrape, say).

    ``Metrics.export_to`` hands it a ``SnapshotSource`` so that it can take a
    fresh snapshot whenever it is read, without a manual ``export()``.
    """

    def attach(self, source: SnapshotSource) -> None:
        """Keep ``source``; call it for a fresh snapshot when read."""


@attrs.frozen(slots=True)
class ExportOutcome:
    """What happened to one exporter in one export: ``ok``, ``error``, ``timeout`` or ``busy``."""

    exporter: str
    status: str
    seconds: float
    error: str | None = None


ErrorHook = Callable[[str, str], None]
"""Called with (exporter name, reason) on every failure."""


class _Slot:
    __slots__ = ("busy", "exporter", "name", "timeout")

    def __init__(self, exporter: Any, name: str, timeout: float) -> None:
        self.exporter = exporter
        self.name = name
        self.timeout = timeout
        self.busy = False


class ExportFanout:
    """Runs a call on every exporter, isolated and bounded in time."""

    def __init__(self, on_error: ErrorHook | None = None) -> None:
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()
        self._on_error = on_error

    def add(self, exporter: Any, name: str, timeout: float) -> None:
        """Add ``exporter`` under ``name``; its calls are cut off after ``timeout`` seconds."""
        timeout = check_seconds(timeout, "timeout")
        with self._lock:
            if any(slot.name == name for slot in self._slots):
                raise ValueError(f"an exporter named {name!r} is already added")
            self._slots.append(_Slot(exporter, name, timeout))

    def names(self) -> list[str]:
        """The names of the exporters, in the order added."""
        with self._lock:
            return [slot.name for slot in self._slots]

    def export(self, snapshot: Snapshot, deadline: float | None = None) -> list[ExportOutcome]:
        """Export ``snapshot`` to every exporter; returns within the timeouts and ``deadline``."""
        return self._run(lambda exporter: exporter.export(snapshot), "export", deadline)

    def prime(self, snapshot: Snapshot) -> None:
        """Pass ``snapshot`` to every exporter with a ``prime`` method (delta exporters).

        A worker group's new leader primes with what the previous leader last sent.
        """
        with self._lock:
            slots = list(self._slots)
        for slot in slots:
            prime = getattr(slot.exporter, "prime", None)
            if prime is None:
                continue
            try:
                prime(snapshot)
            except Exception:
                _log.exception("prime_failed", exporter=slot.name)

    def close(self, deadline: float | None = None) -> list[ExportOutcome]:
        """Close every exporter, bounded like ``export``."""
        return self._run(lambda exporter: exporter.close(), "close", deadline)

    def _run(
        self, call: Callable[[Exporter], object], action: str, deadline: float | None
    ) -> list[ExportOutcome]:
        with self._lock:
            slots = list(self._slots)
        started = time.monotonic()
        running: list[tuple[_Slot, threading.Thread, list[ExportOutcome]]] = []
        outcomes: list[ExportOutcome] = []
        for slot in slots:
            with self._lock:
                if slot.busy:
                    outcome = ExportOutcome(slot.name, "busy", 0.0, "previous call still running")
                    outcomes.append(self._failed(outcome, action))
                    continue
                slot.busy = True
            result: list[ExportOutcome] = []
            thread = threading.Thread(
                target=self._call,
                args=(slot, call, result),
                name=f"metrics-{action}-{slot.name}",
                daemon=True,
            )
            thread.start()
            running.append((slot, thread, result))
        for slot, thread, result in running:
            limit = started + slot.timeout
            if deadline is not None:
                limit = min(limit, deadline)
            thread.join(max(0.0, limit - time.monotonic()))
            if result:
                outcome = result[0]
                outcomes.append(
                    outcome if outcome.status == "ok" else self._failed(outcome, action)
                )
            else:
                waited = time.monotonic() - started
                outcome = ExportOutcome(slot.name, "timeout", waited, f"no answer in {waited:.2f}s")
                outcomes.append(self._failed(outcome, action))
        return outcomes

    def _call(
        self, slot: _Slot, call: Callable[[Exporter], object], result: list[ExportOutcome]
    ) -> None:
        began = time.monotonic()
        try:
            pending = call(slot.exporter)
            if inspect.isawaitable(pending):  # an async exporter, from a sync export
                asyncio.run(_wait(pending))
        except BaseException as error:
            result.append(ExportOutcome(slot.name, "error", time.monotonic() - began, repr(error)))
        else:
            result.append(ExportOutcome(slot.name, "ok", time.monotonic() - began))
        finally:
            with self._lock:
                slot.busy = False

    def _failed(self, outcome: ExportOutcome, action: str) -> ExportOutcome:
        _log.warning(
            f"{action}_failed",
            exporter=outcome.exporter,
            reason=outcome.status,
            error=outcome.error,
        )
        if self._on_error is not None:
            try:
                self._on_error(outcome.exporter, outcome.status)
            except Exception:
                _log.exception("export_error_hook_failed", exporter=outcome.exporter)
        return outcome


async def _wait(pending: Awaitable[object]) -> None:
    await pending
