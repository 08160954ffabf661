"""Sampling: counters exact at any rate, quantiles within the documented bound, rate visible."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from collectors import InferenceCollector
from exporters.prometheus import PrometheusExporter
from integrations._payloads import versions_payload
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import FirstTokenReceived, InferenceCompleted, InferenceFailed
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.sampling import Sampling, keep_sample
from metrics_core.snapshot import DistributionSeries, GaugeSeries

MV: dict[str, Any] = {"model_name": "chat", "version": "v1"}


def wired(sampling: Sampling) -> Metrics:
    registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
    metrics = Metrics(bus=EventBus(), registry=registry, sampling=sampling)
    return metrics.collect(InferenceCollector())


def exact_quantile(ordered: list[float], q: float) -> float:
    q = min(max(q, 0.0), 1.0)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def test_rate_01_on_100k_lognormal_latencies_counters_exact_quantiles_within_bound() -> None:
    metrics = wired(Sampling(requests=0.1))
    rng = random.Random(42)
    latencies = [rng.lognormvariate(3.0, 0.8) for _ in range(100_000)]
    emit = metrics.bus.emit
    for i, ms in enumerate(latencies):
        emit(
            InferenceCompleted(
                **MV, duration_ms=ms, request_id=f"r{i}", output_tokens=i % 7, cost_usd=0.5
            )
        )
    result = metrics.get_metrics("chat", "v1", 60)
    # counters: exact
    assert result.request_count == 100_000
    assert result.cost_usd == 50_000.0
    tokens = metrics.snapshot().get(names.TOKEN_USAGE, {**MV, names.TOKEN_TYPE: "output"})
    assert isinstance(tokens, DistributionSeries)
    assert tokens.total == sum(i % 7 for i in range(100_000))
    # distributions: about a tenth of the requests
    latency = metrics.snapshot().get(names.LATENCY, MV)
    assert isinstance(latency, DistributionSeries)
    kept = latency.count
    assert 9_000 < kept < 11_000
    # the documented bound: between the exact quantiles at q -/+ 3 sqrt(q(1-q)/kept),
    # widened by the sketch's 1 % relative error
    ordered = sorted(latencies)
    for q, got in (
        (0.5, result.p50_latency_ms),
        (0.95, result.p95_latency_ms),
        (0.99, result.p99_latency_ms),
    ):
        spread = 3 * math.sqrt(q * (1 - q) / kept)
        assert exact_quantile(ordered, q - spread) * 0.99 <= got
        assert got <= exact_quantile(ordered, q + spread) * 1.01
    # the rate in force is visible: snapshot, query, JSON and Prometheus
    rate = metrics.snapshot().get(names.SAMPLING_RATE, {**MV, names.SAMPLING_KIND: "requests"})
    assert isinstance(rate, GaugeSeries)
    assert rate.value == 0.1
    assert result.sampling_rates == {"requests": 0.1}
    payload = versions_payload(metrics.get_all_metrics(60), 60)
    assert payload["versions"][0]["sampling_rates"] == {"requests": 0.1}
    text = PrometheusExporter().render(metrics.snapshot())
    assert (
        'model_inference_sampling_rate{kind="requests",model_name="chat",version="v1"} 0.1' in text
    )


def test_unsampled_setups_publish_no_rate() -> None:
    metrics = wired(Sampling())
    metrics.bus.emit(InferenceCompleted(**MV, duration_ms=1.0))
    assert metrics.snapshot().find(names.SAMPLING_RATE) == []
    assert metrics.get_metrics("chat", "v1", 60).sampling_rates == {}


def test_errors_are_kept_at_1_by_default_and_counted_exactly_at_any_rate() -> None:
    metrics = wired(Sampling(requests=0.0, streams=0.0))
    for i in range(50):
        metrics.bus.emit(InferenceFailed(**MV, duration_ms=2.0, error_type="Timeout"))
        metrics.bus.emit(InferenceCompleted(**MV, duration_ms=1.0, request_id=f"r{i}"))
    result = metrics.get_metrics("chat", "v1", 60)
    assert result.request_count == 100
    assert result.errors_by_type == {"Timeout": 50}
    latency = metrics.snapshot().get(names.LATENCY, MV)
    assert isinstance(latency, DistributionSeries)
    assert (latency.count, latency.total) == (50, 100.0)  # the failures only
    assert result.sampling_rates == {"errors": 1.0, "requests": 0.0}


def test_per_model_rates_and_streams_keep_first_token_and_completion_together() -> None:
    metrics = wired(Sampling(per_model={"chat": {"streams": 0.5}}))
    for i in range(2_000):
        rid = f"s{i}"
        metrics.bus.emit(FirstTokenReceived(**MV, time_to_first_token_ms=5.0, request_id=rid))
        metrics.bus.emit(
            InferenceCompleted(
                **MV,
                duration_ms=9.0,
                request_id=rid,
                stream_chunks=3,
                time_to_first_token_ms=5.0,
            )
        )
        metrics.bus.emit(InferenceCompleted(model_name="other", version="v1", duration_ms=1.0))
    snapshot = metrics.snapshot()
    latency = snapshot.get(names.LATENCY, MV)
    ttft = snapshot.get(names.TIME_TO_FIRST_TOKEN, MV)
    assert isinstance(latency, DistributionSeries) and isinstance(ttft, DistributionSeries)
    expected = sum(keep_sample(0.5, f"s{i}", random.Random()) for i in range(2_000))
    assert latency.count == ttft.count == expected
    assert 800 < expected < 1_200
    other = snapshot.get(names.LATENCY, {"model_name": "other", "version": "v1"})
    assert isinstance(other, DistributionSeries) and other.count == 2_000
    assert metrics.get_metrics("chat", "v1", 60).request_count == 2_000


def test_rate_changes_at_run_time_are_published() -> None:
    metrics = wired(Sampling(requests=0.2))
    metrics.bus.emit(InferenceCompleted(**MV, duration_ms=1.0))
    metrics.control.sampling = Sampling()
    metrics.bus.emit(InferenceCompleted(**MV, duration_ms=1.0))
    assert metrics.get_metrics("chat", "v1", 60).sampling_rates == {"requests": 1.0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"requests": 1.5}, "'requests' must be within \\[0, 1\\]: 1.5"),
        ({"errors": -0.1}, "'errors' must be within"),
        ({"streams": "x"}, "'streams' must be a number"),
        ({"per_model": {"m": {"bogus": 0.5}}}, "kind must be one of"),
        ({"per_model": {"m": {"requests": 2}}}, "per_model\\['m'\\]\\['requests'\\]"),
        ({"per_model": {"": {"requests": 1}}}, "non-empty model names"),
    ],
)
def test_bad_rates_raise_naming_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Sampling(**kwargs)


def test_keep_sample_edges() -> None:
    draw = random.Random(1)
    assert keep_sample(1.0, "x", draw) and not keep_sample(0.0, "x", draw)
    kept = sum(keep_sample(0.25, None, draw) for _ in range(20_000))
    assert 4_500 < kept < 5_500


def test_counters_stay_exact_under_many_threads_while_sampling_and_shedding() -> None:
    import threading

    from metrics_core.shedding import LoadShedding

    registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
    metrics = Metrics(
        bus=EventBus(),
        registry=registry,
        sampling=Sampling(requests=0.5, errors=0.5),
        shedding=LoadShedding(1_000, interval=0.01),
    ).collect(InferenceCollector())
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(2_000):
            if i % 4 == 0:
                metrics.bus.emit(InferenceFailed(**MV, duration_ms=1.0, error_type=f"E{n % 2}"))
            else:
                metrics.bus.emit(
                    InferenceCompleted(**MV, duration_ms=1.0, output_tokens=2, cost_usd=0.25)
                )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = metrics.get_metrics("chat", "v1", 3_600)
    assert result.request_count == 16_000
    assert result.errors_by_type == {"E0": 2_000, "E1": 2_000}
    assert result.cost_usd == 0.25 * 12_000
    tokens = metrics.snapshot().get(names.TOKEN_USAGE, {**MV, names.TOKEN_TYPE: "output"})
    assert isinstance(tokens, DistributionSeries) and tokens.total == 24_000
    latency = metrics.snapshot().get(names.LATENCY, MV)
    assert isinstance(latency, DistributionSeries) and latency.count < 16_000
