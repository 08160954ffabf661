"""One warning when events go to the default bus that nobody collects from.

A common first-hour mistake: ``metrics = Metrics(bus=EventBus())`` collects on a
bus of its own while ``@track_inference("m", "v1")`` (no ``bus=``) emits on the
process-wide default bus, where nothing listens, so nothing is recorded. When a
span or decorator falls back to the default bus, that bus has no listener for
what it is about to emit, and a ``Metrics`` with a bus of its own exists, the
library logs ``events_on_an_unheard_default_bus`` once per process, naming the fix.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from metrics_core import bus as bus_module
from metrics_core.bus import EventBus
from metrics_core.logs import get_logger

__all__ = ["forget_own_bus", "note_own_bus", "reset_unheard_warning", "warn_if_unheard"]

_log = get_logger("metrics_core.unheard")
_lock = threading.Lock()
_own_buses: weakref.WeakSet[Any] = weakref.WeakSet()  # Metrics objects with their own bus
_warned = False


def note_own_bus(metrics: Any) -> None:
    """Remember ``metrics`` (a ``Metrics``) if it listens on a bus that is not the default."""
    if metrics.bus is bus_module._default_bus:  # read, never created here
        return
    with _lock:
        _own_buses.add(metrics)


def forget_own_bus(metrics: Any) -> None:
    """``metrics`` closed: it listens nowhere any more."""
    with _lock:
        _own_buses.discard(metrics)


def warn_if_unheard(bus: EventBus, event_type: type[Any]) -> None:
    """Warn once: ``bus`` has no listener of ``event_type``, a ``Metrics`` has its own bus."""
    global _warned  # noqa: PLW0603 - once per process, by design
    if _warned or bus.has_listeners(event_type):
        return
    with _lock:
        if _warned or not _own_buses:
            return
        _warned = True
    _log.warning(
        "events_on_an_unheard_default_bus",
        event_type=event_type.__name__,
        hint=(
            "a Metrics collects on a bus of its own, but this span or decorator emits on the "
            "default bus: pass bus=metrics (track_inference(..., bus=metrics), "
            "inference_span(..., bus=metrics)) or create Metrics() without a bus"
        ),
    )


def reset_unheard_warning() -> None:
    """Warn again on the next unheard emission (for tests)."""
    global _warned  # noqa: PLW0603
    with _lock:
        _warned = False
