"""The queries of ``Metrics`` that read history: long windows and ``Metrics.history``.

Kept apart from ``facade.py`` so that the facade only decides *whether* a query needs
the store; ``metrics_core.history`` holds the stitching itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from metrics_core.history import (
    HistorySource,
    Rollup,
    ceil_minute,
    long_window,
    needs_store,
    step_snapshots,
    stitched_snapshot,
)
from metrics_core.query import (
    QUERY_NAMES,
    VersionMetrics,
    all_version_metrics,
    version_metrics,
)
from metrics_core.snapshot import Snapshot, Window, window_seconds
from metrics_core.splits import split_version_metrics


def history_query(
    source: HistorySource,
    memory: Snapshot,
    window: Window,
    started: float,
    match: Mapping[str, str] | None,
) -> tuple[Snapshot, Window]:
    """The snapshot and window that answer ``window`` ending at ``memory``'s time.

    Memory alone when it holds the whole window (no longer than an hour, and not
    reaching back before ``started``, when this process began recording); otherwise
    ``memory`` stitched to ``source`` from the first whole minute of the window.
    """
    seconds = window_seconds(window)
    now = memory.taken_at
    if not needs_store(seconds, now, started):
        return memory, window
    start = ceil_minute(now - seconds)
    stitched = stitched_snapshot(source, memory, start, names=QUERY_NAMES, match=match)
    return stitched, long_window(now, start)


def version_history(
    source: HistorySource | None,
    memory: Snapshot,
    model_name: str,
    version: str,
    since: Window,
    until: float | None,
    step: Window,
) -> list[VersionMetrics]:
    """``VersionMetrics`` of one version for each ``step`` of the ``since`` before ``until``.

    Steps start on whole minutes (the first at or after ``until - since``); the last
    one ends at ``until`` and may be shorter. Without a source, memory answers alone
    (the last hour).
    """
    start, end, step_seconds = _steps_span(memory, since, until, step)
    match = {"model_name": model_name, "version": version}
    stitched = stitched_snapshot(
        source or _NoHistory(), memory, start, names=QUERY_NAMES, match=match
    )
    out: list[VersionMetrics] = []
    for lo, snap in step_snapshots(stitched, start, end, step_seconds):
        now = snap.taken_at
        found = version_metrics(snap, model_name, version, long_window(now, lo), now)
        out.append(found if found.window_start >= lo else attrs.evolve(found, window_start=lo))
    return out


def all_versions_history(
    source: HistorySource | None,
    memory: Snapshot,
    since: Window,
    until: float | None,
    step: Window,
    *,
    by: Iterable[str] = (),
    where: Mapping[str, str] | None = None,
) -> list[tuple[float, dict[str, VersionMetrics]]]:
    """``(step start, get_all_metrics-like dict)`` per ``step`` (see ``version_history``).

    One read of the store for every version; a version with no data in a step is
    absent from that step's dict. ``by`` and ``where`` split and filter by kept
    dimensions as ``Metrics.get_all_metrics`` does.
    """
    start, end, step_seconds = _steps_span(memory, since, until, step)
    stitched = stitched_snapshot(source or _NoHistory(), memory, start, names=QUERY_NAMES)
    keys = tuple(by)
    out: list[tuple[float, dict[str, VersionMetrics]]] = []
    for lo, snap in step_snapshots(stitched, start, end, step_seconds):
        window, now = long_window(snap.taken_at, lo), snap.taken_at
        if keys or where is not None:
            out.append((lo, split_version_metrics(snap, window, by=keys, where=where, now=now)))
        else:
            out.append((lo, all_version_metrics(snap, window, now)))
    return out


class _NoHistory:
    """A source with no rows: memory answers alone."""

    writer = ""

    def read(self, start: float, end: float, **_: object) -> list[Rollup]:
        return []


def _steps_span(
    memory: Snapshot, since: Window, until: float | None, step: Window
) -> tuple[float, float, float]:
    """``(start, end, step seconds)`` of a history query: start on a whole minute."""
    seconds = window_seconds(since)
    step_seconds = window_seconds(step)
    now = memory.taken_at
    end = now if until is None else float(until)
    if end > now:
        raise ValueError(f"'until' must not be in the future: {until!r} > {now!r}")
    return ceil_minute(end - seconds), end, step_seconds
