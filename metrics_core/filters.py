"""Event filters: callables that see each event before the collectors.

A filter takes an event and returns it, a changed copy of the same class
(``attrs.evolve(event, attributes=...)``), or ``None`` to drop it:

>>> def only_production(event):
...     attributes = getattr(event, "attributes", {})
...     return event if attributes.get("environment") == "production" else None

``Metrics(filters=[...])`` runs them in order in front of each collector
handler, so a filter runs once per collector that listens to the event: keep
filters pure. A filter that raises, or returns something else than ``None`` or
an event of the same class, is isolated like a failing listener: logged
(``filter_failed``), counted in ``metrics_filter_errors_total{filter}``, and
skipped, the event going on unchanged to the next filter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from metrics_core.bus import listener_name
from metrics_core.events import Event
from metrics_core.logs import get_logger

__all__ = ["EventFilter", "FilterChain"]

EventFilter = Callable[[Event], Event | None]
"""A filter: the event, a changed copy of the same class, or ``None`` to drop it."""

_log = get_logger("metrics_core.filters")


class FilterChain:
    """Filters run in order; ``on_error(filter_name)`` counts each failure."""

    __slots__ = ("filters", "on_error")

    def __init__(
        self, filters: Iterable[EventFilter], on_error: Callable[[str], None] | None = None
    ) -> None:
        chain = tuple(filters)
        for item in chain:
            if not callable(item):
                raise TypeError(f"'filters' must hold callables: {item!r}")
        self.filters = chain
        self.on_error = on_error

    def apply(self, event: Event) -> Event | None:
        """The event after every filter, or ``None`` if one dropped it."""
        for item in self.filters:
            try:
                result = item(event)
            except Exception:
                self._failed(item, event, "raised")
                continue
            if result is None:
                return None
            if result.__class__ is not event.__class__:
                self._failed(item, event, f"returned {type(result).__name__}")
                continue
            event = result
        return event

    def wrap(self, handler: Callable[[Event], object]) -> Callable[[Event], object]:
        """``handler`` behind the chain (``handler`` itself when there are no filters)."""
        if not self.filters:
            return handler
        apply = self.apply

        def filtered(event: Event) -> object:
            kept = apply(event)
            return None if kept is None else handler(kept)

        # Listener errors then name the collector's handler, not this wrapper.
        return functools.update_wrapper(filtered, handler)

    def _failed(self, item: EventFilter, event: Event, how: str) -> None:
        name = listener_name(item)
        _log.error(
            "filter_failed", filter=name, event_type=type(event).__name__, how=how, exc_info=True
        )
        if self.on_error is not None:
            self.on_error(name)
