"""Reserved and colliding tag keys are refused when they arrive (issue #10, items 4 and 5)."""

from __future__ import annotations

import re

import pytest

from exporters import PrometheusExporter
from exporters._prometheus_families import _label_name
from metrics_core.clock import ManualClock
from metrics_core.registry import AggregatingRegistry
from metrics_core.registry._names import MAX_METRIC_NAMES, backend_key
from metrics_core.tags import Tags

T0 = 1_700_000_000.0


@pytest.fixture
def registry() -> AggregatingRegistry:
    return AggregatingRegistry(clock=ManualClock(T0))


@pytest.mark.parametrize("key", ["__name__", "__meta_x", "__"])
def test_keys_starting_with_two_underscores_are_reserved(key: str) -> None:
    message = f"tag key must not start with '__' (reserved by Prometheus): {key!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Tags({key: "x"})


def test_a_reserved_tag_never_reaches_the_scrape(registry: AggregatingRegistry) -> None:
    exporter = PrometheusExporter()
    registry.counter("requests", {"model_name": "m"})
    with pytest.raises(ValueError, match="reserved by Prometheus"):
        registry.counter("requests", {"__name__": "other"})
    exporter.export(registry.snapshot())
    assert exporter.render() == (
        "# HELP requests_total requests\n"
        "# TYPE requests_total counter\n"
        'requests_total{model_name="m"} 1.0\n'
    )


@pytest.mark.parametrize("kind", ["histogram", "timer"])
@pytest.mark.parametrize("key", ["le", "quantile"])
def test_le_and_quantile_are_reserved_on_distributions(
    registry: AggregatingRegistry, kind: str, key: str
) -> None:
    with pytest.raises(ValueError, match=f"^tag key {key!r} is reserved on {kind}s"):
        getattr(registry, kind)("latency", {key: "1"}, 1.0)
    assert registry.series_count() == 0


def test_le_and_quantile_are_fine_on_counters_and_gauges(registry: AggregatingRegistry) -> None:
    registry.counter("c", {"le": "1", "quantile": "x"})
    registry.gauge("g", {"le": "1"}, 2.0)
    assert registry.series_count() == 2


def test_keys_reading_alike_across_series_are_refused_when_the_second_arrives(
    registry: AggregatingRegistry,
) -> None:
    registry.counter("c", {"a.b": "x"}, 1)
    with pytest.raises(
        ValueError, match=re.escape("tag keys 'a.b' and 'a_b' of metric 'c' both read 'a_b'")
    ):
        registry.counter("c", {"a_b": "x"}, 5)
    registry.counter("c", {"a.b": "y"}, 2)  # the first spelling goes on working
    registry.counter("other", {"a_b": "x"}, 3)  # another metric may use the other spelling
    totals = {(s.name, s.tags): s.total for s in registry.snapshot().counters()}
    assert totals == {
        ("c", Tags({"a.b": "x"})): 1.0,
        ("c", Tags({"a.b": "y"})): 2.0,
        ("other", Tags({"a_b": "x"})): 3.0,
    }


def test_keys_reading_alike_in_one_tag_set_are_refused(registry: AggregatingRegistry) -> None:
    with pytest.raises(ValueError, match="both read 'a_b'"):
        registry.gauge("g", {"a.b": "1", "a_b": "2"}, 1.0)
    assert registry.series_count() == 0


def test_a_spelling_is_free_again_once_its_metric_expired() -> None:
    clock = ManualClock(T0)
    registry = AggregatingRegistry(clock=clock, series_ttl=60.0)
    registry.counter("c", {"a.b": "x"})
    clock.advance(600.0)
    registry.counter("c", {"a_b": "x"})
    assert [s.tags for s in registry.snapshot().counters()] == [Tags({"a_b": "x"})]


@pytest.mark.parametrize(
    "key", ["a.b", "a_b", "gen_ai.token.type", "x.y.z_w", "v1", "le", "quantile", "exported_le"]
)
def test_backend_key_spells_keys_as_the_prometheus_exporter_does(key: str) -> None:
    assert backend_key(key) == _label_name(key)


def test_le_and_exported_le_on_one_gauge_are_refused(registry: AggregatingRegistry) -> None:
    with pytest.raises(ValueError, match="'exported_le' and 'le' of metric 'g' both read"):
        registry.gauge("g", {"le": "1", "exported_le": "2"}, 1.0)


def test_metric_names_are_bounded(registry: AggregatingRegistry) -> None:
    for i in range(MAX_METRIC_NAMES):
        registry.counter(f"m{i}", {})
    with pytest.raises(ValueError, match="holds at most 10,000 metric names"):
        registry.counter("one_more", {})
    registry.counter("m7", {}, 2)  # the names held go on working
    assert registry.series_count() == MAX_METRIC_NAMES
