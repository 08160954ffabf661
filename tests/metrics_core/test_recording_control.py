"""The enabled switch, filters and the environment variables of a ``Metrics``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import attrs
import pytest
from structlog.testing import capture_logs

from collectors import InferenceCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.control import CONTROL_METRICS
from metrics_core.environment import ControlSettings
from metrics_core.events import Event, InferenceCompleted, InferenceStarted, ModelEvent
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.sampling import Sampling
from metrics_core.snapshot import CounterSeries, GaugeSeries
from metrics_core.testing import InMemoryExporter

MV: dict[str, Any] = {"model_name": "chat", "version": "v1"}


def wired(**options: Any) -> Metrics:
    registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
    return Metrics(bus=EventBus(), registry=registry, **options).collect(InferenceCollector())


# -- the switch ---------------------------------------------------------------------------


def test_disabled_records_nothing_exports_nothing_and_says_so() -> None:
    exporter = InMemoryExporter()
    metrics = wired(enabled=False).export_to(exporter)
    assert not metrics.bus.has_listeners(InferenceCompleted)
    metrics.record_inference("chat", "v1", 5.0, success=True)
    metrics.bus.emit(InferenceCompleted(**MV, duration_ms=1.0))
    assert metrics.export() == []
    assert exporter.snapshots == []
    assert metrics.get_metrics("chat", "v1", 60).request_count == 0
    snapshot = metrics.snapshot()
    assert [(s.name, s.value) for s in snapshot if isinstance(s, GaugeSeries)] == [
        (names.RECORDING_ENABLED, 0.0)
    ]
    assert len(snapshot) == 1
    metrics.close()
    assert exporter.snapshots == []


def test_switchable_at_run_time_and_exact_on_both_sides() -> None:
    metrics = wired()
    for _ in range(3):
        metrics.record_inference("chat", "v1", 5.0, success=True)
    with capture_logs() as logs:
        metrics.enabled = False
    assert {"event": "recording_switched", "enabled": False, "log_level": "info"} in logs
    for _ in range(5):
        metrics.record_inference("chat", "v1", 5.0, success=True)
    metrics.enabled = True
    metrics.enabled = True  # no-op
    for _ in range(2):
        metrics.record_inference("chat", "v1", 5.0, success=True)
    assert metrics.get_metrics("chat", "v1", 60).request_count == 5
    assert len(metrics.bus.signal_for(InferenceCompleted).receivers) == 1
    gauge = metrics.snapshot().get(names.RECORDING_ENABLED, {})
    assert isinstance(gauge, GaugeSeries) and gauge.value == 1.0


def test_switching_from_many_threads_loses_no_event_while_on() -> None:
    metrics = wired()
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            metrics.enabled = False
            metrics.enabled = True

    flipper = threading.Thread(target=flip)
    flipper.start()

    def emit_many() -> None:
        for _ in range(2_000):
            metrics.bus.emit(InferenceStarted(**MV))

    threads = [threading.Thread(target=emit_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    flipper.join()
    metrics.enabled = True
    # whatever was switched, the bus ends with exactly one subscription per handler
    assert len(metrics.bus.signal_for(InferenceCompleted).receivers) == 1
    assert len(metrics.bus.signal_for(InferenceStarted).receivers) == 1
    metrics.record_inference("chat", "v1", 5.0, success=True)
    assert metrics.get_metrics("chat", "v1", 60).request_count == 1


def test_enabled_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="'enabled' must be a bool: 'no'"):
        wired(enabled="no")
    metrics = wired()
    with pytest.raises(TypeError, match="'enabled' must be a bool: 0"):
        metrics.enabled = 0  # type: ignore[assignment]


# -- filters ------------------------------------------------------------------------------


def only_production(event: Event) -> Event | None:
    if isinstance(event, ModelEvent) and event.attributes.get("environment") != "production":
        return None
    return event


def scrub_user(event: Event) -> Event | None:
    if isinstance(event, ModelEvent) and "user" in event.attributes:
        kept = {k: v for k, v in event.attributes.items() if k != "user"}
        return attrs.evolve(event, attributes=kept)
    return event


def test_filters_drop_and_change_events_before_the_collectors() -> None:
    seen: list[Event] = []
    metrics = wired(filters=[only_production, scrub_user])
    metrics.collect(_Spy(seen))
    for env in ("production", "staging", "production"):
        metrics.bus.emit(
            InferenceCompleted(**MV, duration_ms=1.0, attributes={"environment": env, "user": "u"})
        )
    assert metrics.get_metrics("chat", "v1", 60).request_count == 2
    assert [dict(e.attributes) for e in seen if isinstance(e, ModelEvent)] == [
        {"environment": "production"}
    ] * 2


class _Spy:
    def __init__(self, seen: list[Event]) -> None:
        self.seen = seen

    def listeners(self) -> dict[type[Event], Any]:
        return {InferenceCompleted: self.seen.append}

    def bind(self, registry: Any, bus: Any) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def test_a_failing_filter_is_isolated_logged_and_counted() -> None:
    def broken(event: Event) -> Event | None:
        raise RuntimeError("bug")

    def wrong(event: Event) -> Any:
        return "not an event"

    metrics = wired(filters=[broken, wrong, scrub_user])
    with capture_logs() as logs:
        metrics.bus.emit(InferenceCompleted(**MV, duration_ms=1.0, attributes={"user": "u"}))
    assert metrics.get_metrics("chat", "v1", 60).request_count == 1
    assert metrics.bus.listener_errors == 0
    failures = [log for log in logs if log["event"] == "filter_failed"]
    assert [(f["how"], f["filter"].rsplit(".", 1)[-1]) for f in failures] == [
        ("raised", "broken"),
        ("returned str", "wrong"),
    ]
    snapshot = metrics.snapshot()
    counted = {
        s.tags["filter"].rsplit(".", 1)[-1]: s.total
        for s in snapshot.find(names.FILTER_ERRORS_TOTAL)
        if isinstance(s, CounterSeries)
    }
    assert counted == {"broken": 1.0, "wrong": 1.0}
    (requests,) = snapshot.find(names.REQUESTS_TOTAL)
    assert "user" not in requests.tags


def test_filters_must_be_callable() -> None:
    with pytest.raises(TypeError, match="'filters' must hold callables: 3"):
        wired(filters=[3])


# -- environment variables ----------------------------------------------------------------


def test_environment_fills_in_what_code_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERENCE_METRICS_ENABLED", "off")
    monkeypatch.setenv("INFERENCE_METRICS_SAMPLE_REQUESTS", "0.25")
    monkeypatch.setenv("INFERENCE_METRICS_SAMPLE_MODELS", "org:gpt:streams=0.5; bert:errors=0.5")
    monkeypatch.setenv("INFERENCE_METRICS_MAX_EVENTS_PER_SECOND", "1000")
    metrics = wired()
    assert metrics.enabled is False
    assert metrics.control.sampling == Sampling(
        requests=0.25, per_model={"org:gpt": {"streams": 0.5}, "bert": {"errors": 0.5}}
    )
    assert metrics.control.shedding is not None
    assert metrics.control.shedding.max_events_per_second == 1000.0
    assert wired(enabled=True, sampling=Sampling()).control.sampling == Sampling()


def test_unset_environment_changes_nothing() -> None:
    assert ControlSettings.from_env({}) == ControlSettings()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("INFERENCE_METRICS_ENABLED", "maybe", "'INFERENCE_METRICS_ENABLED' must be one of"),
        (
            "INFERENCE_METRICS_SAMPLE_ERRORS",
            "2",
            "'INFERENCE_METRICS_SAMPLE_ERRORS' must be within",
        ),
        (
            "INFERENCE_METRICS_SAMPLE_STREAMS",
            "half",
            "'INFERENCE_METRICS_SAMPLE_STREAMS' must be a number",
        ),
        ("INFERENCE_METRICS_SAMPLE_MODELS", "gpt", "entries must be 'model:kind=rate,...'"),
        ("INFERENCE_METRICS_SAMPLE_MODELS", "gpt:fast=1", "rates must be kind=rate"),
        ("INFERENCE_METRICS_MAX_EVENTS_PER_SECOND", "-5", "must be a number of events > 0"),
        ("INFERENCE_METRICS_MAX_EVENTS_PER_SECOND", "lots", "must be a number of events > 0"),
    ],
)
def test_bad_environment_values_raise_naming_the_variable(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ControlSettings.from_env({variable: value})


def test_control_metrics_are_described_and_in_the_reference() -> None:
    table = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text("utf-8")
    assert [name for name in CONTROL_METRICS if f"| `{name}` |" not in table] == []
    assert set(CONTROL_METRICS) <= names.DESCRIPTIONS.keys()


def test_racing_switches_end_wired_as_the_last_value_set() -> None:
    metrics = wired()
    barrier = threading.Barrier(8)

    def toggle(n: int) -> None:
        barrier.wait()
        for i in range(200):
            metrics.enabled = (i + n) % 2 == 0

    threads = [threading.Thread(target=toggle, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listening = len(metrics.bus.signal_for(InferenceCompleted).receivers)
    assert listening == (1 if metrics.enabled else 0)
    gauge = metrics.registry.snapshot().get(names.RECORDING_ENABLED, {})
    assert isinstance(gauge, GaugeSeries) and gauge.value == (1.0 if metrics.enabled else 0.0)
    metrics.enabled = True
    assert len(metrics.bus.signal_for(InferenceCompleted).receivers) == 1


def test_dimensions_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERENCE_METRICS_DIMENSIONS", "provider, tenant")
    assert InferenceCollector().dimensions == ("provider", "tenant")
    assert InferenceCollector(dimensions=()).dimensions == ()
    monkeypatch.setenv("INFERENCE_METRICS_DIMENSIONS", "provider,,tenant")
    with pytest.raises(ValueError, match="'INFERENCE_METRICS_DIMENSIONS' must be keys"):
        InferenceCollector()
    monkeypatch.setenv("INFERENCE_METRICS_DIMENSIONS", "model_name")
    with pytest.raises(ValueError, match="must not include a key the collector sets"):
        InferenceCollector()
