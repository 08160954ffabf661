"""``NullExporter``: an exporter that does nothing but count its exports."""

from __future__ import annotations

from metrics_core.snapshot import Snapshot


class NullExporter:
    """Discard every snapshot, counting them: a baseline for benchmarking the export path.

    >>> from metrics_core.snapshot import Snapshot
    >>> exporter = NullExporter()
    >>> exporter.export(Snapshot(0.0, ()))
    >>> exporter.exports
    1
    """

    def __init__(self) -> None:
        self._exports = 0

    @property
    def exports(self) -> int:
        """How many snapshots were exported (and discarded)."""
        return self._exports

    def export(self, snapshot: Snapshot) -> None:
        """Count ``snapshot`` and drop it."""
        self._exports += 1

    def close(self) -> None:
        """Do nothing."""

    def __repr__(self) -> str:
        return f"NullExporter(exports={self._exports})"
