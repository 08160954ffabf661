"""The retired state of a worker group keeps what one process would: TTL and per-metric cap."""

from __future__ import annotations

from metrics_core.clock import ManualClock
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.workers.group import _bounded


def test_idle_series_expire_and_each_metric_keeps_its_newest() -> None:
    clock = ManualClock(1_000.0)
    registry = AggregatingRegistry(clock=clock, series_ttl=None)
    for i in range(6):  # v0 first, v5 last, one second apart
        registry.counter("requests", {"version": f"v{i}"})
        registry.timer("latency", {"version": f"v{i}"}, 5.0)
        clock.advance(1.0)
    now = clock()
    series = list(registry.snapshot())

    kept = _bounded(series, now, ttl=4.5, per_name=100)
    assert sorted((s.name, s.tags["version"]) for s in kept) == [
        (name, f"v{i}") for name in ("latency", "requests") for i in (2, 3, 4, 5)
    ]

    capped = _bounded(series, now, ttl=None, per_name=2)
    assert sorted((s.name, s.tags["version"]) for s in capped) == [
        (name, f"v{i}") for name in ("latency", "requests") for i in (4, 5)
    ]
    assert {id(s) for s in _bounded(series, now, ttl=None, per_name=10)} == {id(s) for s in series}
