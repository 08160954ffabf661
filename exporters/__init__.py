"""Exporters: send registry snapshots to consoles, logs, callbacks and monitoring backends.

The backend exporters need their extra (``inference-metrics[prometheus]``,
``[statsd]``, ``[otlp]``); they are imported on first use, so importing this
package needs none of them. ``PostgresStore`` needs ``[postgres]`` once constructed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from exporters.callback import CallbackExporter
from exporters.console import ConsoleExporter
from exporters.log import LogExporter
from exporters.null import NullExporter
from exporters.postgres_store import PostgresStore
from exporters.sqlite_store import SQLiteStore

if TYPE_CHECKING:
    from exporters.otlp import OTLPExporter
    from exporters.prometheus import PrometheusExporter
    from exporters.statsd import DogStatsDExporter, StatsDExporter

_BACKENDS: dict[str, tuple[str, str]] = {
    "DogStatsDExporter": ("exporters.statsd", "statsd"),
    "OTLPExporter": ("exporters.otlp", "otlp"),
    "PrometheusExporter": ("exporters.prometheus", "prometheus"),
    "StatsDExporter": ("exporters.statsd", "statsd"),
}


def __getattr__(name: str) -> Any:
    """Import a backend exporter on first use, naming the extra it needs when missing."""
    if name not in _BACKENDS:
        raise AttributeError(f"module 'exporters' has no attribute {name!r}")
    module_name, extra = _BACKENDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            raise
        raise ImportError(
            f"{name} needs the {extra!r} extra: pip install 'inference-metrics[{extra}]'"
            f" ({error.name} is missing)"
        ) from error
    return getattr(module, name)


__all__ = [
    "CallbackExporter",
    "ConsoleExporter",
    "DogStatsDExporter",
    "LogExporter",
    "NullExporter",
    "OTLPExporter",
    "PostgresStore",
    "PrometheusExporter",
    "SQLiteStore",
    "StatsDExporter",
]
