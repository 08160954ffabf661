from __future__ import annotations

import json
from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from exporters import LogExporter
from metrics_core.clock import ManualClock
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.snapshot import DistributionSeries, Snapshot

TAGS = {"model_name": "bert", "version": "v1"}


@pytest.fixture
def snapshot(registry: AggregatingRegistry, clock: ManualClock) -> Snapshot:
    # One value of each distribution falls out of the 60 s window, two stay in it.
    registry.counter("requests_total", TAGS, 1)
    registry.timer("latency", TAGS, 10.0)
    registry.histogram("tokens", TAGS, 100.0)
    clock.advance(120.0)
    registry.counter("requests_total", TAGS, 2)
    registry.gauge("active_connections", TAGS, 4)
    for duration_ms in (20.0, 30.0, 40.0):
        registry.timer("latency", TAGS, duration_ms)
    registry.histogram("tokens", TAGS, 300.0)
    clock.advance(5.0)
    return registry.snapshot()


def export(snapshot: Snapshot, **kwargs: Any) -> list[MutableMapping[str, Any]]:
    with capture_logs() as logs:
        LogExporter(**kwargs).export(snapshot)
    return logs


def by_metric(logs: list[MutableMapping[str, Any]]) -> dict[str, MutableMapping[str, Any]]:
    return {entry["metric"]: entry for entry in logs}


def test_one_event_per_series(snapshot: Snapshot) -> None:
    logs = export(snapshot)

    assert [entry["metric"] for entry in logs] == [s.name for s in snapshot.series]


def test_counter_logs_total_and_window_total(snapshot: Snapshot) -> None:
    assert by_metric(export(snapshot))["requests_total"] == {
        "event": "metric",
        "log_level": "info",
        "metric": "requests_total",
        "kind": "counter",
        "tags": {"model_name": "bert", "version": "v1"},
        "value": 3.0,
        "window_value": 2.0,
    }


def test_gauge_logs_its_value(snapshot: Snapshot) -> None:
    assert by_metric(export(snapshot))["active_connections"] == {
        "event": "metric",
        "log_level": "info",
        "metric": "active_connections",
        "kind": "gauge",
        "tags": {"model_name": "bert", "version": "v1"},
        "value": 4.0,
    }


def test_timer_logs_all_time_and_window_summary_in_ms(snapshot: Snapshot) -> None:
    series = snapshot.get("latency", TAGS)
    assert isinstance(series, DistributionSeries)
    p50, p95, p99 = series.window_summary(60.0, snapshot.taken_at).quantiles(0.5, 0.95, 0.99)

    assert by_metric(export(snapshot))["latency"] == {
        "event": "metric",
        "log_level": "info",
        "metric": "latency",
        "kind": "timer",
        "tags": {"model_name": "bert", "version": "v1"},
        "count": 4,
        "sum": 100.0,
        "min": 10.0,
        "max": 40.0,
        "window_count": 3,
        "window_mean": 30.0,
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "unit": "ms",
    }
    # Quantiles from the sketch: within its relative error of the exact ones.
    assert p50 == pytest.approx(30.0, rel=0.01)
    assert p99 == pytest.approx(39.8, rel=0.01)


def test_histogram_has_no_unit(snapshot: Snapshot) -> None:
    entry = by_metric(export(snapshot))["tokens"]

    assert entry["kind"] == "histogram"
    assert (entry["count"], entry["sum"], entry["min"], entry["max"]) == (2, 400.0, 100.0, 300.0)
    assert (entry["window_count"], entry["window_mean"], entry["p50"]) == (1, 300.0, 300.0)
    assert "unit" not in entry


def test_empty_window_logs_none_not_nan(snapshot: Snapshot) -> None:
    # A 1 s window ending 5 s after the last value holds nothing.
    entry = by_metric(export(snapshot, window=timedelta(seconds=1)))["latency"]

    assert entry["window_count"] == 0
    assert entry["window_mean"] is entry["p50"] is entry["p95"] is entry["p99"] is None
    assert entry["count"] == 4
    json.dumps(entry)  # nothing a JSON renderer would reject


def test_event_and_level(snapshot: Snapshot) -> None:
    logs = export(snapshot, event="metrics.exported", level="warning")

    assert {(entry["event"], entry["log_level"]) for entry in logs} == {
        ("metrics.exported", "warning")
    }


def test_invalid_level_raises_naming_it() -> None:
    with pytest.raises(ValueError, match=r"'level' must be one of .*: 'verbose'"):
        LogExporter(level="verbose")


def test_invalid_window_raises() -> None:
    with pytest.raises(ValueError, match="'window'"):
        LogExporter(window=-1.0)


def test_uses_the_given_logger_and_its_context(snapshot: Snapshot) -> None:
    logger = structlog.get_logger("custom").bind(service="ranker")
    with capture_logs() as logs:
        LogExporter(logger, level="debug").export(snapshot)

    assert len(logs) == len(snapshot)
    assert {(entry["service"], entry["log_level"]) for entry in logs} == {("ranker", "debug")}


def test_tags_are_a_plain_dict_per_event(snapshot: Snapshot) -> None:
    logs = export(snapshot)

    assert all(type(entry["tags"]) is dict for entry in logs)
    logs[0]["tags"]["model_name"] = "changed"
    assert logs[1]["tags"]["model_name"] == "bert"


def test_close_and_repr() -> None:
    exporter = LogExporter(logger=None, event="m", level="error", window=timedelta(minutes=5))
    exporter.close()

    assert repr(exporter).startswith("LogExporter(logger=")
    assert repr(exporter).endswith("event='m', level='error', window=300.0)")
