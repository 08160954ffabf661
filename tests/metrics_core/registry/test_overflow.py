"""The overflow scheme keeps model_name and version (issue #10, item 3)."""

from __future__ import annotations

from collectors.inference import InferenceCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.registry._overflow import OVERFLOW_TAGS, overflow_budget
from metrics_core.snapshot import CounterSeries
from metrics_core.stats import Verdict
from metrics_core.tags import Tags

T0 = 1_700_000_000.0


def test_one_noisy_version_does_not_hide_another_versions_errors() -> None:
    clock = ManualClock(T0)
    registry = AggregatingRegistry(clock=clock)
    metrics = Metrics(bus=EventBus(), registry=registry).collect(InferenceCollector())
    for _ in range(100):
        metrics.record_inference("bert", "v0", 10.0, success=True)
    for i in range(2_000):  # v1 fills errors_total with its own error types
        metrics.record_inference("bert", "v1", 10.0, success=False, error_type=f"E{i}")
    for _ in range(100):
        metrics.record_inference("bert", "v2", 10.0, success=False, error_type="Timeout")
    clock.advance(1.0)

    v2 = metrics.get_metrics("bert", "v2")
    assert (v2.request_count, v2.error_rate) == (100, 1.0)
    assert v2.errors_by_type == {"unknown": 100}
    assert metrics.get_metrics("bert", "v1").error_rate == 1.0
    assert metrics.compare("bert", "v0", "v2").verdict is Verdict.WORSE
    folded = registry.snapshot().get(
        names.ERRORS_TOTAL, {"model_name": "bert", "version": "v2", "overflow": "true"}
    )
    assert isinstance(folded, CounterSeries)
    assert folded.total == 100
    overflow_total = registry.snapshot().get(names.OVERFLOW_TOTAL, {"metric": names.ERRORS_TOTAL})
    assert isinstance(overflow_total, CounterSeries)
    assert overflow_total.total == 100


def test_a_version_flood_folds_to_the_model_then_to_one_series() -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0), max_series_per_metric=20)
    budget = overflow_budget(20)
    assert budget == 2
    for i in range(1_000):
        registry.counter("requests_total", {"model_name": "m", "version": f"v{i}"})
    registry.counter("requests_total", {"model_name": "other", "version": "x"}, 7)
    registry.counter("requests_total", {"region": "eu"}, 3)
    snap = registry.snapshot()
    totals = {s.tags: s.total for s in snap.counters() if s.name == "requests_total"}
    assert len(totals) == 20 + 2 * budget + 1
    assert totals[Tags({"model_name": "m", "version": "v20", "overflow": "true"})] == 1
    assert totals[Tags({"model_name": "m", "version": "v21", "overflow": "true"})] == 1
    assert totals[Tags({"model_name": "m", "overflow": "true"})] == 1_000 - 22
    assert totals[Tags({"model_name": "other", "overflow": "true"})] == 7
    assert totals[OVERFLOW_TAGS] == 3
    assert sum(totals.values()) == 1_000 + 7 + 3


def test_expired_overflow_series_give_their_budget_back() -> None:
    clock = ManualClock(T0)
    registry = AggregatingRegistry(clock=clock, max_series_per_metric=10, series_ttl=60.0)
    for i in range(11):
        registry.counter("c", {"model_name": "m", "version": f"v{i}"})
    clock.advance(600.0)
    for i in range(10):
        registry.counter("c", {"model_name": "n", "version": f"w{i}"})
    registry.counter("c", {"model_name": "n", "version": "late"})
    folded = registry.snapshot().get(
        "c", {"model_name": "n", "version": "late", "overflow": "true"}
    )
    assert isinstance(folded, CounterSeries)
    assert folded.total == 1


def test_overflow_tags_equal_and_hash_like_checked_tags() -> None:
    items = {"model_name": "m", "version": "v:1", "overflow": "true"}
    trusted = Tags._trusted(dict(items))
    assert trusted == Tags(items)
    assert hash(trusted) == hash(Tags(items))
    assert list(trusted.items()) == sorted(items.items())
