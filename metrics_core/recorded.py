"""The value objects that the registries' recording methods return.

``registry.counter(...)`` and the others return the ``Counter``, ``Gauge``,
``Histogram`` or ``Timer`` they recorded (Micrometer and prometheus_client let
you keep the meter; here the value is immutable, so what you get is the
observation). The registry validated the name, tags and number already, so the
value is built without validating them again. Bound instruments
(``registry.instrument(...)``), the hot path, return nothing and build nothing.
"""

from __future__ import annotations

from typing import Any, TypeVar

from metrics_core.tags import Tags
from metrics_core.values import VALUE_TYPES, MetricValue

_V = TypeVar("_V", bound=MetricValue)

__all__ = ["recorded"]

_NEW = object.__new__


def _setters(value_type: type[MetricValue]) -> tuple[Any, Any, Any, Any]:
    """The slot descriptors' ``__set__`` of name, tags, timestamp and value (fastest path)."""
    found: dict[str, Any] = {}
    for klass in value_type.__mro__:
        for field in ("name", "tags", "timestamp", "value"):
            if field in vars(klass) and field not in found:
                found[field] = vars(klass)[field].__set__
    return found["name"], found["tags"], found["timestamp"], found["value"]


_SETTERS: dict[type[Any], tuple[Any, Any, Any, Any]] = {
    value_type: _setters(value_type) for value_type in VALUE_TYPES.values()
}


def recorded(value_type: type[_V], name: str, tags: Tags, value: float, timestamp: float) -> _V:
    """The ``value_type`` value the registry just recorded (no second validation)."""
    made = _NEW(value_type)
    set_name, set_tags, set_timestamp, set_value = _SETTERS[value_type]
    set_name(made, name)
    set_tags(made, tags)
    set_timestamp(made, float(timestamp))
    set_value(made, float(value))
    return made
