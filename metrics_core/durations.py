"""Durations written as text: ``"90s"``, ``"5m"``, ``"1h"``, ``"500ms"`` or plain seconds.

Everywhere a window is accepted (``get_metrics(window="5m")``, exporters' windows,
``QualityCollector(window="10m")``), as the HTTP API's ``?window=`` already was.
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)?\s*$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, None: 1.0}


def parse_duration(text: str, field: str = "window") -> float:
    """Seconds of ``text``; ``ValueError`` naming ``field`` unless positive and finite."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"'{field}' must be a duration like '90s', '5m', '1h', '500ms' or seconds: {text!r}"
        )
    seconds = float(match[1]) * _SECONDS[match[2]]
    if not 0 < seconds < math.inf:
        raise ValueError(f"'{field}' must be > 0 seconds and finite: {text!r}")
    return seconds
