from __future__ import annotations

import pytest

from exporters import CallbackExporter, NullExporter
from metrics_core.clock import ManualClock
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.snapshot import Snapshot


@pytest.fixture
def snapshot() -> Snapshot:
    registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
    registry.counter("requests_total", {"model_name": "bert", "version": "v1"}, 1)
    return registry.snapshot()


def test_callback_receives_the_identical_snapshot(snapshot: Snapshot) -> None:
    received: list[Snapshot] = []
    exporter = CallbackExporter(received.append)

    exporter.export(snapshot)
    exporter.export(snapshot)

    assert len(received) == 2
    assert received[0] is snapshot
    assert received[1] is snapshot


def test_callback_may_return_a_value(snapshot: Snapshot) -> None:
    CallbackExporter(len).export(snapshot)


def test_callback_errors_propagate(snapshot: Snapshot) -> None:
    def fail(_: Snapshot) -> None:
        raise RuntimeError("backend down")

    with pytest.raises(RuntimeError, match="backend down"):
        CallbackExporter(fail).export(snapshot)


def test_non_callable_callback_raises() -> None:
    with pytest.raises(TypeError, match="'callback' must be callable: 42"):
        CallbackExporter(42)  # type: ignore[arg-type]


def test_callback_close_does_nothing(snapshot: Snapshot) -> None:
    received: list[Snapshot] = []
    exporter = CallbackExporter(received.append)
    exporter.close()
    exporter.export(snapshot)

    assert received == [snapshot]
    assert exporter.callback == received.append
    assert repr(exporter) == f"CallbackExporter(callback={received.append!r})"


def test_null_counts_exports(snapshot: Snapshot) -> None:
    exporter = NullExporter()
    assert exporter.exports == 0

    for _ in range(3):
        exporter.export(snapshot)
    exporter.close()

    assert exporter.exports == 3
    assert repr(exporter) == "NullExporter(exports=3)"


def test_null_exports_is_read_only() -> None:
    exporter = NullExporter()

    with pytest.raises(AttributeError):
        exporter.exports = 5  # type: ignore[misc]
    assert exporter.exports == 0
