"""``attributes`` on every per-model event: validated like tags, frozen, bounded."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metrics_core.attributes import MAX_ATTRIBUTES, NO_ATTRIBUTES
from metrics_core.events import (
    ActiveConnectionsChanged,
    DriftMeasured,
    FirstTokenReceived,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
    MemoryUsageReported,
    ModelEvent,
    PredictionEvaluated,
    RetryAttempted,
)
from metrics_core.tags import Tags

MV: dict[str, Any] = {"model_name": "chat", "version": "v1"}

EVENTS: list[tuple[type[ModelEvent], dict[str, Any]]] = [
    (InferenceStarted, {}),
    (InferenceCompleted, {"duration_ms": 1.0}),
    (InferenceFailed, {"duration_ms": 1.0, "error_type": "E"}),
    (FirstTokenReceived, {"time_to_first_token_ms": 1.0}),
    (RetryAttempted, {"attempt": 1, "error_type": "E"}),
    (ActiveConnectionsChanged, {"count": 1}),
    (MemoryUsageReported, {"memory_bytes": 1}),
    (DriftMeasured, {"kind": "psi", "score": 0.1}),
    (PredictionEvaluated, {"expected": "a", "actual": "b"}),
]


@pytest.mark.parametrize(("cls", "fields"), EVENTS)
def test_every_per_model_event_takes_and_validates_attributes(
    cls: type[ModelEvent], fields: dict[str, Any]
) -> None:
    assert cls(**MV, **fields).attributes is NO_ATTRIBUTES
    event = cls(**MV, **fields, attributes={"provider": "openai", "streamed": True, "n": 3})
    assert event.attributes == Tags({"provider": "openai", "streamed": "true", "n": "3"})
    with pytest.raises(ValueError, match="'attributes': tag key must be an identifier"):
        cls(**MV, **fields, attributes={"two words": "x"})
    with pytest.raises(ValueError, match="'attributes': tag value must be str, int, float or bool"):
        cls(**MV, **fields, attributes={"k": None})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="'attributes' must be a mapping"):
        cls(**MV, **fields, attributes=["provider"])  # type: ignore[arg-type]


def test_attributes_are_copied_so_later_changes_do_not_leak_in() -> None:
    given_attributes = {"provider": "openai"}
    event = InferenceCompleted(**MV, duration_ms=1.0, attributes=given_attributes)
    given_attributes["provider"] = "changed"
    assert event.attributes["provider"] == "openai"


def test_attributes_per_event_are_bounded() -> None:
    many = {f"k{i}": i for i in range(MAX_ATTRIBUTES + 1)}
    with pytest.raises(ValueError, match=f"at most {MAX_ATTRIBUTES} items: {MAX_ATTRIBUTES + 1}"):
        InferenceCompleted(**MV, duration_ms=1.0, attributes=many)


@given(
    st.dictionaries(
        # Keys starting with "__" are reserved (Prometheus' own): refused, see test_names.
        st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(lambda k: k[:2] != "__"),
        st.one_of(st.text(max_size=8), st.integers(), st.booleans()),
        max_size=8,
    )
)
def test_attributes_round_trip_as_tags(values: dict[str, Any]) -> None:
    event = InferenceStarted(**MV, attributes=values)
    assert event.attributes == Tags(values)
    assert set(event.attributes) == set(values)
