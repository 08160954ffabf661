"""Exporters: send registry snapshots to consoles, logs, callbacks and monitoring backends."""

from exporters.callback import CallbackExporter
from exporters.console import ConsoleExporter
from exporters.log import LogExporter
from exporters.null import NullExporter

__all__ = ["CallbackExporter", "ConsoleExporter", "LogExporter", "NullExporter"]
