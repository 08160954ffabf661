"""Every series the built-in collectors record is named in names.py and documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collectors import (
    GpuCollector,
    HttpCollector,
    InferenceCollector,
    LlmCollector,
    QualityCollector,
    ReliabilityCollector,
    SystemCollector,
)
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.control import CONTROL_METRICS
from metrics_core.events import (
    ActiveConnectionsChanged,
    CircuitBreakerChanged,
    DriftMeasured,
    FirstTokenReceived,
    GpuSampled,
    HttpRequestFinished,
    HttpRequestStarted,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
    MemoryUsageReported,
    PredictionEvaluated,
    ResourcesSampled,
    RetriesFinished,
    RetryAttempted,
)
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.values import MetricKind

METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


class NoNvml:
    """Never initializes: the GPU collector only records the events it is given."""

    def nvmlInit(self) -> None:
        raise RuntimeError("no driver")


def recorded_names() -> dict[str, MetricKind]:
    bus = EventBus()
    registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
    metrics = Metrics(bus=bus, registry=registry)
    for collector in (
        InferenceCollector(),
        SystemCollector(interval=3600),
        GpuCollector(interval=3600, nvml=NoNvml()),
        QualityCollector(positive_class="a", refresh_interval=0),
        ReliabilityCollector(),
        HttpCollector(),
        LlmCollector(),
    ):
        metrics.collect(collector)
    mv: dict[str, Any] = {"model_name": "m", "version": "v"}
    for event in (
        InferenceStarted(**mv),
        InferenceCompleted(
            **mv,
            duration_ms=50.0,
            time_to_first_token_ms=10.0,
            input_tokens=3,
            output_tokens=5,
            cached_tokens=1,
            cost_usd=0.1,
            batch_size=2,
            confidence=0.9,
            predicted_class="a",
            stream_chunks=4,
            stream_chars=40,
        ),
        InferenceFailed(**mv, duration_ms=1.0, error_type="E"),
        FirstTokenReceived(**mv, time_to_first_token_ms=5.0),
        ActiveConnectionsChanged(**mv, count=1),
        MemoryUsageReported(**mv, memory_bytes=1),
        RetryAttempted(**mv, attempt=1, error_type="E"),
        RetriesFinished(**mv, retries=2, succeeded=True, total_delay_ms=3.0),
        CircuitBreakerChanged(**mv, previous="closed", state="open"),
        DriftMeasured(**mv, kind="psi", score=0.5, threshold=0.1),
        PredictionEvaluated(**mv, expected="a", actual="b"),
        ResourcesSampled(
            cpu_percent=1.0,
            process_cpu_percent=1.0,
            memory_used_bytes=1,
            memory_available_bytes=1,
            process_rss_bytes=1,
            disk_read_bytes=1,
            disk_write_bytes=1,
            net_sent_bytes=1,
            net_recv_bytes=1,
            open_fds=1,
            threads=1,
        ),
        GpuSampled(
            gpu_index=0,
            utilization_percent=1.0,
            memory_used_bytes=1,
            memory_total_bytes=1,
            temperature_celsius=40.0,
            power_watts=1.0,
            process_memory_bytes=[(1, 1)],
        ),
        HttpRequestStarted(method="GET"),
        HttpRequestFinished(method="GET", route="/", status_code=200, duration_ms=1.0),
    ):
        bus.emit(event)
    metrics.close()
    return {series.name: series.kind for series in registry.snapshot()}


def test_every_recorded_metric_has_a_description_a_unit_and_a_row_in_the_docs() -> None:
    recorded = recorded_names()
    table = METRICS_DOC.read_text(encoding="utf-8")

    # Everything described, but the facade's and the registry's own metrics.
    self_metrics = {
        names.EXPORT_ERRORS_TOTAL,
        names.LISTENER_ERRORS_TOTAL,
        names.OVERFLOW_TOTAL,
        names.WORKER_GROUP_SKIPPED_FILES_TOTAL,
    }
    # Recorded only under sampling, dimensions, filters, the switch or shedding (tests/control).
    self_metrics |= set(CONTROL_METRICS)
    assert recorded.keys() == names.DESCRIPTIONS.keys() - self_metrics
    assert {name for name in recorded if f"`{name}`" not in table} == set()


def test_descriptions_units_and_kinds_cover_the_same_names() -> None:
    assert names.DESCRIPTIONS.keys() == names.UNITS.keys() == names.KINDS.keys()


def test_kinds_are_what_the_collectors_record() -> None:
    recorded = recorded_names()
    assert recorded == {name: names.KINDS[name] for name in recorded}
