"""``CallbackExporter``: hand every snapshot to a function of yours."""

from __future__ import annotations

from collections.abc import Callable

from metrics_core.snapshot import Snapshot


class CallbackExporter:
    """Call ``callback(snapshot)`` on every export; its return value is ignored.

    The snapshot is immutable, so the callback may keep it. Exceptions propagate
    to the caller (the facade logs and counts them like any exporter's).

    >>> from metrics_core.snapshot import Snapshot
    >>> seen: list[Snapshot] = []
    >>> exporter = CallbackExporter(seen.append)
    >>> exporter.export(Snapshot(0.0, ()))
    >>> len(seen)
    1
    """

    def __init__(self, callback: Callable[[Snapshot], object]) -> None:
        if not callable(callback):
            raise TypeError(f"'callback' must be callable: {callback!r}")
        self._callback = callback

    @property
    def callback(self) -> Callable[[Snapshot], object]:
        """The function called with each snapshot."""
        return self._callback

    def export(self, snapshot: Snapshot) -> None:
        """Call the callback with ``snapshot``."""
        self._callback(snapshot)

    def close(self) -> None:
        """Do nothing: the callback owns whatever it holds."""

    def __repr__(self) -> str:
        return f"CallbackExporter(callback={self._callback!r})"
