"""Validators shared by values, tags and events.

Every check raises ``ValueError`` naming the field and the offending value, in the
style of attrs: ``'duration_ms' must be >= 0: -3``.
"""

from __future__ import annotations

import math
import re
from typing import Any

_METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:[.:][A-Za-z_][A-Za-z0-9_]*)*$")
_TAG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")


def check_metric_name(name: object, field: str = "name") -> str:
    """Return ``name`` if it is a valid metric name, else raise ``ValueError``.

    A valid name is a dotted or underscored identifier: ``model_inference_latency``,
    ``gen_ai.client.token.usage``. Exporters translate dots for backends that forbid them.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"'{field}' must be a non-empty string: {name!r}")
    if _METRIC_NAME.match(name) is None:
        raise ValueError(
            f"'{field}' must be an identifier, optionally dotted (e.g. 'gen_ai.token.usage'): "
            f"{name!r}"
        )
    return name


def check_tag_key(key: object) -> str:
    """Return ``key`` if it is a valid tag key (a possibly dotted identifier)."""
    if not isinstance(key, str) or _TAG_KEY.match(key) is None:
        raise ValueError(f"tag key must be an identifier, optionally dotted: {key!r}")
    return key


def check_finite(value: object, field: str) -> float:
    """Return ``value`` as a float if it is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"'{field}' must be a number: {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"'{field}' must be finite: {value!r}")
    return float(value)


def check_non_negative(value: object, field: str) -> float:
    """Return ``value`` as a float if it is finite and >= 0."""
    number = check_finite(value, field)
    if number < 0:
        raise ValueError(f"'{field}' must be >= 0: {value!r}")
    return number


def non_empty_str(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: a non-empty ``str``."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"'{attribute.name}' must be a non-empty string: {value!r}")


def optional_str(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: ``None`` or a ``str``."""
    if value is not None and not isinstance(value, str):
        raise ValueError(f"'{attribute.name}' must be a string or None: {value!r}")


def finite(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: a finite number."""
    check_finite(value, attribute.name)


def non_negative(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: a finite number >= 0."""
    check_non_negative(value, attribute.name)


def optional_non_negative(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: ``None`` or a finite number >= 0."""
    if value is not None:
        check_non_negative(value, attribute.name)


def optional_count(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: ``None`` or an ``int`` >= 0 (token counts)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"'{attribute.name}' must be an int >= 0 or None: {value!r}")


def positive_int(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: an ``int`` >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"'{attribute.name}' must be an int >= 1: {value!r}")


def non_negative_int(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: an ``int`` >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"'{attribute.name}' must be an int >= 0: {value!r}")


def unit_interval(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: ``None`` or a number in [0, 1]."""
    if value is None:
        return
    number = check_finite(value, attribute.name)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"'{attribute.name}' must be within [0, 1]: {value!r}")
