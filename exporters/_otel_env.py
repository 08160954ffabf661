"""``OTLPExporter``'s settings from OpenTelemetry's standard environment variables.

As the OpenTelemetry specification defines them ("OTLP Exporter Configuration"):
the metrics-specific variable wins over the generic one, and an explicit
argument wins over both.

- ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``: the full URL, used as-is;
  ``OTEL_EXPORTER_OTLP_ENDPOINT``: a base URL, to which ``v1/metrics`` is appended.
- ``OTEL_EXPORTER_OTLP_(METRICS_)HEADERS``: ``key=value,key2=value2``, values
  percent-decoded; explicit ``headers`` are merged over them, key by key.
- ``OTEL_EXPORTER_OTLP_(METRICS_)TIMEOUT``: milliseconds.
- ``OTEL_EXPORTER_OTLP_(METRICS_)COMPRESSION``: ``gzip`` or ``none`` (``deflate`` too).
- ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` are read by the SDK's
  ``Resource.create``; an explicit ``service_name`` or ``resource_attributes`` wins.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from urllib.parse import unquote

DEFAULT_ENDPOINT = "http://127.0.0.1:4318/v1/metrics"
"""Where an OpenTelemetry Collector listens for OTLP/HTTP metrics by default."""

DEFAULT_TIMEOUT = 10.0
"""Seconds, the specification's default of 10 000 ms."""

_PREFIX = "OTEL_EXPORTER_OTLP_"


def _variable(option: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``(variable name, value)`` of the metrics-specific or generic variable, if set."""
    for name in (f"{_PREFIX}METRICS_{option}", f"{_PREFIX}{option}"):
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


def resolve_endpoint(endpoint: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The metrics URL: ``endpoint``, else the environment's, else ``DEFAULT_ENDPOINT``."""
    if endpoint is not None:
        return endpoint
    specific = environ.get(f"{_PREFIX}METRICS_ENDPOINT", "").strip()
    if specific:
        return specific
    base = environ.get(f"{_PREFIX}ENDPOINT", "").strip()
    if base:
        return base + ("v1/metrics" if base.endswith("/") else "/v1/metrics")
    return DEFAULT_ENDPOINT


def resolve_headers(
    headers: Mapping[str, str] | None, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The environment's headers with ``headers`` merged over them."""
    found = _variable("HEADERS", environ)
    merged: dict[str, str] = {}
    if found is not None:
        name, text = found
        for item in text.split(","):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"'{name}' must be key=value pairs separated by commas: {text!r}")
            merged[unquote(key.strip())] = unquote(value.strip())
    merged.update(headers or {})
    return merged


def resolve_timeout(timeout: float | None, environ: Mapping[str, str] = os.environ) -> float:
    """Seconds: ``timeout``, else the environment's milliseconds / 1000, else 10."""
    if timeout is not None:
        return timeout
    found = _variable("TIMEOUT", environ)
    if found is None:
        return DEFAULT_TIMEOUT
    name, text = found
    try:
        millis = float(text)
    except ValueError:
        millis = math.nan
    if not 0 < millis < math.inf:
        raise ValueError(f"'{name}' must be a positive number of milliseconds: {text!r}")
    return millis / 1000.0


def resolve_compression(compression: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """``compression``, else the environment's (lower-cased), else ``"none"``."""
    if compression is not None:
        return compression
    found = _variable("COMPRESSION", environ)
    if found is None:
        return "none"
    name, text = found
    value = text.lower()
    if value not in ("gzip", "deflate", "none"):
        raise ValueError(f"'{name}' must be one of gzip, deflate, none: {text!r}")
    return value
