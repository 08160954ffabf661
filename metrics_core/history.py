"""History: per-minute rollups read back from a store and stitched to the in-memory tiers.

A history store (``exporters.SQLiteStore``, ``exporters.PostgresStore``) is an exporter
that writes every completed minute of every counter and histogram series as one
``Rollup``, and a ``HistorySource`` that reads them back. This module, which knows no
store, turns those rows plus a live snapshot into series that the ordinary queries
(``metrics_core.query``) answer any window from:

- minutes before ``boundary`` (the oldest whole minute the in-memory hour still holds)
  come from the store, every writer's rows;
- from ``boundary`` on, this process's data come from memory and the other writers'
  (other processes sharing the store) from the store, leaving this process's own rows
  out: nothing is counted twice, and the minute in progress is never missing.
"""

from __future__ import annotations

import math
import socket
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, cast, runtime_checkable

import attrs

from metrics_core.exporting import Exporter
from metrics_core.sketch import EMPTY, BucketData, merge_all
from metrics_core.snapshot import (
    CounterSeries,
    DistributionSeries,
    GaugeSeries,
    Series,
    Snapshot,
)
from metrics_core.tags import Tags
from metrics_core.values import MetricKind
from metrics_core.windows import MAX_WINDOW, WindowView

MINUTE = 60.0
"""The width of a rollup row, in seconds."""

HOUR = 3600.0
"""The width of a downsampled rollup row, in seconds."""


def floor_minute(t: float) -> float:
    """The start of the minute holding ``t``."""
    return math.floor(t / MINUTE) * MINUTE


def ceil_minute(t: float) -> float:
    """The first minute start at or after ``t``."""
    return math.ceil(t / MINUTE) * MINUTE


@attrs.frozen(slots=True)
class Rollup:
    """One series over one stored bucket (a minute or, downsampled, an hour).

    ``value`` is the counter's increment during the bucket, or the histogram's
    sketch of the bucket (count, sum, min, max and buckets).
    """

    name: str
    tags: Tags
    kind: MetricKind
    start: float
    value: float | BucketData


@runtime_checkable
class HistorySource(Protocol):
    """Reads stored rollups back (what ``Metrics(history=...)`` needs besides ``export``)."""

    @property
    def writer(self) -> str:
        """The id under which this process's rows are written."""

    def read(
        self,
        start: float,
        end: float,
        *,
        names: Sequence[str] | None = None,
        match: Mapping[str, str] | None = None,
        own_since: float | None = None,
    ) -> list[Rollup]:
        """Rows of buckets starting in ``[start, end)``, of every writer.

        Only series named in ``names`` (all when ``None``) whose tags include ``match``.
        With ``own_since``, this store's own writer's rows from that time on are left
        out (memory answers for them). Hour rows stand in for whole hours that were
        downsampled; nothing is returned twice.
        """


def memory_boundary(now: float, start: float) -> float:
    """The minute from which the in-memory tiers answer, for a window from ``start``."""
    return min(max(ceil_minute(now - MAX_WINDOW), ceil_minute(start)), floor_minute(now))


def _piece_view(
    pieces: list[tuple[float, float]] | list[tuple[float, BucketData]], first_seen: float
) -> WindowView:  # type: ignore[type-arg]
    ordered = sorted(pieces, key=lambda piece: piece[0])
    starts = tuple(piece[0] for piece in ordered)
    return WindowView(((), (), tuple(ordered)), ((), (), starts), (None, None), None, first_seen)


def series_from_pieces(
    name: str,
    tags: Tags,
    kind: MetricKind,
    pieces: Sequence[tuple[float, float | BucketData]],
    first_seen: float,
    now: float,
) -> Series:
    """A series whose whole history is ``pieces`` of ``(start, increment or sketch)``.

    Queried with a window longer than an hour (the coarsest tier), it answers from the
    pieces starting in the window; ``first_seen`` bounds the effective start.
    """
    if kind is MetricKind.COUNTER:
        floats = [(start, float(v)) for start, v in pieces if not isinstance(v, BucketData)]
        if len(floats) == 61:  # a full coarsest ring would move the effective start
            floats.insert(0, (first_seen, 0.0))
        total = math.fsum(v for _, v in floats)
        return CounterSeries(name, tags, total, now, _piece_view(floats, first_seen))
    sketches = [(start, v) for start, v in pieces if isinstance(v, BucketData)]
    if len(sketches) == 61:
        sketches.insert(0, (first_seen, EMPTY))
    parts = tuple(v for _, v in sketches)  # merged only if ``all_time`` is read
    return DistributionSeries(
        kind, name, tags, parts, (), (), now, _piece_view(sketches, first_seen)
    )


def _merge_values(values: list[float | BucketData]) -> float | BucketData:
    if values and isinstance(values[0], BucketData):
        return merge_all(v for v in values if isinstance(v, BucketData))
    return math.fsum(v for v in values if not isinstance(v, BucketData))


def minute_values(
    series: CounterSeries | DistributionSeries, since: float
) -> dict[float, float | BucketData]:
    """What ``series`` holds for each minute starting at or after ``since``.

    A minute is the 60 s tier's closed block, or the block in progress (its closed
    10 s blocks, the closed seconds after them and the open second). The minute in
    progress is included; it is complete once the snapshot is taken after its end.
    """
    view: WindowView = series.window  # type: ignore[type-arg]
    found: dict[float, list[float | BucketData]] = {}
    for start, value in view.closed[-1]:
        if start >= since:
            found.setdefault(start, []).append(value)
    loose: list[tuple[float, float | BucketData]] = []
    for pending in view.pending:
        if pending is not None:
            loose.extend((pending[0], value) for value in pending[1])
    if view.current is not None:
        loose.append(view.current)
    for start, value in loose:
        minute = floor_minute(start)
        if minute >= since:
            found.setdefault(minute, []).append(value)
    return {minute: _merge_values(values) for minute, values in sorted(found.items())}


def stitch(
    memory: Snapshot,
    rows: Iterable[Rollup],
    start: float,
    boundary: float,
    now: float,
) -> Snapshot:
    """A snapshot whose series hold ``rows`` and, from ``boundary`` on, ``memory``'s data.

    Query it with ``long_window(...)``: every piece is a whole stored minute or hour,
    or a minute of memory (the last one in progress). A series is taken to exist from
    ``start`` when the store holds rows of it (as it would in memory), else from when
    memory first saw it. Gauges come from ``memory`` unchanged.
    """
    pieces: dict[tuple[str, Tags], list[tuple[float, float | BucketData]]] = {}
    kinds: dict[tuple[str, Tags], MetricKind] = {}
    first: dict[tuple[str, Tags], float] = {}
    gauges: list[Series] = []
    for row in rows:
        key = (row.name, row.tags)
        pieces.setdefault(key, []).append((row.start, row.value))
        kinds.setdefault(key, row.kind)
        first[key] = start
    for series in memory.series:
        if isinstance(series, GaugeSeries):
            gauges.append(series)
            continue
        key = (series.name, series.tags)
        kinds[key] = series.kind
        pieces.setdefault(key, []).extend(minute_values(series, boundary).items())
        if key not in first:
            first[key] = max(start, min(series.window.first_seen, now))
    built = [
        series_from_pieces(name, tags, kinds[(name, tags)], found, first[(name, tags)], now)
        for (name, tags), found in pieces.items()
    ]
    return Snapshot(now, (*built, *gauges))


def long_window(now: float, start: float) -> float:
    """The window to query a stitched snapshot with, reaching ``start``.

    Longer than an hour, so it is answered from the coarsest tier, where the pieces are.
    """
    return max(now - start, MAX_WINDOW + MINUTE)


def needs_store(seconds: float, now: float, started: float) -> bool:
    """Whether a window of ``seconds`` reaches beyond what memory holds.

    That is: longer than an hour, or back before this process started recording.
    """
    return seconds > MAX_WINDOW or now - seconds < started


def stitched_snapshot(
    source: HistorySource,
    memory: Snapshot,
    start: float,
    *,
    names: Sequence[str] | None = None,
    match: Mapping[str, str] | None = None,
) -> Snapshot:
    """``memory`` stitched to the store's rows from ``start`` (a minute) to its time."""
    now = memory.taken_at
    boundary = memory_boundary(now, start)
    rows = source.read(start, now, names=names, match=match, own_since=boundary)
    return stitch(memory, rows, start, boundary, now)


def step_snapshots(
    stitched: Snapshot, start: float, end: float, step: float
) -> list[tuple[float, Snapshot]]:
    """``(step start, snapshot)`` per ``step`` seconds from ``start`` to ``end``.

    Each snapshot holds only the pieces of its step; query it with
    ``long_window(snapshot.taken_at, step start)``.
    """
    if not (step >= MINUTE and step % MINUTE == 0):
        raise ValueError(f"'step' must be a whole number of minutes (>= 60 s): {step!r}")
    gauges = [s for s in stitched.series if isinstance(s, GaugeSeries)]
    ranged = [s for s in stitched.series if not isinstance(s, GaugeSeries)]
    out: list[tuple[float, Snapshot]] = []
    lo = start
    while lo < end:
        hi = min(lo + step, end)
        built: list[Series] = []
        for series in ranged:
            view = series.window
            ring, starts = view.closed[-1], view.starts[-1]
            found = cast(
                "list[tuple[float, float | BucketData]]",
                list(ring[bisect_left(starts, lo) : bisect_left(starts, hi)]),
            )
            if found:
                seen = max(lo, min(view.first_seen, hi))
                built.append(
                    series_from_pieces(series.name, series.tags, series.kind, found, seen, hi)
                )
        out.append((lo, Snapshot(hi, (*built, *gauges))))
        lo = hi
    return out


@runtime_checkable
class HistoryStore(Exporter, HistorySource, Protocol):
    """A store that ``Metrics(history=...)`` both exports to and reads long windows from."""


def share_group_writer(store: object, directory: object) -> None:
    """Make ``store`` write under one id for the whole worker group in ``directory``.

    In a group only the leader exports, and it exports the group's data: under one id
    a new leader rewrites (replaces) the minutes its predecessor wrote instead of adding
    them again. A store without ``share_writer`` is left as it is.
    """
    share = getattr(store, "share_writer", None)
    if callable(share):
        share(f"group:{socket.gethostname()}:{Path(str(directory)).resolve()}")
