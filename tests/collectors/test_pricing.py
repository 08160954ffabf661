"""Price tables and the costs InferenceCollector computes from tokens."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors import InferenceCollector, ModelPrice, PriceTable
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import InferenceCompleted
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.sampling import Sampling
from metrics_core.snapshot import CounterSeries, DistributionSeries

PRICES = {
    "gpt-4o": {"input": 2.5, "output": 10.0, "cached_input": 1.25},
    "gpt-4o:2024-05": {"input": 5.0, "output": 15.0},
    "small": {"input": 0.15, "output": 0.6},
}


def test_cost_per_million_tokens_with_cached_input_inside_input() -> None:
    table = PriceTable(PRICES)

    # (1000 - 400) * 2.5 + 400 * 1.25 + 500 * 10, per million tokens.
    assert table.cost("gpt-4o", "v1", input_tokens=1000, output_tokens=500, cached_tokens=400) == (
        (600 * 2.5 + 400 * 1.25 + 500 * 10.0) / 1e6
    )
    # A version's own entry wins; without a cached price, cached tokens pay the input price.
    assert table.cost("gpt-4o", "2024-05", input_tokens=1000, cached_tokens=400) == 5_000 / 1e6
    assert table.cost("small", "v9", output_tokens=2_000_000) == 1.2
    assert table.cost("unknown", "v1", input_tokens=10) is None
    assert table.cost("gpt-4o", "v1") is None  # no tokens, no cost


def test_files_in_json_and_yaml_load_the_same_table(tmp_path: Path) -> None:
    as_json = tmp_path / "prices.json"
    as_json.write_text(json.dumps(PRICES), encoding="utf-8")
    as_yaml = tmp_path / "prices.yaml"
    as_yaml.write_text(
        "gpt-4o: {input: 2.5, output: 10.0, cached_input: 1.25}\n"
        "'gpt-4o:2024-05': {input: 5.0, output: 15.0}\n"
        "small:\n  input: 0.15\n  output: 0.6\n",
        encoding="utf-8",
    )

    from_json, from_yaml = PriceTable.from_file(as_json), PriceTable.from_file(str(as_yaml))

    assert dict(from_json.prices) == dict(from_yaml.prices) == dict(PriceTable(PRICES).prices)
    assert from_json.prices["gpt-4o"] == ModelPrice(input=2.5, output=10.0, cached_input=1.25)
    assert len(from_yaml) == 3


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ({"m": {"input": 1.0}}, "the prices of 'm' must have 'input' and 'output'"),
        ({"m": {"input": 1, "output": 1, "cache": 1}}, "the prices of 'm' must have"),
        ({"m": {"input": -1, "output": 1}}, "the prices of 'm': 'input' must be a finite price"),
        ({"m": {"input": 1, "output": float("nan")}}, "'output' must be a finite price >= 0: nan"),
        ({"m": {"input": 1, "output": True}}, "'output' must be a finite price >= 0: True"),
        ({"m": 3.0}, "the prices of 'm' must be a mapping: 3.0"),
        ({"": {"input": 1, "output": 1}}, "a model in 'prices' must be a non-empty string: ''"),
    ],
)
def test_bad_prices_are_refused_naming_them(prices: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        PriceTable(prices)
    assert message in str(error.value)


def test_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text("", encoding="utf-8")
    expected = r"'path' must end in .json, .yaml or .yml: '.*prices.toml'"
    with pytest.raises(ValueError, match=expected):
        PriceTable.from_file(path)


@pytest.fixture
def priced() -> Iterator[tuple[EventBus, AggregatingRegistry]]:
    bus = EventBus()
    registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
    metrics = Metrics(bus=bus, registry=registry).collect(InferenceCollector(prices=PRICES))
    yield bus, registry
    metrics.close()


def cost_of(registry: AggregatingRegistry, model: str, version: str) -> float:
    series = registry.snapshot().get(names.COST_TOTAL, {"model_name": model, "version": version})
    assert isinstance(series, CounterSeries)
    return series.total


def test_the_collector_computes_costs_and_an_explicit_cost_wins(
    priced: tuple[EventBus, AggregatingRegistry],
) -> None:
    bus, registry = priced
    mv: dict[str, Any] = {"model_name": "gpt-4o", "version": "v1"}
    bus.emit(InferenceCompleted(**mv, duration_ms=1.0, input_tokens=1000, output_tokens=500))
    bus.emit(InferenceCompleted(**mv, duration_ms=1.0, input_tokens=10**6, cost_usd=0.5))
    bus.emit(InferenceCompleted(**mv, duration_ms=1.0))  # no tokens: no cost
    bus.emit(InferenceCompleted(model_name="other", version="v1", duration_ms=1.0, input_tokens=9))

    assert cost_of(registry, "gpt-4o", "v1") == (1000 * 2.5 + 500 * 10.0) / 1e6 + 0.5
    assert registry.snapshot().get(names.COST_TOTAL, {"model_name": "other", "version": "v1"}) is (
        None
    )


def test_queries_read_the_computed_cost(priced: tuple[EventBus, AggregatingRegistry]) -> None:
    bus, registry = priced
    metrics = Metrics(bus=EventBus(), registry=registry)
    for _ in range(4):
        bus.emit(
            InferenceCompleted(
                model_name="small", version="v1", duration_ms=3.0, output_tokens=250_000
            )
        )

    assert metrics.get_metrics("small", "v1", window=60).cost_usd == 4 * 0.15


def test_computed_costs_stay_exact_when_requests_are_sampled_out() -> None:
    bus = EventBus()
    registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
    metrics = Metrics(bus=bus, registry=registry, sampling=Sampling(requests=0.1))
    metrics.collect(InferenceCollector(prices=PRICES))
    for _ in range(200):
        bus.emit(
            InferenceCompleted(
                model_name="small", version="v1", duration_ms=3.0, output_tokens=250_000
            )
        )

    latency = registry.snapshot().get(names.LATENCY, {"model_name": "small", "version": "v1"})
    assert isinstance(latency, DistributionSeries) and latency.count < 200  # latency was sampled
    assert math.isclose(cost_of(registry, "small", "v1"), 200 * 0.15, rel_tol=1e-12)
    metrics.close()
