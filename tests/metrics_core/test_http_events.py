"""The HTTP events: frozen, keyword-only, validated with messages naming the field."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from metrics_core.events import Event, HttpRequestFinished, HttpRequestStarted

FINISHED: dict[str, Any] = {
    "method": "GET",
    "route": "/items/{item_id}",
    "status_code": 200,
    "duration_ms": 1.5,
}


def test_defaults_and_immutability() -> None:
    started = HttpRequestStarted(method="GET", timestamp=5.0)
    assert (started.method, started.scheme, started.timestamp) == ("GET", "http", 5.0)
    done = HttpRequestFinished(**FINISHED)
    assert (done.scheme, done.error_type) == ("http", None)
    assert isinstance(done, Event)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        done.status_code = 500  # type: ignore[misc]
    with pytest.raises(TypeError):
        HttpRequestStarted("GET")  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("status_code", 99, "'status_code' must be an int within 100..599: 99"),
        ("status_code", 600, "'status_code' must be an int within 100..599: 600"),
        ("status_code", 200.0, "'status_code' must be an int within 100..599: 200.0"),
        ("duration_ms", -1.0, "'duration_ms' must be >= 0: -1.0"),
        ("duration_ms", float("nan"), "'duration_ms' must be finite: nan"),
        ("route", "", "'route' must be a non-empty string: ''"),
        ("method", "", "'method' must be a non-empty string: ''"),
        ("scheme", "", "'scheme' must be a non-empty string: ''"),
        ("error_type", 3, "'error_type' must be a string or None: 3"),
    ],
)
def test_bad_fields_raise_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        HttpRequestFinished(**{**FINISHED, field: value})
    assert str(raised.value) == message


def test_a_started_request_needs_a_method() -> None:
    with pytest.raises(ValueError, match="'method' must be a non-empty string: ''"):
        HttpRequestStarted(method="")
