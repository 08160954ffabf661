"""The library's own loggers: structlog when the app configured it, else stdlib ``logging``.

The library logs rarely (an exporter failing, a listener raising, a GPU
missing) and never writes to stdout on its own. Each logger is named
``inference_metrics.<module>`` (``LOGGER_PREFIX``). Every call decides where it
goes:

- the app configured structlog (``structlog.is_configured()``): through
  ``structlog.get_logger(name)``, so the app's processors, renderers and
  ``structlog.testing.capture_logs`` see the event and its keys;
- otherwise: to the standard ``logging`` logger of that name, as one message
  ``event key=value ...`` (strings as they are, other values as their ``repr``)
  with the keys also in ``extra={"structlog": {...}}``,
  so the app's ``logging`` configuration (levels, handlers, formatters) governs
  it. With no configuration at all Python's last-resort handler prints warnings
  and errors to stderr.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

__all__ = ["LOGGER_PREFIX", "LibraryLogger", "get_logger"]

LOGGER_PREFIX = "inference_metrics"
"""The prefix of every logger name of the library (``logging.getLogger(LOGGER_PREFIX)``)."""

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "exception": logging.ERROR,
}


class LibraryLogger:
    """A logger with structlog's call shape (``log.warning("event", key=value)``)."""

    __slots__ = ("_context", "name", "stdlib")

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self.name = name
        self.stdlib = logging.getLogger(f"{LOGGER_PREFIX}.{name}")
        self._context = context or {}

    def bind(self, **values: Any) -> LibraryLogger:
        """A logger that adds ``values`` to every event."""
        return LibraryLogger(self.name, {**self._context, **values})

    def _log(self, method: str, event: str, values: dict[str, Any]) -> None:
        keys = {**self._context, **values}
        if structlog.is_configured():
            getattr(structlog.get_logger(self.stdlib.name), method)(event, **keys)
            return
        level = _LEVELS[method]
        if not self.stdlib.isEnabledFor(level):
            return
        exc_info = keys.pop("exc_info", method == "exception")
        text = " ".join([event, *(f"{key}={_text(value)}" for key, value in keys.items())])
        self.stdlib.log(level, "%s", text, exc_info=exc_info, extra={"structlog": keys})

    def debug(self, event: str, **values: Any) -> None:
        """Log ``event`` at debug level."""
        self._log("debug", event, values)

    def info(self, event: str, **values: Any) -> None:
        """Log ``event`` at info level."""
        self._log("info", event, values)

    def warning(self, event: str, **values: Any) -> None:
        """Log ``event`` at warning level."""
        self._log("warning", event, values)

    def error(self, event: str, **values: Any) -> None:
        """Log ``event`` at error level."""
        self._log("error", event, values)

    def critical(self, event: str, **values: Any) -> None:
        """Log ``event`` at critical level."""
        self._log("critical", event, values)

    def exception(self, event: str, **values: Any) -> None:
        """Log ``event`` at error level with the exception being handled."""
        self._log("exception", event, values)


def _text(value: Any) -> str:
    """A string as it is, anything else as its ``repr`` (structlog's console style)."""
    return value if isinstance(value, str) else repr(value)


def get_logger(name: str) -> LibraryLogger:
    """The library logger of ``name`` (a module path, ``"collectors.gpu"``)."""
    return LibraryLogger(name)
