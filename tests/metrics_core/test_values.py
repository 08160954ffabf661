from __future__ import annotations

import math

import attrs
import pytest

from metrics_core.tags import Tags
from metrics_core.values import (
    VALUE_TYPES,
    Counter,
    Gauge,
    Histogram,
    MetricKind,
    MetricValue,
    Timer,
)

ALL_TYPES: list[type[MetricValue]] = [Counter, Gauge, Histogram, Timer]
NON_NEGATIVE_TYPES: list[type[MetricValue]] = [Counter, Timer]
TS = 1_700_000_000.0


@pytest.mark.parametrize("value_type", ALL_TYPES)
def test_constructs_with_valid_input(value_type: type[MetricValue]) -> None:
    value = value_type(
        name="model_inference_latency",
        value=12.5,
        tags={"model_name": "bert", "version": 2},
        timestamp=TS,
    )
    assert value.name == "model_inference_latency"
    assert value.value == 12.5
    assert isinstance(value.tags, Tags)
    assert value.tags == {"model_name": "bert", "version": "2"}
    assert value.timestamp == TS


@pytest.mark.parametrize("value_type", ALL_TYPES)
def test_tags_default_to_empty_and_accept_tags_or_none(value_type: type[MetricValue]) -> None:
    assert value_type(name="x", value=1.0, timestamp=TS).tags == Tags.empty()
    assert value_type(name="x", value=1.0, tags=None, timestamp=TS).tags == Tags.empty()
    tags = Tags.of(a="1")
    assert value_type(name="x", value=1.0, tags=tags, timestamp=TS).tags is tags


def test_kinds() -> None:
    assert Counter.kind is MetricKind.COUNTER
    assert Gauge.kind is MetricKind.GAUGE
    assert Histogram.kind is MetricKind.HISTOGRAM
    assert Timer.kind is MetricKind.TIMER
    assert {kind: cls.kind for kind, cls in VALUE_TYPES.items()} == {k: k for k in MetricKind}


@pytest.mark.parametrize("value_type", ALL_TYPES)
@pytest.mark.parametrize("field", ["name", "value", "tags", "timestamp"])
def test_values_are_frozen(value_type: type[MetricValue], field: str) -> None:
    value = value_type(name="x", value=1.0, timestamp=TS)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(value, field, getattr(value, field))
    assert value.value == 1.0


@pytest.mark.parametrize("value_type", ALL_TYPES)
def test_values_are_slotted(value_type: type[MetricValue]) -> None:
    value = value_type(name="x", value=1.0, timestamp=TS)
    assert not hasattr(value, "__dict__")


@pytest.mark.parametrize("value_type", ALL_TYPES)
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (math.nan, "'value' must be finite: nan"),
        (math.inf, "'value' must be finite: inf"),
        (-math.inf, "'value' must be finite: -inf"),
        ("1", "'value' must be a number: '1'"),
        (None, "'value' must be a number: None"),
        (True, "'value' must be a number: True"),
    ],
)
def test_non_finite_or_non_numeric_value_raises(
    value_type: type[MetricValue], bad: object, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        value_type(name="x", value=bad, timestamp=TS)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize("value_type", NON_NEGATIVE_TYPES)
def test_negative_counter_increment_and_timer_duration_raise(
    value_type: type[MetricValue],
) -> None:
    with pytest.raises(ValueError) as info:
        value_type(name="x", value=-1.0, timestamp=TS)
    assert str(info.value) == "'value' must be >= 0: -1.0"


@pytest.mark.parametrize("value_type", NON_NEGATIVE_TYPES)
def test_zero_is_a_valid_counter_increment_and_duration(value_type: type[MetricValue]) -> None:
    assert value_type(name="x", value=0, timestamp=TS).value == 0


@pytest.mark.parametrize("value_type", [Gauge, Histogram])
def test_gauges_and_histograms_accept_negative_values(value_type: type[MetricValue]) -> None:
    assert value_type(name="x", value=-3.5, timestamp=TS).value == -3.5


@pytest.mark.parametrize("value_type", ALL_TYPES)
def test_empty_name_raises(value_type: type[MetricValue]) -> None:
    with pytest.raises(ValueError) as info:
        value_type(name="", value=1.0, timestamp=TS)
    assert str(info.value) == "'name' must be a non-empty string: ''"


@pytest.mark.parametrize("value_type", ALL_TYPES)
def test_non_str_name_raises(value_type: type[MetricValue]) -> None:
    with pytest.raises(ValueError, match="'name' must be a non-empty string: 5"):
        value_type(name=5, value=1.0, timestamp=TS)  # type: ignore[arg-type]


@pytest.mark.parametrize("value_type", ALL_TYPES)
@pytest.mark.parametrize("name", ["9x", "a b", "a..b", "a-", ".a", "a.", "a-b", "é"])
def test_malformed_name_raises(value_type: type[MetricValue], name: str) -> None:
    with pytest.raises(ValueError) as info:
        value_type(name=name, value=1.0, timestamp=TS)
    assert str(info.value).startswith("'name' must be an identifier")
    assert str(info.value).endswith(repr(name))


@pytest.mark.parametrize(
    "name", ["x", "_x", "model_inference_latency", "gen_ai.client.token.usage", "ns:sub_name"]
)
def test_valid_names(name: str) -> None:
    assert Counter(name=name, value=1.0, timestamp=TS).name == name


@pytest.mark.parametrize("value_type", ALL_TYPES)
@pytest.mark.parametrize("key", ["1abc", "a-b", "", "a b"])
def test_tag_key_not_an_identifier_raises(value_type: type[MetricValue], key: str) -> None:
    with pytest.raises(ValueError) as info:
        value_type(name="x", value=1.0, tags={key: "v"}, timestamp=TS)
    assert str(info.value) == f"tag key must be an identifier, optionally dotted: {key!r}"


@pytest.mark.parametrize("value_type", ALL_TYPES)
@pytest.mark.parametrize("bad", [math.nan, math.inf, "now"])
def test_bad_timestamp_raises(value_type: type[MetricValue], bad: object) -> None:
    with pytest.raises(ValueError, match="'timestamp' must be"):
        value_type(name="x", value=1.0, timestamp=bad)  # type: ignore[arg-type]


def test_timer_durations() -> None:
    timer = Timer(name="model_inference_latency", value=1500.0, timestamp=TS)
    assert timer.duration_ms == 1500.0
    assert timer.duration_seconds == 1.5
    assert Timer(name="t", value=0, timestamp=TS).duration_seconds == 0.0
    assert Timer(name="t", value=1.0, timestamp=TS).duration_seconds == 0.001


def test_values_compare_by_fields() -> None:
    first = Counter(name="x", value=1.0, tags={"a": "1"}, timestamp=TS)
    second = Counter(name="x", value=1.0, tags=Tags.of(a=1), timestamp=TS)
    assert first == second
    assert first != Counter(name="x", value=2.0, tags={"a": "1"}, timestamp=TS)
    assert attrs.evolve(first, value=5.0).value == 5.0
    with pytest.raises(ValueError, match="'value' must be >= 0: -5"):
        attrs.evolve(first, value=-5)
