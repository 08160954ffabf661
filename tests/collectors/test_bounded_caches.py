"""Collectors' per-key state is bounded whatever the traffic (issue #10, item 2)."""

from __future__ import annotations

import threading
from functools import partial

from collectors._cache import MAX_CACHED_KEYS, cache_once, step_count
from collectors.inference import MAX_ERROR_TYPES, InferenceCollector
from collectors.quality import QualityCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import InferenceStarted, PredictionEvaluated
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import CounterSeries

T0 = 1_700_000_000.0


def test_cache_once_empties_a_full_cache_before_adding() -> None:
    cache: dict[int, str] = {}
    lock = threading.Lock()
    for key in range(25):
        assert cache_once(cache, key, lock, partial(str, key), limit=10) == str(key)
    assert cache == {20: "20", 21: "21", 22: "22", 23: "23", 24: "24"}


def test_step_count_drops_idle_keys_then_stops_tracking_new_ones() -> None:
    counts: dict[str, int] = {}
    assert [step_count(counts, k, +1, limit=3) for k in "abc"] == [1, 1, 1]
    assert step_count(counts, "a", -1, limit=3) == 0
    assert step_count(counts, "d", +1, limit=3) == 1  # "a" was idle: dropped
    assert counts == {"b": 1, "c": 1, "d": 1}
    assert step_count(counts, "e", +1, limit=3) is None
    assert counts == {"b": 1, "c": 1, "d": 1}
    assert step_count(counts, "b", -5, limit=3) == 0


def test_a_flood_of_versions_keeps_the_collector_bounded_and_counts_exact() -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0), max_series_per_metric=100)
    collector = InferenceCollector()
    metrics = Metrics(bus=EventBus(), registry=registry).collect(collector)
    versions = MAX_CACHED_KEYS + 500
    for i in range(versions):
        metrics.record_inference("m", f"v{i}", 1.0, success=True)
        metrics.bus.emit(InferenceStarted(model_name="m", version=f"v{i}"))
    assert len(collector._versions) <= MAX_CACHED_KEYS
    assert len(collector._in_flight) <= MAX_CACHED_KEYS
    snap = registry.snapshot(names=[names.REQUESTS_TOTAL])
    requests = [s for s in snap.series if isinstance(s, CounterSeries)]
    assert len(requests) <= 100 + 10 + 1
    assert sum(s.total for s in requests) == versions


def test_a_flood_of_error_types_keeps_one_version_bounded() -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0), max_series_per_metric=50)
    collector = InferenceCollector()
    metrics = Metrics(bus=EventBus(), registry=registry).collect(collector)
    for i in range(MAX_ERROR_TYPES + 200):
        metrics.record_inference("m", "v", 1.0, success=False, error_type=f"E{i}")
    (cached,) = collector._versions.values()
    assert len(cached.errors) <= MAX_ERROR_TYPES
    result = metrics.get_metrics("m", "v")
    assert result.request_count == MAX_ERROR_TYPES + 200
    assert sum(result.errors_by_type.values()) == MAX_ERROR_TYPES + 200


def test_the_quality_collector_keeps_at_most_the_cap_of_versions() -> None:
    clock = ManualClock(T0)
    registry = AggregatingRegistry(clock=clock, max_series_per_metric=100)
    collector = QualityCollector(refresh_interval=0.0, window=60.0)
    metrics = Metrics(bus=EventBus(), registry=registry).collect(collector)
    evaluated = PredictionEvaluated(model_name="m", version="old", expected="a", actual="a")
    metrics.bus.emit(evaluated)
    clock.advance(120.0)  # "old" leaves the window: its state may go
    for i in range(MAX_CACHED_KEYS + 50):
        metrics.bus.emit(
            PredictionEvaluated(model_name="m", version=f"v{i}", expected="a", actual="b")
        )
    assert len(collector._versions) == MAX_CACHED_KEYS
    assert ("m", "old") not in collector._versions
    assert collector.scores("m", "v0").evaluations == 1
    # Versions past the cap are counted in the confusion matrix, not in the gauges.
    late = f"v{MAX_CACHED_KEYS + 10}"
    assert collector.scores("m", late).evaluations == 0
    total = sum(s.total for s in registry.snapshot(names=[names.EVALUATIONS_TOTAL]).counters())
    assert total == MAX_CACHED_KEYS + 51
