"""One numeric validation for events, registries and the facade (issue #10, items 1, 6, 8).

Each case is a reproduction that broke main: a value accepted on the fast path
that then corrupted a series, or an error that was not a ``ValueError`` naming
the field.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
import numpy as np
import pytest

from collectors.inference import InferenceCollector
from exporters import PrometheusExporter
from metrics_core._validation import MAX_VALUE, as_number, check_seconds
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import (
    DriftMeasured,
    Event,
    GpuSampled,
    HttpRequestFinished,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
    ResourcesSampled,
    RetryAttempted,
)
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, DistributionSeries

T0 = 1_700_000_000.0
HUGE = 10**400


@pytest.fixture
def metrics() -> Metrics:
    registry = AggregatingRegistry(clock=ManualClock(T0))
    return Metrics(bus=EventBus(), registry=registry).collect(InferenceCollector())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3.0),
        (2.5, 2.5),
        (Decimal("12.5"), 12.5),
        (Fraction(1, 4), 0.25),
        (np.float32(0.5), 0.5),
        (np.int64(7), 7.0),
        (MAX_VALUE, MAX_VALUE),
    ],
)
def test_as_number_converts_real_numbers_to_float(value: object, expected: float) -> None:
    number = as_number(value, "x")
    assert number == expected
    assert number.__class__ is float


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (HUGE, "'x' must be within +-1e+100: <int of 1329 bits>"),
        pytest.param(
            10**5000, "'x' must be within +-1e+100: <int of 16610 bits>", id="int-of-5000-digits"
        ),
        (1e300, "'x' must be within +-1e+100: 1e+300"),
        (Decimal("1e400"), "'x' must be within +-1e+100: Decimal('1E+400')"),
        (Decimal("NaN"), "'x' must be finite: Decimal('NaN')"),
        (Decimal("sNaN"), "'x' must be finite: Decimal('sNaN')"),
        (math.inf, "'x' must be finite: inf"),
        (math.nan, "'x' must be finite: nan"),
        (True, "'x' must be a number: True"),
        (None, "'x' must be a number: None"),
        ("12", "'x' must be a number: '12'"),
        (complex(1, 0), "'x' must be a number: (1+0j)"),
    ],
)
def test_as_number_rejects_with_a_value_error_naming_the_field(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        as_number(value, "x")


def test_a_long_bad_value_is_cut_short_in_the_message() -> None:
    with pytest.raises(ValueError) as raised:
        as_number("x" * 100_000, "x")
    assert len(str(raised.value)) < 300


@pytest.mark.parametrize("bad", [HUGE, Decimal("NaN"), "12", 1e101])
def test_one_bad_latency_is_rejected_and_every_reader_keeps_working(
    metrics: Metrics, bad: object
) -> None:
    exporter = PrometheusExporter()
    metrics.export_to(exporter)
    metrics.record_inference("bert", "v1", latency_ms=10.0, success=True)
    with pytest.raises(ValueError, match="'duration_ms' must be"):
        metrics.record_inference("bert", "v1", latency_ms=bad, success=True)  # type: ignore[arg-type]
    metrics.record_inference("bert", "v0", latency_ms=20.0, success=True)
    assert metrics.get_metrics("bert", "v1").request_count == 1
    assert set(metrics.get_all_metrics()) == {"bert:v1", "bert:v0"}
    assert [o.status for o in metrics.export()] == ["ok"]
    assert 'model_inference_requests_total{model_name="bert",version="v1"} 1.0' in (
        exporter.render()
    )


def test_a_decimal_latency_is_recorded_as_its_float(metrics: Metrics) -> None:
    metrics.record_inference("bert", "v1", latency_ms=Decimal("12.5"), success=True)  # type: ignore[arg-type]
    result = metrics.get_metrics("bert", "v1")
    assert (result.request_count, result.average_latency_ms) == (1, 12.5)


def test_events_store_converted_numbers_as_float() -> None:
    event = InferenceCompleted(
        model_name="m",
        version="v",
        duration_ms=Decimal("1.5"),  # type: ignore[arg-type]
        cost_usd=Fraction(1, 2),  # type: ignore[arg-type]
    )
    assert (event.duration_ms, event.cost_usd) == (1.5, 0.5)
    assert event.duration_ms.__class__ is float and event.cost_usd.__class__ is float
    retry = RetryAttempted(
        model_name="m", version="v", attempt=1, error_type="E", delay_ms=np.float32(2)
    )
    assert retry.delay_ms.__class__ is float


def test_a_huge_gauge_value_is_rejected_and_rendering_keeps_working(metrics: Metrics) -> None:
    exporter = PrometheusExporter()
    metrics.export_to(exporter)
    metrics.record_active_connections("bert", "v1", 3)
    with pytest.raises(ValueError, match=re.escape("'count' must be <= 1e+100")):
        metrics.record_active_connections("bert", "v1", HUGE)
    assert 'model_active_connections{model_name="bert",version="v1"} 3.0' in exporter.render()


@pytest.mark.parametrize("kind", ["counter", "gauge", "histogram", "timer"])
@pytest.mark.parametrize("bad", [HUGE, Decimal("NaN"), None, "1", 1e200, True])
def test_the_registry_fast_path_sends_bad_values_to_the_shared_validation(
    kind: str, bad: object
) -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0))
    record = getattr(registry, kind)
    record("m", {"a": "b"}, 1)  # the series exists: the next call takes the fast path
    with pytest.raises(ValueError, match=r"^'(increment|value|duration_ms)' must be "):
        record("m", {"a": "b"}, bad)
    (series,) = registry.snapshot().series
    if isinstance(series, CounterSeries):
        assert series.total == 1.0
    elif isinstance(series, DistributionSeries):
        assert (series.count, series.total) == (1, 1.0)


@pytest.mark.parametrize("kind", ["counter", "gauge", "histogram", "timer"])
def test_the_registry_converts_decimals_on_both_paths(kind: str) -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0))
    record = getattr(registry, kind)
    record("m", {}, Decimal("2.5"))  # slow path: new series
    record("m", {}, Decimal("2.5"))  # fast path: the series exists
    (series,) = registry.snapshot().series
    if isinstance(series, CounterSeries):
        assert series.total == 5.0
    elif isinstance(series, DistributionSeries):
        assert (series.count, series.total) == (2, 5.0)


def test_counter_increments_cannot_sum_to_inf() -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0))
    registry.counter("cost", {}, 1.0)
    with pytest.raises(ValueError, match=re.escape("'increment' must be within +-1e+100: 1e+308")):
        registry.counter("cost", {}, 1e308)
    registry.counter("cost", {}, MAX_VALUE)
    registry.counter("cost", {}, MAX_VALUE)
    (series,) = registry.snapshot().series
    assert isinstance(series, CounterSeries)
    assert math.isfinite(series.total)


def test_cost_of_1e308_is_rejected_at_the_event() -> None:
    with pytest.raises(ValueError, match="'cost_usd' must be within"):
        InferenceCompleted(model_name="m", version="v", duration_ms=1.0, cost_usd=1e308)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: InferenceCompleted(model_name="m", version="v", duration_ms=1, confidence=HUGE),
            "'confidence' must be within",
        ),
        (
            lambda: DriftMeasured(model_name="m", version="v", kind="k", score=HUGE),
            "'score' must be within",
        ),
        (
            lambda: DriftMeasured(model_name="m", version="v", kind="k", score=1, threshold="x"),  # type: ignore[arg-type]
            "'threshold' must be a number: 'x'",
        ),
        (
            lambda: RetryAttempted(
                model_name="m", version="v", attempt=1, error_type="E", delay_ms=HUGE
            ),
            "'delay_ms' must be within",
        ),
        (
            lambda: RetryAttempted(
                model_name="m",
                version="v",
                attempt=1,
                error_type="E",
                delay_ms=None,  # type: ignore[arg-type]
            ),
            "'delay_ms' must be a number: None",
        ),
        (lambda: GpuSampled(gpu_index=0, temperature_celsius=HUGE), "'temperature_celsius'"),
        (
            lambda: GpuSampled(gpu_index=0, process_memory_bytes=[(1, -5)]),
            "'process_memory_bytes bytes' must be an int >= 0: -5",
        ),
        (
            lambda: GpuSampled(gpu_index=0, process_memory_bytes=[("1", 5)]),  # type: ignore[list-item]
            "'process_memory_bytes pid' must be an int >= 0: '1'",
        ),
        (lambda: Event(timestamp=math.nan), "'timestamp' must be finite: nan"),
        (
            lambda: Event(timestamp=None),  # type: ignore[arg-type]
            "'timestamp' must be a number: None",
        ),
        (
            lambda: Event(timestamp="12"),  # type: ignore[arg-type]
            "'timestamp' must be a number: '12'",
        ),
        (
            lambda: InferenceFailed(
                model_name="m", version="v", duration_ms=1, error_type="E", timestamp=math.inf
            ),
            "'timestamp' must be finite: inf",
        ),
        (
            lambda: InferenceCompleted(
                model_name="m", version="v", duration_ms=1, output_tokens=HUGE
            ),
            "'output_tokens' must be <= 1e+100",
        ),
    ],
)
def test_events_reject_bad_numbers_with_a_value_error(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build()  # type: ignore[operator]


@attrs.frozen(kw_only=True, slots=True)
class UserEvent(Event):
    """A user's own event, with no post-init of its own."""

    payload: str = "x"


@pytest.mark.parametrize(
    "build",
    [
        lambda ts: UserEvent(timestamp=ts),
        lambda ts: ResourcesSampled(timestamp=ts),
        lambda ts: InferenceStarted(model_name="m", version="v", timestamp=ts),
        lambda ts: InferenceCompleted(model_name="m", version="v", duration_ms=1, timestamp=ts),
        lambda ts: HttpRequestFinished(
            method="GET", route="/", status_code=200, duration_ms=1, timestamp=ts
        ),
    ],
)
def test_every_event_checks_its_timestamp(build: Any) -> None:
    with pytest.raises(ValueError, match=r"^'timestamp' must be finite: nan$"):
        build(math.nan)
    with pytest.raises(ValueError, match=r"^'timestamp' must be a number: '12'$"):
        build("12")
    assert build(Decimal("12.5")).timestamp.__class__ is float
    assert build(12).timestamp == 12


@pytest.mark.parametrize("success", ["yes", 1, None, "False"])
def test_record_inference_wants_a_bool_success(metrics: Metrics, success: object) -> None:
    with pytest.raises(ValueError, match=f"^'success' must be a bool: {re.escape(repr(success))}$"):
        metrics.record_inference("m", "v", 1.0, success=success)  # type: ignore[arg-type]
    assert metrics.get_all_metrics() == {}


def test_get_metrics_rejects_a_huge_window(metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="'window' must be > 0 seconds and finite"):
        metrics.get_metrics("m", "v", window=HUGE)


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0, -1, 1e20, "5", True])
def test_registry_rejects_bad_limits(bad: object) -> None:
    with pytest.raises(ValueError, match="'max_series_per_metric' must be an int >= 1"):
        AggregatingRegistry(max_series_per_metric=bad)  # type: ignore[arg-type]


def test_registry_rejects_an_infinite_ttl() -> None:
    with pytest.raises(ValueError, match="'series_ttl' must be > 0 seconds and finite: inf"):
        AggregatingRegistry(series_ttl=math.inf)


@pytest.mark.parametrize("bad", [math.inf, math.nan, 0, -1, 1e12, "1"])
def test_every_timeout_of_the_facade_is_checked_where_given(bad: object) -> None:
    metrics = Metrics(bus=EventBus(), registry=AggregatingRegistry())
    with pytest.raises(ValueError, match="'export_timeout' must be"):
        Metrics(bus=EventBus(), export_timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'timeout' must be"):
        metrics.export_to(PrometheusExporter(), timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'interval' must be"):
        metrics.start_auto_export(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'deadline' must be"):
        metrics.export(deadline=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'deadline' must be"):
        metrics.export_on_shutdown(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'deadline' must be"):
        metrics.close(deadline=bad)  # type: ignore[arg-type]
    if bad != 0:  # stop_auto_export(0) does not wait, as close() calls it with no time left
        with pytest.raises(ValueError, match="'timeout' must be"):
            metrics.stop_auto_export(timeout=bad)  # type: ignore[arg-type]
    assert metrics.export() == []  # nothing was added, started or closed
    metrics.close(deadline=1.0)


def test_check_seconds_accepts_what_threads_can_wait() -> None:
    assert check_seconds(Decimal("0.5"), "t") == 0.5
    assert check_seconds(9, "t") == 9.0
