"""Helpers for users' tests: an in-memory exporter and ``capture_metrics()``.

>>> with capture_metrics() as captured:
...     captured.metrics.collect(InferenceCollector())
...     captured.metrics.record_inference("bert", "v1", 12.0, success=True)
>>> captured.snapshot().find("model_inference_requests_total")[0].total
1.0
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from metrics_core.bus import EventBus
from metrics_core.clock import Clock, ManualClock
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import Series, Snapshot

__all__ = ["CapturedMetrics", "InMemoryExporter", "ManualClock", "capture_metrics"]


class InMemoryExporter:
    """Keeps every snapshot it is given, for assertions."""

    def __init__(self) -> None:
        self._snapshots: list[Snapshot] = []
        self._lock = threading.Lock()
        self.closed = False

    def export(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot``."""
        with self._lock:
            self._snapshots.append(snapshot)

    def close(self) -> None:
        """Mark closed."""
        self.closed = True

    @property
    def snapshots(self) -> list[Snapshot]:
        """Every snapshot received, oldest first (a copy of the list)."""
        with self._lock:
            return list(self._snapshots)

    @property
    def last(self) -> Snapshot:
        """The latest snapshot; raises ``LookupError`` before the first export."""
        with self._lock:
            if not self._snapshots:
                raise LookupError("nothing was exported yet")
            return self._snapshots[-1]

    def find(self, name: str) -> list[Series]:
        """The series named ``name`` in the latest snapshot."""
        return self.last.find(name)


class CapturedMetrics:
    """What ``capture_metrics`` yields: a ``Metrics`` on a private bus and registry."""

    def __init__(self, metrics: Metrics, exporter: InMemoryExporter) -> None:
        self.metrics = metrics
        self.exporter = exporter

    @property
    def bus(self) -> EventBus:
        """The private bus: emit events here."""
        return self.metrics.bus

    def snapshot(self) -> Snapshot:
        """A snapshot of the private registry."""
        return self.metrics.snapshot()


@contextmanager
def capture_metrics(clock: Clock | None = None) -> Iterator[CapturedMetrics]:
    """A ``Metrics`` with its own bus, registry and an ``InMemoryExporter``; closed on exit."""
    exporter = InMemoryExporter()
    metrics = Metrics(bus=EventBus(), registry=AggregatingRegistry(clock=clock))
    metrics.export_to(exporter)
    try:
        yield CapturedMetrics(metrics, exporter)
    finally:
        metrics.close()
