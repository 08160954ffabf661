"""The per-version index behind ``snapshot(match={model_name, version})``."""

from __future__ import annotations

from metrics_core.clock import ManualClock
from metrics_core.registry._index import VersionIndex, version_of
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, Snapshot
from metrics_core.tags import Tags
from metrics_core.values import MetricKind


def keys(snapshot: Snapshot) -> set[tuple[str, str, Tags]]:
    return {(series.kind.value, series.name, series.tags) for series in snapshot}


def scanned(registry: AggregatingRegistry, match: dict[str, str]) -> set[tuple[str, str, Tags]]:
    """The series a full scan selects: every series filtered by its tags."""
    return {key for key in keys(registry.snapshot()) if key[2].includes(match)}


def fill(registry: AggregatingRegistry, versions: int) -> None:
    for k in range(versions):
        tags = {"model_name": f"m{k % 3}", "version": f"v{k}"}
        registry.counter("requests_total", tags)
        registry.counter("errors_total", {**tags, "error_type": "Timeout"})
        registry.timer("latency", tags, float(k))
        registry.gauge("memory_bytes", tags, 1.0)
    registry.counter("requests_total", {"model_name": "m0"})  # no version: never indexed
    registry.counter("host_total", {"host": "a"})


def test_a_version_s_snapshot_holds_exactly_its_series(registry: AggregatingRegistry) -> None:
    fill(registry, 30)
    for k in (0, 7, 29):
        match = {"model_name": f"m{k % 3}", "version": f"v{k}"}
        got = registry.snapshot(match=match)
        assert keys(got) == scanned(registry, match)
        assert len(got) == 4
        only = registry.snapshot(names=["latency", "memory_bytes"], match=match)
        assert {s.name for s in only} == {"latency", "memory_bytes"}
    extra = {"model_name": "m0", "version": "v3", "error_type": "Timeout"}
    assert [s.name for s in registry.snapshot(match=extra)] == ["errors_total"]
    assert len(registry.snapshot(match={"model_name": "m1", "version": "v0"})) == 0


def test_values_read_through_the_index_are_the_registry_s(registry: AggregatingRegistry) -> None:
    tags = {"model_name": "bert", "version": "v1"}
    for _ in range(5):
        registry.counter("requests_total", tags, 2.0)
    got = registry.snapshot(match=tags).get("requests_total", tags)
    assert isinstance(got, CounterSeries)
    assert got.total == 10.0


def test_expired_and_cleared_series_leave_the_index(clock: ManualClock) -> None:
    registry = AggregatingRegistry(clock=clock, series_ttl=10.0)
    fill(registry, 4)
    match = {"model_name": "m1", "version": "v1"}
    clock.advance(30.0)
    registry.counter("requests_total", {"model_name": "m2", "version": "v2"})  # sweeps
    assert keys(registry.snapshot(match=match)) == scanned(registry, match)
    # The gauge stays (gauges do not expire); the flowing series went.
    assert [s.name for s in registry.snapshot(match=match)] == ["memory_bytes"]
    assert len(registry._index) == 5  # the four versions' gauges and v2's new counter
    registry.clear()
    assert len(registry._index) == 0
    assert len(registry.snapshot(match=match)) == 0


def test_the_index_alone() -> None:
    index: VersionIndex[str] = VersionIndex()
    tags = Tags({"model_name": "m", "version": "v"})
    index.add(MetricKind.COUNTER, "a", tags, "series-a")
    index.add(MetricKind.COUNTER, "b", Tags({"model_name": "m"}), "never")
    assert list(index.members("m", "v")) == [((MetricKind.COUNTER, "a", tags), "series-a")]
    assert len(index) == 1
    index.remove(MetricKind.COUNTER, "a", tags)
    index.remove(MetricKind.COUNTER, "b", Tags({"model_name": "m"}))
    assert list(index.members("m", "v")) == [] and len(index) == 0
    assert version_of({"model_name": "m", "version": "v"}) == ("m", "v")
    assert version_of({"version": "v"}) is None
