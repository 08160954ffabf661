"""``Metrics``: the facade that wires collectors to the bus and snapshots to exporters."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from metrics_core import names
from metrics_core._queries import QueryMethods
from metrics_core._validation import check_seconds, shown
from metrics_core.async_export import AsyncExporter, run_async
from metrics_core.bus import EventBus, default_bus, listener_name
from metrics_core.clock import Clock
from metrics_core.control import CONTROL_NAMES, RecordingControl
from metrics_core.environment import ControlSettings
from metrics_core.events import (
    ActiveConnectionsChanged,
    Event,
    InferenceCompleted,
    InferenceFailed,
    MemoryUsageReported,
)
from metrics_core.exporting import Exporter, ExportFanout, ExportOutcome, PullExporter
from metrics_core.filters import EventFilter
from metrics_core.history import HistoryStore, share_group_writer
from metrics_core.logs import get_logger
from metrics_core.registry import AggregatingRegistry, Registry
from metrics_core.sampling import Sampling
from metrics_core.shedding import LoadShedding
from metrics_core.shutdown import ShutdownHook
from metrics_core.snapshot import Snapshot
from metrics_core.stopwatch import Stopwatch
from metrics_core.tags import Tags, TagValue
from metrics_core.unheard import forget_own_bus, note_own_bus
from metrics_core.workers import WorkerGroup, WorkerGroupOptions
from metrics_core.workers._registry import join_worker_group

_log = get_logger("metrics_core.facade")
_LEAST_WAIT = 0.001  # seconds an auto-export round waits for its exporters, at least
_CLOSE_RESERVE = 0.5  # seconds of close()'s deadline kept for closing the exporters, at most


class Metrics(QueryMethods):
    """Wires collectors to a bus and a registry, and fans snapshots out to exporters.

    >>> from collectors import InferenceCollector
    >>> metrics = Metrics(bus=EventBus()).collect(InferenceCollector())
    >>> metrics.record_inference("bert", "v2", latency_ms=12.5, success=True)
    >>> metrics.get_metrics("bert", "v2", window=60).request_count
    1

    :param bus: the bus to listen on; the process-wide default bus when omitted.
    :param registry: where collectors record; a new ``AggregatingRegistry`` when omitted.
    :param clock: the clock of that new registry (give the registry its own clock instead
        when you pass one).
    :param export_timeout: seconds an exporter may take before it is cut off.
    :param history: a history store (``exporters.SQLiteStore``, ``PostgresStore``): added
        as the exporter ``"history"`` and read for windows beyond memory (docs/history.md).
    :param multiproc: join a worker group: its directory or ``WorkerGroupOptions``;
        by default the directory named by ``INFERENCE_METRICS_MULTIPROC_DIR``, if set.
        In a group every read (``snapshot``, queries, pull exporters) answers for all
        workers, ``export()`` pushes from the group's leader only, and
        ``local_snapshot()`` is this process alone (docs/integrations.md).
    :param enabled: recording on or off (``INFERENCE_METRICS_ENABLED``, else on); also
        switchable at run time through :attr:`enabled`.
    :param sampling: rates of the distribution work (``INFERENCE_METRICS_SAMPLE_*``).
    :param filters: callables run on each event before the collectors.
    :param shedding: a load-shedding budget (``INFERENCE_METRICS_MAX_EVENTS_PER_SECOND``).
    See docs/control.md for all four.
    """

    def __init__(
        self,
        bus: EventBus | None = None,
        registry: Registry | None = None,
        clock: Clock | None = None,
        *,
        export_timeout: float = 10.0,
        history: HistoryStore | None = None,
        multiproc: str | os.PathLike[str] | WorkerGroupOptions | None = None,
        enabled: bool | None = None,
        sampling: Sampling | None = None,
        filters: Iterable[EventFilter] = (),
        shedding: LoadShedding | None = None,
    ) -> None:
        if registry is not None and clock is not None and registry.clock is not clock:
            raise ValueError("pass 'clock' to the registry you give, not to Metrics")
        export_timeout = check_seconds(export_timeout, "export_timeout")
        self.bus: EventBus = bus if bus is not None else default_bus()
        self.registry: Registry = (
            registry if registry is not None else AggregatingRegistry(clock=clock)
        )
        self.export_timeout = export_timeout
        self.worker_group: WorkerGroup | None
        self.worker_group, self.registry = join_worker_group(multiproc, self.registry)
        self._collectors: list[Any] = []
        self._subscriptions: list[tuple[type[Event], Any]] = []
        self._fanout = ExportFanout(on_error=self._count_export_error)
        self._export_lock = threading.Lock()
        self._auto_stop: threading.Event | None = None
        self._auto_thread: threading.Thread | None = None
        self._shutdown: ShutdownHook | None = None
        self._closed = False
        self._warned_unheard = False
        env = ControlSettings.from_env(os.environ)
        self.control = RecordingControl(
            self.registry,
            enabled=enabled if enabled is not None else env.enabled is not False,
            sampling=sampling if sampling is not None else env.sampling,
            filters=filters,
            shedding=shedding if shedding is not None else env.shedding,
        )
        self._handlers: list[tuple[type[Event], Any]] = []
        # Its own lock: switching must not wait for an export stuck on a hung exporter.
        self._wiring_lock = threading.Lock()
        self.control.on_switch(self._switched)
        self.bus.on_listener_error(self._count_listener_error)
        self.history_store = history
        self._started = self.registry.clock()
        if history is not None:
            if self.worker_group is not None:  # the leader exports the group's data
                share_group_writer(history, self.worker_group.directory)
            self.export_to(history, name="history")
        if bus is not None:
            note_own_bus(self)

    # -- wiring --------------------------------------------------------------------------

    @property
    def collectors(self) -> tuple[Any, ...]:
        """The collectors given to :meth:`collect`, in order (read-only)."""
        return tuple(self._collectors)

    def collect(self, collector: Any) -> Metrics:
        """Bind ``collector`` to the registry, subscribe its handlers, start it. Chainable."""
        collector.bind(self.registry, self.bus)
        use_control = getattr(collector, "use_control", None)
        if use_control is not None:
            use_control(self.control)
        with self._wiring_lock:
            for event_type, handler in collector.listeners().items():
                self._handlers.append((event_type, handler))
                if self.control.enabled:
                    self._subscribe(event_type, handler)
        self._collectors.append(collector)
        collector.start()
        return self

    def export_to(
        self,
        exporter: Exporter | AsyncExporter,
        *,
        timeout: float | None = None,
        name: str | None = None,
    ) -> Metrics:
        """Add ``exporter``; each of its calls is cut off after ``timeout`` seconds. Chainable.

        ``name`` (default: the class name, numbered if repeated) tags its errors in
        ``metrics_export_errors_total{exporter}``. A ``PullExporter`` (one with
        ``attach``) also gets ``Metrics.snapshot`` to read fresh snapshots on demand.
        """
        taken = set(self._fanout.names())
        label = name or type(exporter).__name__
        if name is None:
            base, n = label, 2
            while label in taken:
                label, n = f"{base}_{n}", n + 1
        self._fanout.add(exporter, label, self.export_timeout if timeout is None else timeout)
        if isinstance(exporter, PullExporter):
            exporter.attach(self.snapshot)
        return self

    def _subscribe(self, event_type: type[Event], handler: Any) -> None:
        subscribed = self.control.filters.wrap(handler)
        self.bus.subscribe(event_type, subscribed)
        self._subscriptions.append((event_type, subscribed))

    # -- the switch ----------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether this ``Metrics`` records; set it to switch recording at run time.

        Off, the collectors' handlers leave the bus (emitting costs what emitting with
        no listener costs), ``export()`` exports nothing and :meth:`snapshot` holds only
        ``metrics_recording_enabled`` (0), so the endpoints say recording is off.
        """
        return self.control.enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self.control.enabled = value

    def _switched(self, _enabled: bool) -> None:
        with self._wiring_lock:
            if self._closed:
                return
            for event_type, handler in self._subscriptions:
                self.bus.unsubscribe(event_type, handler)
            self._subscriptions.clear()
            # The state now, not the one notified: two racing switches end as the last one set.
            if self.control.enabled:
                for event_type, handler in self._handlers:
                    self._subscribe(event_type, handler)

    # -- exporting -----------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """An immutable snapshot of the registry (its control series only while off).

        In a worker group, of the whole group.
        """
        if not self.control.enabled:
            return self.registry.snapshot(names=CONTROL_NAMES)
        return self.registry.snapshot()

    def local_snapshot(self) -> Snapshot:
        """A snapshot of what this process recorded, even in a worker group."""
        group = self.worker_group
        return (self.registry if group is None else group.local).snapshot()

    def export(self, *, deadline: float | None = None) -> list[ExportOutcome]:
        """Export one snapshot to every exporter; ``deadline`` is in seconds from now.

        Concurrent calls run one after the other. Failures are logged and counted,
        never raised.
        """
        if not self.control.enabled:
            return []
        limit = None if deadline is None else time.monotonic() + check_seconds(deadline, "deadline")
        group = self.worker_group
        if group is not None and not group.is_leader():
            return []  # one member, the leader, pushes the group's snapshot
        with self._export_lock:
            if group is not None:
                return group.export(self._fanout, self.snapshot(), limit)
            return self._fanout.export(self.snapshot(), limit)

    def start_auto_export(self, interval: float) -> None:
        """Export every ``interval`` seconds from a daemon thread (never overlapping itself).

        A round waits for the exporters at most ``interval`` seconds: one still running
        then counts as a ``timeout`` and is skipped as ``busy`` until it returns, so a
        hung or slow exporter never holds the others back.
        """
        interval = check_seconds(interval, "interval")
        self.stop_auto_export()
        stop = threading.Event()

        def loop() -> None:
            next_run = time.monotonic() + interval
            while not stop.wait(max(0.0, next_run - time.monotonic())):
                next_run += interval
                try:
                    # Wait for the exporters until the next tick at most: a slow one is
                    # then skipped as busy, and the others keep their rate.
                    self.export(deadline=max(next_run - time.monotonic(), _LEAST_WAIT))
                except Exception:  # a broken snapshot must not end the loop
                    _log.exception("auto_export_failed")
                now = time.monotonic()
                if next_run + interval <= now:  # a whole tick was missed: skip, keep the phase
                    next_run = now + interval - (now - next_run) % interval

        self._auto_stop = stop
        self._auto_thread = threading.Thread(target=loop, name="metrics-auto-export", daemon=True)
        self._auto_thread.start()

    def stop_auto_export(self, timeout: float = 5.0) -> None:
        """Stop periodic export; waits up to ``timeout`` for a running export."""
        if timeout != 0:  # 0: do not wait (close() may have no time left)
            timeout = check_seconds(timeout, "timeout")
        if self._auto_stop is not None:
            self._auto_stop.set()
        thread = self._auto_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._auto_stop = self._auto_thread = None

    def export_on_shutdown(self, deadline: float = 5.0) -> Metrics:
        """Export and close once more at interpreter exit and on SIGTERM, within ``deadline``."""
        deadline = check_seconds(deadline, "deadline")
        if self._shutdown is not None:
            self._shutdown.uninstall()
        self._shutdown = ShutdownHook(lambda: self.close(deadline=deadline), wait=deadline + 0.5)
        self._shutdown.install()
        return self

    def close(self, deadline: float = 5.0) -> None:
        """Stop auto-export and collectors, unsubscribe, export a last time, close exporters.

        Returns within about ``deadline`` seconds whatever the exporters do.
        """
        deadline = check_seconds(deadline, "deadline")
        if self._closed:
            return
        self._closed = True
        end = time.monotonic() + deadline
        self.stop_auto_export(timeout=max(0.0, min(1.0, end - time.monotonic())))
        with self._wiring_lock:
            for event_type, handler in self._subscriptions:
                self.bus.unsubscribe(event_type, handler)
            self._subscriptions.clear()
        for collector in self._collectors:
            try:
                collector.stop()
            except Exception:
                _log.exception("collector_stop_failed", collector=type(collector).__name__)
        # An export stuck on a hung exporter holds the lock: wait for it at most a quarter
        # of the deadline, leaving the rest to the final export and the closing.
        locked = self._export_lock.acquire(timeout=max(0.0, (end - time.monotonic()) / 4))
        group = self.worker_group
        if group is not None:  # publish the last state; only the leader pushes the group's
            group.close()
        try:
            # The closing keeps a reserve (a quarter of what is left, at most 0.5 s): a hung
            # exporter cannot take the closing time of the others. Nothing is exported while
            # recording is off.
            reserve = min(_CLOSE_RESERVE, max(0.0, end - time.monotonic()) / 4)
            if group is not None:
                if self.control.enabled:
                    group.export(self._fanout, self.snapshot(), end - reserve)
                group.resign()
            elif self.control.enabled:
                self._fanout.export(self.snapshot(), end - reserve)
            self._fanout.close(end)
        finally:
            if locked:
                self._export_lock.release()
        self.bus.remove_listener_error_hook(self._count_listener_error)
        forget_own_bus(self)
        if self._shutdown is not None:
            self._shutdown.uninstall()

    def clear(self) -> None:
        """Forget everything recorded: the registry's series and the collectors' state.

        Each collector is bound again (which drops its cached instruments and counts),
        its subscriptions and exporters stay. For tests and for a fresh start.
        """
        self.registry.clear()
        for collector in self._collectors:
            collector.bind(self.registry, self.bus)

    def timer(self, name: str, tags: Mapping[str, TagValue] | None = None) -> Stopwatch:
        """A ``Stopwatch`` timing blocks or calls into the timer ``name{tags}`` (ms).

        ``with metrics.timer("queue.wait", {"queue": "a"}):``, ``async with``, or as a
        decorator of sync and async functions (see ``metrics_core.stopwatch``).
        """
        return Stopwatch(self.registry, name, tags)

    def __enter__(self) -> Metrics:
        return self

    async def aexport(self, *, deadline: float | None = None) -> list[ExportOutcome]:
        """Export one snapshot without blocking the event loop (``export``'s async twin).

        Async exporters are awaited on the running loop, sync ones run in threads; each
        is cut off at its timeout and ``deadline`` (seconds from now) as in ``export``.
        """
        limit = None if deadline is None else time.monotonic() + check_seconds(deadline, "deadline")
        snapshot = await asyncio.to_thread(self.snapshot)
        return await run_async(self._fanout, "export", (snapshot,), "export", limit)

    async def flush(self, *, deadline: float | None = None) -> list[ExportOutcome]:
        """``aexport``, then each exporter's ``flush()`` where it has one (sync or async)."""
        limit = None if deadline is None else time.monotonic() + check_seconds(deadline, "deadline")
        outcomes = await self.aexport(deadline=deadline)
        return outcomes + await run_async(self._fanout, "flush", (), "flush", limit)

    async def aclose(self, deadline: float = 5.0) -> None:
        """A last ``aexport`` on the running loop, then ``close`` in a thread."""
        end = time.monotonic() + deadline
        if not self._closed:
            await self.aexport(deadline=deadline / 2)
        await asyncio.to_thread(self.close, max(0.1, end - time.monotonic()))

    async def __aenter__(self) -> Metrics:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the recording API of the per-version spec --------------------------------------

    def record_inference(
        self,
        model_name: str,
        version: str,
        latency_ms: float,
        success: bool,
        error_type: str | None = None,
    ) -> None:
        """Emit ``InferenceCompleted``, or ``InferenceFailed`` (``error_type`` or "unknown").

        Does nothing, not even validation, while recording is off.
        """
        if not self.control.enabled:
            return
        event: Event
        if success.__class__ is not bool:
            raise ValueError(f"'success' must be a bool: {shown(success)}")
        if success:
            if error_type is not None:
                raise ValueError(f"'error_type' must be None when success is True: {error_type!r}")
            event = InferenceCompleted(
                model_name=model_name, version=version, duration_ms=latency_ms
            )
        else:
            event = InferenceFailed(
                model_name=model_name,
                version=version,
                duration_ms=latency_ms,
                error_type=error_type or "unknown",
            )
        self._emit(event)

    def record_active_connections(self, model_name: str, version: str, count: int) -> None:
        """Emit ``ActiveConnectionsChanged``."""
        self._emit(ActiveConnectionsChanged(model_name=model_name, version=version, count=count))

    def record_memory_usage(self, model_name: str, version: str, bytes: int) -> None:
        """Emit ``MemoryUsageReported`` (``bytes`` as the per-version spec names it)."""
        self._emit(MemoryUsageReported(model_name=model_name, version=version, memory_bytes=bytes))

    def _emit(self, event: Event) -> None:
        if not self.control.enabled:
            return
        if not self._warned_unheard and not self.bus.has_listeners(type(event)):
            self._warned_unheard = True
            _log.warning(
                "event_not_collected",
                event_type=type(event).__name__,
                hint="collect an InferenceCollector: Metrics().collect(InferenceCollector())",
            )
        self.bus.emit(event)

    # -- self-metrics ----------------------------------------------------------------------

    def _count_export_error(self, exporter: str, reason: str) -> None:
        self.registry.counter(
            names.EXPORT_ERRORS_TOTAL, Tags({"exporter": exporter, "reason": reason})
        )

    def _count_listener_error(self, event: Event, listener: Any, error: BaseException) -> None:
        name = listener_name(listener)
        self.registry.counter(
            names.LISTENER_ERRORS_TOTAL, Tags({"event": type(event).__name__, "listener": name})
        )
