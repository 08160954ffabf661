"""Versions never share a key, whatever their names hold (issue #10, item 5)."""

from __future__ import annotations

from collectors.inference import InferenceCollector
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry

T0 = 1_700_000_000.0


def test_names_with_colons_give_two_keys_not_one() -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0))
    metrics = Metrics(bus=EventBus(), registry=registry).collect(InferenceCollector())
    metrics.record_inference("a:b", "c", 10.0, success=True)
    for _ in range(2):
        metrics.record_inference("a", "b:c", 20.0, success=True)
    metrics.record_inference("a\\", "b", 30.0, success=True)
    metrics.record_inference("bert", "v1", 40.0, success=True)
    every = metrics.get_all_metrics()
    assert {key: (m.model_name, m.version, m.request_count) for key, m in every.items()} == {
        "a\\:b:c": ("a:b", "c", 1),
        "a:b\\:c": ("a", "b:c", 2),
        "a\\\\:b": ("a\\", "b", 1),
        "bert:v1": ("bert", "v1", 1),
    }


def test_a_bar_in_a_version_cannot_pass_for_a_split_by_dimension() -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0))
    metrics = Metrics(bus=EventBus(), registry=registry).collect(InferenceCollector())
    metrics.record_inference("chat", "v1|provider=openai", 10.0, success=True)
    assert list(metrics.get_all_metrics()) == ["chat:v1\\|provider=openai"]
