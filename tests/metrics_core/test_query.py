"""Per-version queries over windows: effective start, rates, exclusion, all versions."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta

import pytest

from collectors.inference import InferenceCollector
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import (
    ActiveConnectionsChanged,
    FirstTokenReceived,
    InferenceCompleted,
    InferenceFailed,
    MemoryUsageReported,
)
from metrics_core.facade import Metrics
from metrics_core.query import all_version_metrics, version_metrics
from metrics_core.registry import AggregatingRegistry

T0 = 1_700_000_000.0  # a multiple of 10 and 60: slot bounds are easy to reason about


class QueryEnv:
    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.bus = EventBus()
        self.registry = AggregatingRegistry(clock=self.clock)
        self.metrics = Metrics(bus=self.bus, registry=self.registry).collect(InferenceCollector())

    def at(self, offset: float) -> None:
        self.clock.set(T0 + offset)

    def ok(self, n: int = 1, version: str = "v1", duration_ms: float = 10.0, **kw: object) -> None:
        for _ in range(n):
            self.bus.emit(
                InferenceCompleted(
                    model_name="bert",
                    version=version,
                    duration_ms=duration_ms,
                    **kw,  # type: ignore[arg-type]
                )
            )

    def fail(self, error_type: str, n: int = 1, version: str = "v1") -> None:
        for _ in range(n):
            self.bus.emit(
                InferenceFailed(
                    model_name="bert", version=version, duration_ms=1.0, error_type=error_type
                )
            )


@pytest.fixture
def query_env() -> Iterator[QueryEnv]:
    env = QueryEnv()
    yield env
    env.metrics.close()


def test_effective_start_is_first_seen_when_the_version_is_younger_than_the_window(
    query_env: QueryEnv,
) -> None:
    query_env.ok(20)
    query_env.at(10)

    result = version_metrics(query_env.registry.snapshot(), "bert", "v1", 60)

    assert result.window_start == T0
    assert result.window_end == T0 + 10
    assert result.window_seconds == 10.0
    assert result.request_count == 20
    assert result.requests_per_second == 2.0


def test_effective_start_rounds_up_to_the_slot_width(query_env: QueryEnv) -> None:
    # A 300 s window is answered from 10 s slots: asked start T0+103, effective T0+110.
    query_env.at(0)
    query_env.ok(1)
    query_env.at(105)
    query_env.ok(2)  # slot T0+100, before the effective start: excluded
    query_env.at(115)
    query_env.ok(3)
    query_env.at(250)
    query_env.ok(4)
    query_env.at(403)
    query_env.ok(5)

    result = version_metrics(query_env.registry.snapshot(), "bert", "v1", 300)

    assert result.window_start == T0 + 110
    assert result.window_end == T0 + 403
    assert result.request_count == 12
    assert result.requests_per_second == 12 / 293


def test_one_second_slots_for_a_minute_window(query_env: QueryEnv) -> None:
    query_env.ok(7)
    query_env.at(30)
    query_env.ok(2)
    query_env.at(75)
    query_env.ok(3)

    result = version_metrics(query_env.registry.snapshot(), "bert", "v1", 60)

    assert result.window_start == T0 + 15
    assert result.request_count == 5
    assert result.requests_per_second == 5 / 60


def test_errors_outside_the_window_are_excluded(query_env: QueryEnv) -> None:
    query_env.fail("Timeout", 4)
    query_env.ok(4)
    query_env.at(120)
    query_env.fail("OOM", 1)
    query_env.ok(3)

    result = version_metrics(query_env.registry.snapshot(), "bert", "v1", 60)

    assert result.request_count == 4
    assert result.errors_by_type == {"OOM": 1}
    assert result.error_rate == 0.25
    everything = version_metrics(query_env.registry.snapshot(), "bert", "v1", 3600)
    assert everything.request_count == 12
    assert everything.errors_by_type == {"OOM": 1, "Timeout": 4}
    assert everything.error_rate == 5 / 12


def test_now_parameter_moves_the_window_end(query_env: QueryEnv) -> None:
    query_env.ok(2)
    query_env.at(100)
    query_env.ok(3)
    snapshot = query_env.registry.snapshot()

    result = version_metrics(snapshot, "bert", "v1", 30, now=T0 + 20)

    assert result.window_end == T0 + 20
    assert result.window_start == T0
    assert result.request_count == 2


def test_unknown_version_gives_zeros_and_nan_quantiles(query_env: QueryEnv) -> None:
    query_env.ok(3)

    result = version_metrics(query_env.registry.snapshot(), "bert", "v9", 60)

    assert result.request_count == 0
    assert result.requests_per_second == 0.0
    assert result.error_rate == 0.0
    assert result.errors_by_type == {}
    assert math.isnan(result.average_latency_ms)
    assert math.isnan(result.p50_latency_ms)
    assert math.isnan(result.p99_latency_ms)
    assert math.isnan(result.ttft_p50_ms)
    assert result.cost_usd == 0.0


def test_llm_fields_ttft_tokens_per_second_and_cost(query_env: QueryEnv) -> None:
    query_env.ok(duration_ms=900.0, output_tokens=100, cost_usd=0.25)
    query_env.ok(duration_ms=800.0, output_tokens=60, cost_usd=0.5)
    for ttft in (100.0, 100.0, 100.0):
        query_env.bus.emit(
            FirstTokenReceived(model_name="bert", version="v1", time_to_first_token_ms=ttft)
        )
    query_env.bus.emit(ActiveConnectionsChanged(model_name="bert", version="v1", count=4))
    query_env.bus.emit(
        MemoryUsageReported(model_name="bert", version="v1", memory_bytes=3 * 1024 * 1024)
    )
    query_env.at(8)

    result = version_metrics(query_env.registry.snapshot(), "bert", "v1", timedelta(minutes=1))

    assert result.output_tokens_per_second == 160 / 8
    assert result.cost_usd == 0.75
    assert result.ttft_p50_ms == 100.0
    assert result.ttft_p95_ms == 100.0
    assert result.active_connections == 4
    assert result.memory_usage_mb == 3.0
    assert result.average_latency_ms == 850.0


def test_all_version_metrics_are_keyed_and_sorted(query_env: QueryEnv) -> None:
    query_env.ok(2, version="v2")
    query_env.ok(1, version="v1")
    query_env.fail("OOM", 1, version="v2")
    query_env.at(5)

    result = all_version_metrics(query_env.registry.snapshot(), 60)

    assert list(result) == ["bert:v1", "bert:v2"]
    assert result["bert:v1"].request_count == 1
    assert result["bert:v2"].request_count == 3
    assert result["bert:v2"].errors_by_type == {"OOM": 1}
    assert result["bert:v2"].key == "bert:v2"
    assert result["bert:v2"].requests_per_second == 3 / 5


@pytest.mark.parametrize("window", [0, -1, math.nan, math.inf, "5m", None, True])
def test_invalid_window_raises_naming_window(query_env: QueryEnv, window: object) -> None:
    with pytest.raises(ValueError, match="'window'"):
        version_metrics(query_env.registry.snapshot(), "bert", "v1", window)  # type: ignore[arg-type]
