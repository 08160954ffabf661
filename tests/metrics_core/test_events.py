from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import attrs
import pytest

from metrics_core._inference_events import prechecked_completed, prechecked_started
from metrics_core.attributes import check_attributes
from metrics_core.events import (
    ActiveConnectionsChanged,
    CircuitBreakerChanged,
    CircuitState,
    DriftMeasured,
    Event,
    FirstTokenReceived,
    GpuSampled,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
    MemoryUsageReported,
    ModelEvent,
    PredictionEvaluated,
    ResourcesSampled,
    RetryAttempted,
)

TS = 1_700_000_000.0
MODEL: dict[str, Any] = {"model_name": "bert", "version": "v2", "timestamp": TS}

# One valid set of arguments per event class; each validation test overrides one field.
VALID: dict[type[Event], dict[str, Any]] = {
    InferenceStarted: {**MODEL, "request_id": "r1"},
    InferenceCompleted: {
        **MODEL,
        "duration_ms": 12.5,
        "request_id": "r1",
        "time_to_first_token_ms": 3.0,
        "input_tokens": 10,
        "output_tokens": 20,
        "cached_tokens": 0,
        "cost_usd": 0.002,
        "batch_size": 4,
        "confidence": 0.9,
        "predicted_class": "cat",
    },
    InferenceFailed: {**MODEL, "duration_ms": 7.0, "error_type": "TimeoutError"},
    FirstTokenReceived: {**MODEL, "time_to_first_token_ms": 40.0},
    RetryAttempted: {**MODEL, "attempt": 1, "error_type": "ConnectionError", "delay_ms": 100.0},
    CircuitBreakerChanged: {**MODEL, "previous": "closed", "state": "open", "breaker": "db"},
    ActiveConnectionsChanged: {**MODEL, "count": 3},
    MemoryUsageReported: {**MODEL, "memory_bytes": 1 << 30},
    ResourcesSampled: {
        "timestamp": TS,
        "cpu_percent": 55.0,
        "process_cpu_percent": 12.5,
        "memory_used_bytes": 1 << 32,
        "memory_available_bytes": 1 << 33,
        "process_rss_bytes": 1 << 28,
        "disk_read_bytes": 10,
        "disk_write_bytes": 20,
        "net_sent_bytes": 30,
        "net_recv_bytes": 40,
        "open_fds": 12,
        "threads": 8,
    },
    GpuSampled: {
        "timestamp": TS,
        "gpu_index": 0,
        "gpu_name": "H100",
        "utilization_percent": 87.0,
        "memory_used_bytes": 1 << 34,
        "memory_total_bytes": 1 << 36,
        "temperature_celsius": 65.0,
        "power_watts": 350.0,
        "process_memory_bytes": [[123, 1 << 30]],
    },
    DriftMeasured: {**MODEL, "kind": "distribution", "score": 0.12, "threshold": 0.2},
    PredictionEvaluated: {**MODEL, "expected": "cat", "actual": "dog", "request_id": "r1"},
}
MODEL_EVENTS = [cls for cls in VALID if issubclass(cls, ModelEvent)]


def make(cls: type[Event], **overrides: Any) -> Event:
    return cls(**{**VALID[cls], **overrides})


def raises_naming(field: str, cls: type[Event], **overrides: Any) -> str:
    with pytest.raises(ValueError) as info:
        make(cls, **overrides)
    message = str(info.value)
    assert f"'{field}'" in message, message
    return message


@pytest.mark.parametrize("cls", list(VALID), ids=lambda cls: cls.__name__)
def test_every_event_constructs_with_valid_input(cls: type[Event]) -> None:
    event = make(cls)
    for name, value in VALID[cls].items():
        if name == "process_memory_bytes":
            assert event.process_memory_bytes == ((123, 1 << 30),)  # type: ignore[attr-defined]
        elif name in ("previous", "state"):
            assert getattr(event, name) is CircuitState(value)
        else:
            assert getattr(event, name) == value


def test_optional_fields_have_defaults() -> None:
    completed = InferenceCompleted(model_name="m", version="1", duration_ms=0, timestamp=TS)
    assert completed.batch_size == 1
    assert completed.input_tokens is None
    assert completed.confidence is None
    assert InferenceStarted(model_name="m", version="1", timestamp=TS).request_id is None
    assert ResourcesSampled(timestamp=TS).cpu_percent is None
    assert GpuSampled(gpu_index=1, timestamp=TS).process_memory_bytes == ()
    assert RetryAttempted(model_name="m", version="1", attempt=2, error_type="E").delay_ms == 0.0
    assert (
        CircuitBreakerChanged(
            model_name="m", version="1", previous="open", state="half_open"
        ).breaker
        == "default"
    )


def test_events_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        InferenceStarted("bert", "v2")  # type: ignore[call-arg]


@pytest.mark.parametrize("cls", list(VALID), ids=lambda cls: cls.__name__)
def test_events_are_frozen_and_slotted(cls: type[Event]) -> None:
    event = make(cls)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.timestamp = 0.0  # type: ignore[misc]
    assert event.timestamp == TS
    assert not hasattr(event, "__dict__")


@pytest.mark.parametrize("cls", MODEL_EVENTS, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("field", ["model_name", "version"])
@pytest.mark.parametrize("bad", ["", None, 5])
def test_model_and_version_must_be_non_empty_strings(
    cls: type[Event], field: str, bad: object
) -> None:
    message = raises_naming(field, cls, **{field: bad})
    assert message == f"'{field}' must be a non-empty string: {bad!r}"


@pytest.mark.parametrize("cls", [InferenceCompleted, InferenceFailed])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (-3, "'duration_ms' must be >= 0: -3"),
        (-0.5, "'duration_ms' must be >= 0: -0.5"),
        (math.nan, "'duration_ms' must be finite: nan"),
        (math.inf, "'duration_ms' must be finite: inf"),
        (-math.inf, "'duration_ms' must be finite: -inf"),
        ("12", "'duration_ms' must be a number: '12'"),
        (None, "'duration_ms' must be a number: None"),
    ],
)
def test_duration_ms_validation(cls: type[Event], bad: object, message: str) -> None:
    assert raises_naming("duration_ms", cls, duration_ms=bad) == message


@pytest.mark.parametrize(
    ("cls", "field"),
    [
        (InferenceCompleted, "duration_ms"),
        (InferenceCompleted, "cost_usd"),
        (InferenceFailed, "duration_ms"),
        (FirstTokenReceived, "time_to_first_token_ms"),
    ],
)
def test_bool_durations_are_rejected(cls: type[Event], field: str) -> None:
    assert raises_naming(field, cls, **{field: True}) == f"'{field}' must be a number: True"


@pytest.mark.parametrize(
    ("cls", "field"),
    [
        (InferenceCompleted, "time_to_first_token_ms"),
        (InferenceCompleted, "cost_usd"),
        (FirstTokenReceived, "time_to_first_token_ms"),
        (RetryAttempted, "delay_ms"),
        (ResourcesSampled, "cpu_percent"),
        (ResourcesSampled, "process_cpu_percent"),
        (GpuSampled, "utilization_percent"),
        (GpuSampled, "power_watts"),
    ],
)
@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, "x"])
def test_non_negative_fields(cls: type[Event], field: str, bad: object) -> None:
    raises_naming(field, cls, **{field: bad})


@pytest.mark.parametrize("field", ["input_tokens", "output_tokens", "cached_tokens"])
@pytest.mark.parametrize("bad", [-1, 1.0, 2.5, "3", True])
def test_token_counts_must_be_non_negative_ints(field: str, bad: object) -> None:
    message = raises_naming(field, InferenceCompleted, **{field: bad})
    assert message == f"'{field}' must be an int >= 0 or None: {bad!r}"


@pytest.mark.parametrize("bad", [0, -1, 1.0, True, "2"])
def test_batch_size_must_be_a_positive_int(bad: object) -> None:
    message = raises_naming("batch_size", InferenceCompleted, batch_size=bad)
    assert message == f"'batch_size' must be an int >= 1: {bad!r}"


@pytest.mark.parametrize("bad", [1.5, -0.1, math.nan, "high"])
def test_confidence_must_be_within_unit_interval(bad: object) -> None:
    raises_naming("confidence", InferenceCompleted, confidence=bad)


def test_confidence_bounds_are_inclusive() -> None:
    assert make(InferenceCompleted, confidence=0).confidence == 0  # type: ignore[attr-defined]
    assert make(InferenceCompleted, confidence=1.0).confidence == 1.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("cls", "field"),
    [
        (InferenceCompleted, "request_id"),
        (InferenceCompleted, "predicted_class"),
        (InferenceStarted, "request_id"),
        (InferenceFailed, "request_id"),
        (FirstTokenReceived, "request_id"),
        (PredictionEvaluated, "request_id"),
        (GpuSampled, "gpu_name"),
    ],
)
def test_optional_strings_reject_other_types(cls: type[Event], field: str) -> None:
    message = raises_naming(field, cls, **{field: 42})
    assert message == f"'{field}' must be a string or None: 42"


@pytest.mark.parametrize(
    ("cls", "field"),
    [
        (InferenceFailed, "error_type"),
        (RetryAttempted, "error_type"),
        (CircuitBreakerChanged, "breaker"),
        (DriftMeasured, "kind"),
    ],
)
@pytest.mark.parametrize("bad", ["", None])
def test_required_strings_must_be_non_empty(cls: type[Event], field: str, bad: object) -> None:
    message = raises_naming(field, cls, **{field: bad})
    assert message == f"'{field}' must be a non-empty string: {bad!r}"


@pytest.mark.parametrize("bad", [0, -1, 1.0, True])
def test_retry_attempt_must_be_a_positive_int(bad: object) -> None:
    raises_naming("attempt", RetryAttempted, attempt=bad)


@pytest.mark.parametrize(
    ("cls", "field"),
    [
        (ActiveConnectionsChanged, "count"),
        (MemoryUsageReported, "memory_bytes"),
        (GpuSampled, "gpu_index"),
    ],
)
@pytest.mark.parametrize("bad", [-1, 1.5, True, None])
def test_non_negative_int_fields(cls: type[Event], field: str, bad: object) -> None:
    message = raises_naming(field, cls, **{field: bad})
    assert message == f"'{field}' must be an int >= 0: {bad!r}"


@pytest.mark.parametrize(
    "field",
    [
        "memory_used_bytes",
        "memory_available_bytes",
        "process_rss_bytes",
        "disk_read_bytes",
        "disk_write_bytes",
        "net_sent_bytes",
        "net_recv_bytes",
        "open_fds",
        "threads",
    ],
)
@pytest.mark.parametrize("bad", [-1, 1.5])
def test_resource_counts(field: str, bad: object) -> None:
    raises_naming(field, ResourcesSampled, **{field: bad})


@pytest.mark.parametrize("field", ["memory_used_bytes", "memory_total_bytes"])
def test_gpu_memory_counts(field: str) -> None:
    raises_naming(field, GpuSampled, **{field: -1})


def test_gpu_temperature_may_be_negative_but_must_be_finite() -> None:
    assert make(GpuSampled, temperature_celsius=-5.0).temperature_celsius == -5.0  # type: ignore[attr-defined]
    for bad in (math.nan, math.inf, "hot"):
        raises_naming("temperature_celsius", GpuSampled, temperature_celsius=bad)


@pytest.mark.parametrize(
    ("field", "bad"),
    [("score", math.nan), ("score", math.inf), ("score", "high"), ("threshold", -math.inf)],
)
def test_drift_scores_must_be_finite(field: str, bad: object) -> None:
    raises_naming(field, DriftMeasured, **{field: bad})


def test_drift_score_may_be_negative_and_threshold_optional() -> None:
    event = make(DriftMeasured, score=-0.5, threshold=None)
    assert event.score == -0.5  # type: ignore[attr-defined]
    assert event.threshold is None  # type: ignore[attr-defined]


def test_circuit_breaker_states_convert_from_strings() -> None:
    event = make(CircuitBreakerChanged, previous="half_open", state=CircuitState.CLOSED)
    assert event.previous is CircuitState.HALF_OPEN  # type: ignore[attr-defined]
    assert event.state is CircuitState.CLOSED  # type: ignore[attr-defined]
    assert [s.gauge_value for s in CircuitState] == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("field", ["previous", "state"])
def test_circuit_breaker_unknown_state_raises(field: str) -> None:
    with pytest.raises(ValueError, match="'broken'"):
        make(CircuitBreakerChanged, **{field: "broken"})


@pytest.mark.parametrize("field", ["previous", "state"])
def test_circuit_breaker_unknown_state_names_the_field(field: str) -> None:
    raises_naming(field, CircuitBreakerChanged, **{field: "broken"})


# -- user-defined events ------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=True)
class ModelSwapped(Event):
    """A user event that is not about one model version."""

    slot: str
    new_version: str


@attrs.frozen(kw_only=True, slots=True)
class CacheHit(ModelEvent):
    """A user event about one model version, with its own validation."""

    key: str
    saved_ms: float = 0.0

    def __attrs_post_init__(self) -> None:
        ModelEvent.__attrs_post_init__(self)
        if self.saved_ms < 0:
            raise ValueError(f"'saved_ms' must be >= 0: {self.saved_ms!r}")


def test_user_subclass_of_event() -> None:
    event = ModelSwapped(slot="a", new_version="v3", timestamp=TS)
    assert isinstance(event, Event)
    assert not isinstance(event, ModelEvent)
    assert (event.slot, event.new_version, event.timestamp) == ("a", "v3", TS)
    assert isinstance(ModelSwapped(slot="a", new_version="v3").timestamp, float)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.slot = "b"  # type: ignore[misc]
    assert [f.name for f in attrs.fields(ModelSwapped)] == ["timestamp", "slot", "new_version"]


def test_user_subclass_of_model_event_keeps_model_validation() -> None:
    event = CacheHit(model_name="bert", version="v2", key="k", saved_ms=3.0, timestamp=TS)
    assert isinstance(event, ModelEvent)
    assert (event.model_name, event.version, event.key, event.saved_ms) == ("bert", "v2", "k", 3.0)
    with pytest.raises(ValueError, match="'model_name' must be a non-empty string: ''"):
        CacheHit(model_name="", version="v2", key="k")
    with pytest.raises(ValueError, match="'saved_ms' must be >= 0: -1"):
        CacheHit(model_name="bert", version="v2", key="k", saved_ms=-1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.key = "other"  # type: ignore[misc]
    assert not hasattr(event, "__dict__")


def test_user_subclass_without_post_init_inherits_model_validation() -> None:
    @attrs.frozen(kw_only=True, slots=True)
    class Warmed(ModelEvent):
        seconds: float

    assert Warmed(model_name="m", version="1", seconds=2.0).seconds == 2.0
    with pytest.raises(ValueError, match="'version' must be a non-empty string: ''"):
        Warmed(model_name="m", version="", seconds=2.0)


def test_subclass_of_a_concrete_event() -> None:
    @attrs.frozen(kw_only=True, slots=True)
    class LlmCompleted(InferenceCompleted):
        provider: str = "local"

    event = LlmCompleted(model_name="m", version="1", duration_ms=5.0, provider="x")
    assert isinstance(event, InferenceCompleted)
    assert event.provider == "x"
    with pytest.raises(ValueError, match="'duration_ms' must be >= 0: -1"):
        LlmCompleted(model_name="m", version="1", duration_ms=-1)


@pytest.mark.parametrize("field", ["expected", "actual"])
@pytest.mark.parametrize("bad", ["", None, 1])
def test_evaluated_classes_are_non_empty_strings_or_bools(field: str, bad: object) -> None:
    message = raises_naming(field, PredictionEvaluated, **{field: bad})
    assert message == f"'{field}' must be a non-empty string or a bool: {bad!r}"


class _PlainCompleted(InferenceCompleted):
    """A subclass without attrs: it has a ``__dict__`` and runs InferenceCompleted's init."""


class _SlottedCompleted(InferenceCompleted):
    __slots__ = ()


class _Greeting:
    def greet(self) -> str:
        return "hi"


class _MixedCompleted(InferenceCompleted, _Greeting):
    """A subclass with a mixin, also built by InferenceCompleted's init."""


@pytest.mark.parametrize(
    "cls",
    [InferenceCompleted, _PlainCompleted, _SlottedCompleted, _MixedCompleted],
    ids=lambda cls: cls.__name__,
)
def test_completed_keeps_its_class_fields_and_freezing_through_the_fast_init(
    cls: type[InferenceCompleted],
) -> None:
    event = cls(model_name="m", version="1", duration_ms=2.5, output_tokens=7, timestamp=TS)
    assert type(event) is cls
    assert (event.model_name, event.version, event.duration_ms, event.output_tokens) == (
        "m",
        "1",
        2.5,
        7,
    )
    assert (event.timestamp, event.batch_size, event.input_tokens) == (TS, 1, None)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.duration_ms = 1.0  # type: ignore[misc]
    assert attrs.evolve(event, duration_ms=4.0) == cls(
        model_name="m", version="1", duration_ms=4.0, output_tokens=7, timestamp=TS
    )
    with pytest.raises(ValueError, match="'duration_ms' must be >= 0: -1"):
        cls(model_name="m", version="1", duration_ms=-1)


def test_a_decimal_duration_is_stored_as_the_float_it_was_checked_as() -> None:
    event = InferenceCompleted(model_name="m", version="1", duration_ms=Decimal("2.5"))  # type: ignore[arg-type]
    assert event.duration_ms == 2.5 and event.duration_ms.__class__ is float
    assert isinstance(event.timestamp, float)


def test_the_spans_prechecked_events_equal_the_checked_ones_and_are_as_frozen() -> None:
    tags = check_attributes({"region": "eu"})
    started = prechecked_started("m", "1", "r1", tags)
    completed = prechecked_completed("m", "1", "r1", 2.5)
    assert (type(started), type(completed)) == (InferenceStarted, InferenceCompleted)
    assert started == InferenceStarted(
        model_name="m", version="1", request_id="r1", attributes=tags, timestamp=started.timestamp
    )
    assert completed == InferenceCompleted(
        model_name="m", version="1", request_id="r1", duration_ms=2.5, timestamp=completed.timestamp
    )
    assert isinstance(started.timestamp, float) and isinstance(completed.timestamp, float)
    for event, field in ((started, "request_id"), (completed, "duration_ms")):
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(event, field, "x")
    # Users build events through the constructors, which still check every field.
    with pytest.raises(ValueError, match="'model_name' must be a non-empty string: ''"):
        InferenceStarted(model_name="", version="1")
