"""Validators shared by values, tags and events.

Every check raises ``ValueError`` naming the field and the offending value, in the
style of attrs: ``'duration_ms' must be >= 0: -3``.
"""

from __future__ import annotations

import decimal
import math
import numbers
import re
import threading
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
        raise ValueError(f"tag key must be an identifier, optionally dotted: {shown(key)}")
    if key.startswith("__"):
        raise ValueError(f"tag key must not start with '__' (reserved by Prometheus): {key!r}")
    return key


MAX_VALUE = 1e100
"""The largest magnitude a recorded number may have.

Far beyond any latency, token count, byte count or cost, and small enough that no
sum, mean or variance a series keeps can overflow to ``inf`` (that would take more
than 1e200 values).
"""

_LONGEST_SHOWN = 200


def shown(value: object) -> str:
    """``repr(value)`` for an error message, cut short so a huge value cannot flood a log."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 512:
        return f"<int of {value.bit_length()} bits>"  # repr() of a huge int is slow or raises
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _LONGEST_SHOWN else f"{text[:_LONGEST_SHOWN]}..."


def as_number(value: object, field: str) -> float:
    """Return ``value`` as a float if it is a real number within +-``MAX_VALUE``.

    The one numeric check of the library: events, values, registries and the facade
    all call it (registries on their slow path only, after a fast check that lets
    plain in-range ``float`` and ``int`` through). ``int``, ``float``, ``Decimal``,
    ``Fraction`` and numpy scalars are converted; ``bool``, ``None``, strings and
    anything else raise ``ValueError`` naming ``field``; so do NaN, infinities and
    numbers too large for a float.
    """
    if value.__class__ is float:
        number: float = value
    elif isinstance(value, bool) or not isinstance(value, (numbers.Real, decimal.Decimal)):
        raise ValueError(f"'{field}' must be a number: {shown(value)}")
    else:
        try:
            number = float(value)
        except (OverflowError, ValueError, ArithmeticError):
            number = math.nan if isinstance(value, decimal.Decimal) else math.inf
    if not -MAX_VALUE <= number <= MAX_VALUE:
        if math.isnan(number) or (math.isinf(number) and value.__class__ is float):
            raise ValueError(f"'{field}' must be finite: {shown(value)}")
        raise ValueError(f"'{field}' must be within +-{MAX_VALUE:g}: {shown(value)}")
    return number


def check_finite(value: object, field: str) -> float:
    """Return ``value`` as a float if it is a finite real number (see :func:`as_number`)."""
    return as_number(value, field)


def check_non_negative(value: object, field: str) -> float:
    """Return ``value`` as a float if it is finite and >= 0."""
    number = as_number(value, field)
    if number < 0:
        raise ValueError(f"'{field}' must be >= 0: {shown(value)}")
    return number


def check_seconds(value: object, field: str) -> float:
    """Return ``value`` as a float if it is a duration in seconds a thread can wait.

    Positive and at most ``threading.TIMEOUT_MAX``: a timeout of ``inf`` would raise
    ``OverflowError`` only later, in ``Thread.join`` or ``Event.wait``.
    """
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, decimal.Decimal)):
        raise ValueError(f"'{field}' must be a number of seconds: {shown(value)}")
    number: float | int
    if isinstance(value, int):
        number = value  # float() of a huge int would overflow
    else:
        try:
            number = float(value)
        except (ValueError, ArithmeticError):  # a signaling NaN
            number = math.nan
    if not 0 < number < math.inf:
        raise ValueError(f"'{field}' must be > 0 seconds and finite: {shown(value)}")
    if number > threading.TIMEOUT_MAX:
        raise ValueError(f"'{field}' must be <= {threading.TIMEOUT_MAX:g} seconds: {shown(value)}")
    return float(number)


def check_int(value: object, field: str, minimum: int = 0, suffix: str = "") -> int:
    """Return ``value`` if it is an ``int`` (not a bool) within [``minimum``, ``MAX_VALUE``]."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"'{field}' must be an int >= {minimum}{suffix}: {shown(value)}")
    if value > MAX_VALUE:
        raise ValueError(f"'{field}' must be <= {MAX_VALUE:g}: {shown(value)}")
    return value


def _converted(instance: Any, field: str, value: object, number: float) -> None:
    # A Decimal, Fraction or numpy scalar is stored as the float it was checked as,
    # so listeners and registries only ever see plain numbers.
    if value.__class__ is not float and value.__class__ is not int:
        object.__setattr__(instance, field, number)


def non_empty_str(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: a non-empty ``str``."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"'{attribute.name}' must be a non-empty string: {value!r}")


def optional_str(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: ``None`` or a ``str``."""
    if value is not None and not isinstance(value, str):
        raise ValueError(f"'{attribute.name}' must be a string or None: {value!r}")


def finite(instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: a finite number (stored as a float unless an int or a float)."""
    _converted(instance, attribute.name, value, check_finite(value, attribute.name))


def non_negative(instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: a finite number >= 0 (stored as a float unless an int or a float)."""
    _converted(instance, attribute.name, value, check_non_negative(value, attribute.name))


def optional_non_negative(instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: ``None`` or a finite number >= 0."""
    if value is not None:
        non_negative(instance, attribute, value)


def optional_finite(instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: ``None`` or a finite number."""
    if value is not None:
        finite(instance, attribute, value)


def optional_count(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: ``None`` or an ``int`` >= 0 (token counts)."""
    if value is not None:
        check_int(value, attribute.name, 0, " or None")


def positive_int(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: an ``int`` >= 1."""
    check_int(value, attribute.name, 1)


def non_negative_int(_instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: an ``int`` >= 0."""
    check_int(value, attribute.name, 0)


def unit_interval(instance: Any, attribute: Any, value: Any) -> None:
    """Attrs validator: ``None`` or a number in [0, 1]."""
    if value is None:
        return
    number = check_finite(value, attribute.name)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"'{attribute.name}' must be within [0, 1]: {shown(value)}")
    _converted(instance, attribute.name, value, number)
