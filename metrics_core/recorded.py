"""The value objects that the registries' recording methods return.

``registry.counter(...)`` and the others return the ``Counter``, ``Gauge``,
``Histogram`` or ``Timer`` they recorded (Micrometer and prometheus_client let
you keep the meter; here the value is immutable, so what you get is the
observation). The registry validated the name, tags and number already, so the
value is built without validating them again. Bound instruments
(``registry.instrument(...)``), the hot path, return nothing and build nothing.
"""

from __future__ import annotations

from typing import TypeVar

from metrics_core.tags import Tags
from metrics_core.values import MetricValue

_V = TypeVar("_V", bound=MetricValue)

__all__ = ["recorded"]

_SET = object.__setattr__


def recorded(value_type: type[_V], name: str, tags: Tags, value: float, timestamp: float) -> _V:
    """The ``value_type`` value the registry just recorded (no second validation)."""
    made = object.__new__(value_type)
    _SET(made, "name", name)
    _SET(made, "tags", tags)
    _SET(made, "timestamp", float(timestamp))
    _SET(made, "value", float(value))
    return made
