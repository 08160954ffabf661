"""metrics_core.testing: InMemoryExporter and capture_metrics for users' tests."""

from __future__ import annotations

import pytest

from collectors.inference import InferenceCollector
from metrics_core import names
from metrics_core.bus import EventBus, default_bus
from metrics_core.clock import ManualClock
from metrics_core.events import InferenceCompleted, InferenceFailed
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, Snapshot
from metrics_core.testing import CapturedMetrics, InMemoryExporter, capture_metrics

T0 = 1_700_000_000.0


def test_in_memory_exporter_keeps_every_snapshot_in_order() -> None:
    exporter = InMemoryExporter()
    first, second = Snapshot(T0, ()), Snapshot(T0 + 1, ())

    exporter.export(first)
    exporter.export(second)

    assert exporter.snapshots == [first, second]
    assert exporter.last is second


def test_in_memory_exporter_snapshots_is_a_copy() -> None:
    exporter = InMemoryExporter()
    exporter.export(Snapshot(T0, ()))

    exporter.snapshots.clear()

    assert len(exporter.snapshots) == 1


def test_last_raises_lookup_error_before_an_export() -> None:
    exporter = InMemoryExporter()

    with pytest.raises(LookupError):
        _ = exporter.last
    with pytest.raises(LookupError):
        exporter.find(names.REQUESTS_TOTAL)


def test_in_memory_exporter_close_marks_closed() -> None:
    exporter = InMemoryExporter()
    assert not exporter.closed

    exporter.close()

    assert exporter.closed


def test_capture_metrics_yields_a_private_bus_and_registry() -> None:
    with capture_metrics() as captured, capture_metrics() as other:
        assert isinstance(captured, CapturedMetrics)
        assert isinstance(captured.bus, EventBus)
        assert captured.bus is not default_bus()
        assert captured.bus is not other.bus
        assert isinstance(captured.metrics.registry, AggregatingRegistry)
        assert captured.metrics.registry is not other.metrics.registry
        assert isinstance(captured.exporter, InMemoryExporter)


def test_capture_metrics_records_what_the_bus_carries() -> None:
    with capture_metrics(clock=ManualClock(T0)) as captured:
        captured.metrics.collect(InferenceCollector())
        captured.bus.emit(InferenceCompleted(model_name="bert", version="v1", duration_ms=4.0))
        captured.metrics.record_inference("bert", "v1", 6.0, success=True)
        captured.bus.emit(
            InferenceFailed(model_name="bert", version="v1", duration_ms=1.0, error_type="OOM")
        )

        snapshot = captured.snapshot()
        assert snapshot.taken_at == T0
        requests = snapshot.find(names.REQUESTS_TOTAL)
        assert [s.total for s in requests if isinstance(s, CounterSeries)] == [3.0]
        assert captured.metrics.get_metrics("bert", "v1").errors_by_type == {"OOM": 1}


def test_capture_metrics_exports_to_its_exporter() -> None:
    with capture_metrics() as captured:
        captured.metrics.collect(InferenceCollector())
        captured.metrics.record_inference("bert", "v1", 1.0, success=True)

        outcomes = captured.metrics.export()

        assert [(o.exporter, o.status) for o in outcomes] == [("InMemoryExporter", "ok")]
        found = captured.exporter.find(names.REQUESTS_TOTAL)
        assert [s.total for s in found if isinstance(s, CounterSeries)] == [1.0]


def test_capture_metrics_closes_on_exit() -> None:
    with capture_metrics() as captured:
        captured.metrics.collect(InferenceCollector())
        captured.metrics.record_inference("bert", "v1", 1.0, success=True)
        assert captured.exporter.snapshots == []

    assert captured.exporter.closed
    assert len(captured.exporter.snapshots) == 1  # the last export at close
    assert not captured.bus.has_listeners(InferenceCompleted)


def test_capture_metrics_closes_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError, match="test failed"), capture_metrics() as captured:
        raise RuntimeError("test failed")

    assert captured.exporter.closed
