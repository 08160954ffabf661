"""The soak test: hostile load on every part at once, bounded in time (issue #10).

Eight threads record for a few seconds with bad input mixed in and a cardinality
flood of versions and error types, while auto-export runs every 0.1 s to
exporters that raise, hang and recover. At the end every exact count holds and
the process grew by less than ``RSS_GROWTH_BOUND`` (docs/metrics.md, "Limits").
Marked ``slow`` (about 25 s on a loaded 2-core machine); ``make test`` runs it.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import psutil
import pytest
import structlog

from collectors import InferenceCollector
from exporters import PrometheusExporter
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import Snapshot

THREADS = 8
EVENTS_PER_THREAD = 25_000
MAX_SERIES = 200
RSS_GROWTH_BOUND = 128 * 1024 * 1024
"""Bytes the process may grow by over the soak (measured: about 38 MiB, 652 series)."""

BAD_LATENCIES: tuple[Any, ...] = (
    math.nan,
    math.inf,
    -1.0,
    10**400,
    Decimal("NaN"),
    "12",
    None,
    True,
    1e300,
)
STABLE = [("bert", f"v{i}") for i in range(4)]


class Flaky:
    """Raises on every third export, hangs 0.3 s on every fifth, works otherwise."""

    def __init__(self) -> None:
        self.calls = 0
        self.succeeded = 0

    def export(self, snapshot: Snapshot) -> None:
        self.calls += 1
        if self.calls % 3 == 0:
            raise RuntimeError("flaky exporter")
        if self.calls % 5 == 0:
            time.sleep(0.3)
        self.succeeded += 1

    def close(self) -> None:
        raise RuntimeError("flaky close")


class Healthy:
    def __init__(self) -> None:
        self.exports = 0

    def export(self, snapshot: Snapshot) -> None:
        self.exports += 1

    def close(self) -> None:
        pass


def _work(metrics: Metrics, seed: int, tally: Counter[Any], rejected: list[int]) -> None:
    rng = random.Random(seed)
    bad = 0
    for i in range(EVENTS_PER_THREAD):
        roll = rng.random()
        if roll < 0.1:
            try:
                metrics.record_inference("bert", "v0", rng.choice(BAD_LATENCIES), success=True)
            except ValueError:
                bad += 1
            continue
        if roll < 0.3:  # a flood of versions, each seen once
            metrics.record_inference("flood", f"t{seed}-{i}", 5.0, success=True)
            tally["flood", "requests"] += 1
            continue
        model, version = STABLE[rng.randrange(len(STABLE))]
        if roll < 0.4:  # a flood of error types on one version
            metrics.record_inference(model, version, 7.0, success=False, error_type=f"E{seed}-{i}")
            tally[model, version, "errors"] += 1
        else:
            metrics.record_inference(model, version, rng.uniform(1.0, 500.0), success=True)
        tally[model, version, "requests"] += 1
    rejected.append(bad)


@pytest.mark.slow
def test_soak_keeps_exact_counts_and_bounded_memory() -> None:
    process = psutil.Process()
    registry = AggregatingRegistry(max_series_per_metric=MAX_SERIES)
    metrics = Metrics(bus=EventBus(), registry=registry).collect(InferenceCollector())
    flaky, healthy, prometheus = Flaky(), Healthy(), PrometheusExporter()
    metrics.export_to(flaky, name="flaky", timeout=0.2)
    metrics.export_to(healthy, name="healthy").export_to(prometheus, name="prometheus")
    tallies: list[Counter[Any]] = [Counter() for _ in range(THREADS)]
    rejected: list[int] = []
    with structlog.testing.capture_logs():
        metrics.record_inference("bert", "v0", 1.0, success=True)  # warm up imports and caches
        baseline_rss = process.memory_info().rss
        metrics.start_auto_export(0.1)
        threads = [
            threading.Thread(target=_work, args=(metrics, seed, tallies[seed], rejected))
            for seed in range(THREADS)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(100)
        elapsed = time.monotonic() - started
        assert not any(thread.is_alive() for thread in threads)
        metrics.stop_auto_export()
        rss_growth = process.memory_info().rss - baseline_rss
        snapshot = registry.snapshot()
        rendered = prometheus.render(snapshot)
        metrics.close(deadline=2.0)

    tally: Counter[Any] = sum(tallies, Counter())
    tally["bert", "v0", "requests"] += 1  # the warm-up
    # Every accepted request is counted exactly, flood or not, folded or not.
    window = 3600.0
    for model, version in STABLE:
        result = metrics.get_metrics(model, version, window=window)
        assert result.request_count == tally[model, version, "requests"], (model, version)
        assert sum(result.errors_by_type.values()) == tally[model, version, "errors"]
    flood = sum(
        s.total
        for s in snapshot.counters()
        if s.name == names.REQUESTS_TOTAL and s.tags.get(names.MODEL_NAME) == "flood"
    )
    assert flood == tally["flood", "requests"]
    assert sum(rejected) > 0  # every bad latency was refused with a ValueError
    # Bounded: every metric within its limit plus the overflow budget.
    per_metric = Counter(s.name for s in snapshot)
    assert max(per_metric.values()) <= MAX_SERIES + 2 * (MAX_SERIES // 10) + 1, per_metric
    print(f"soak: {elapsed:.1f} s, RSS +{rss_growth / 2**20:.1f} MiB, {len(snapshot)} series")
    assert rss_growth < RSS_GROWTH_BOUND, rss_growth
    # The exporters: the healthy ones never failed, the flaky one failed and recovered.
    assert healthy.exports >= 10
    assert flaky.succeeded > 0 and flaky.calls > flaky.succeeded
    errors = Counter(
        {
            (s.tags["exporter"], s.tags["reason"]): s.total
            for s in metrics.snapshot().counters()
            if s.name == names.EXPORT_ERRORS_TOTAL
        }
    )
    # A round waits for its exporters until the next tick: under a loaded CPU a healthy one
    # may rarely miss it, never often.
    for exporter, exports in (("healthy", healthy.exports), ("prometheus", healthy.exports)):
        missed = sum(total for (name, _), total in errors.items() if name == exporter)
        assert missed <= exports / 10, (exporter, errors)
    assert errors["flaky", "error"] > 0
    assert 'model_inference_requests_total{model_name="bert",version="v1"}' in rendered
