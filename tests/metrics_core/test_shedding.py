"""Load shedding: documented steps under a synthetic flood, recovery, never a counter lost."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from collectors import InferenceCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import InferenceCompleted, InferenceFailed
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.shedding import COUNTERS_ONLY, NORMAL, THINNED, LoadShedding
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries

MV: dict[str, Any] = {"model_name": "chat", "version": "v1"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Flood:
    """Emits ``rate`` events per fake second for ``seconds`` seconds."""

    def __init__(self, budget: float) -> None:
        self.clock = FakeClock()
        self.shedding = LoadShedding(budget, interval=1.0, clock=self.clock)
        registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
        self.metrics = Metrics(bus=EventBus(), registry=registry, shedding=self.shedding)
        self.metrics.collect(InferenceCollector())
        self.sent = 0
        self.failed = 0

    def run(self, rate: int, seconds: int = 1) -> None:
        # Times from an integer start, so each run ends exactly on an evaluation.
        start = round(self.clock.now)
        for i in range(rate * seconds):
            self.clock.now = start + (i + 1) / rate + 1e-9
            self.sent += 1
            if self.sent % 10 == 0:
                self.failed += 1
                self.metrics.bus.emit(InferenceFailed(**MV, duration_ms=3.0, error_type="E"))
            else:
                self.metrics.bus.emit(
                    InferenceCompleted(**MV, duration_ms=2.0, output_tokens=3, cost_usd=0.5)
                )

    def latency_count(self) -> int:
        series = self.metrics.snapshot().get(names.LATENCY, MV)
        return series.count if isinstance(series, DistributionSeries) else 0


def test_flood_steps_down_to_counters_only_and_recovers_with_metric_and_log_per_step() -> None:
    flood = Flood(budget=1_000)
    with capture_logs() as logs:
        flood.run(rate=500, seconds=2)
        assert flood.shedding.level == NORMAL
        normal_count = flood.latency_count()
        assert normal_count == flood.sent
        flood.run(rate=5_000)
        assert flood.shedding.level == THINNED
        flood.run(rate=5_000)
        assert flood.shedding.level == COUNTERS_ONLY
        before = flood.latency_count()
        flood.run(rate=5_000, seconds=2)
        assert flood.shedding.level == COUNTERS_ONLY
        assert flood.latency_count() == before  # no distribution work at all
        flood.run(rate=100)
        assert flood.shedding.level == THINNED
        flood.run(rate=100)
        assert flood.shedding.level == NORMAL
    steps = [
        (log["previous_level"], log["level"])
        for log in logs
        if log["event"] == "load_shedding_changed"
    ]
    assert steps == [(0, 1), (1, 2), (2, 1), (1, 0)]
    assert all(
        log["log_level"] == "warning" for log in logs if log["event"] == "load_shedding_changed"
    )
    snapshot = flood.metrics.snapshot()
    level = snapshot.get(names.SHEDDING_LEVEL, {})
    assert isinstance(level, GaugeSeries) and level.value == 0.0
    changes = {
        s.tags["level"]: s.total
        for s in snapshot.find(names.SHEDDING_CHANGES_TOTAL)
        if isinstance(s, CounterSeries)
    }
    assert changes == {"0": 1.0, "1": 2.0, "2": 1.0}
    # never a counter dropped
    result = flood.metrics.get_metrics("chat", "v1", 3_600)
    assert result.request_count == flood.sent
    assert result.errors_by_type == {"E": flood.failed}
    assert result.cost_usd == 0.5 * (flood.sent - flood.failed)
    tokens = snapshot.get(names.TOKEN_USAGE, {**MV, names.TOKEN_TYPE: "output"})
    assert isinstance(tokens, DistributionSeries)
    assert tokens.total == 3 * (flood.sent - flood.failed)


def test_thinned_step_samples_about_a_tenth_and_publishes_the_rate() -> None:
    flood = Flood(budget=1_000)
    flood.run(rate=5_000)  # -> level 1 at the end of this second
    before = flood.latency_count()
    start = round(flood.clock.now)
    for i in range(4_000):  # within the next interval: level 1 all along
        flood.clock.now = start + (i + 1) / 5_000
        flood.metrics.bus.emit(InferenceCompleted(**MV, duration_ms=2.0))
    thinned = flood.latency_count() - before
    assert 300 < thinned < 500
    rates = flood.metrics.get_metrics("chat", "v1", 60).sampling_rates
    assert rates == {"errors": pytest.approx(0.1), "requests": pytest.approx(0.1)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_events_per_second": 0}, "'max_events_per_second' must be > 0"),
        ({"max_events_per_second": 10, "interval": -1}, "'interval' must be > 0"),
        ({"max_events_per_second": 10, "recover_below": 1.0}, "'recover_below' must be within"),
        ({"max_events_per_second": 10, "harder_factor": 0}, "'harder_factor' must be > 0"),
        ({"max_events_per_second": "x"}, "'max_events_per_second' must be a number"),
    ],
)
def test_bad_budgets_raise_naming_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoadShedding(**kwargs)
