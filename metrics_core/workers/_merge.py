"""Merging the snapshots of a worker group's members into one ``Snapshot``.

Slots start at whole wall-clock seconds in every process, so the same window of
two workers is made of slots with the same starts. A merged series answers a
window with the parts of every member's window, merged by the query as usual:
exact counts, and quantiles from the merged sketches, the same as one process that
saw every value (``GroupWindowView``, lazy: only the windows asked for are merged).

Gauges follow a rule per metric (``GAUGE_MODES``): ``sum`` adds the live workers'
values (per-process quantities: in-flight requests, connections, process memory),
``last`` keeps the most recently set value (host-wide readings: CPU, GPU, drift,
scores). Finished workers' gauges drop out; their counters and distributions stay.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar

import attrs

from metrics_core import names
from metrics_core.sketch import merge_all
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries, Series
from metrics_core.values import MetricKind
from metrics_core.windows import MAX_WINDOW, TIERS, WindowView

__all__ = ["GAUGE_MODES", "GaugeMode", "GroupWindowView", "materialize", "merge_series"]

GaugeMode = Literal["sum", "last", "max", "min"]
"""How the live workers' values of one gauge combine."""

GAUGE_MODES: Mapping[str, GaugeMode] = {
    names.IN_FLIGHT: "sum",
    names.ACTIVE_CONNECTIONS: "sum",
    names.HTTP_SERVER_ACTIVE_REQUESTS: "sum",
    names.MEMORY_USAGE: "sum",
    names.PROCESS_RSS: "sum",
    names.PROCESS_CPU: "sum",
    names.PROCESS_OPEN_FDS: "sum",
    names.PROCESS_THREADS: "sum",
    names.GPU_PROCESS_MEMORY: "sum",
    names.SHEDDING_LEVEL: "max",
    names.RECORDING_ENABLED: "min",
}
"""Gauges combined otherwise than ``last`` over live workers: per-process quantities summed,
the load-shedding level the highest, recording on (1) only if on in every worker."""

T = TypeVar("T")
Key = tuple[MetricKind, str, Any]


@attrs.frozen(slots=True)
class GroupWindowView(WindowView[T]):
    """The windows of several members' views of one series, answered together.

    ``parts`` returns every member's parts of the window (merged by the caller, as
    for one process); the effective start is the earliest of the members'. The
    inherited fields are those of the first member.
    """

    views: tuple[WindowView[T], ...] = ()

    def parts(self, window: float, now: float) -> tuple[list[T], float]:
        """The slot values of every member inside ``window`` seconds before ``now``."""
        out: list[T] = []
        effective = math.inf
        for view in self.views:
            parts, start = view.parts(window, now)
            out.extend(parts)
            effective = min(effective, start)
        return out, effective


def group_view(views: Sequence[WindowView[T]]) -> WindowView[T]:
    """One view answering for all ``views`` (the view itself when there is one)."""
    flat: list[WindowView[T]] = []
    for view in views:
        flat.extend(view.views if isinstance(view, GroupWindowView) else (view,))
    if len(flat) == 1:
        return flat[0]
    first = flat[0]
    fields = {f.name: getattr(first, f.name) for f in attrs.fields(WindowView)}
    fields["first_seen"] = min(view.first_seen for view in flat)
    return GroupWindowView(**fields, views=tuple(flat))


def merge_series(
    members: Iterable[Sequence[Series]], modes: Mapping[str, GaugeMode] = GAUGE_MODES
) -> list[Series]:
    """The series of all ``members`` (each one worker's, or the retired state), merged.

    Pass only live members' gauges. Distributions of one name and tags with other
    bucket bounds than the first seen are left out (a configuration change).
    """
    by_key: dict[Key, list[Series]] = {}
    for member in members:
        for series in member:
            by_key.setdefault((series.kind, series.name, series.tags), []).append(series)
    out: list[Series] = []
    for group in by_key.values():
        first = group[0]
        if len(group) == 1:
            out.append(first)
        elif isinstance(first, CounterSeries):
            out.append(_merge_counters(group))
        elif isinstance(first, GaugeSeries):
            out.append(_merge_gauges(group, modes.get(first.name, "last")))
        else:
            out.append(_merge_distributions(group))
    return out


def _merge_counters(group: list[Any]) -> CounterSeries:
    first: CounterSeries = group[0]
    return CounterSeries(
        first.name,
        first.tags,
        math.fsum(s.total for s in group),
        max(s.updated_at for s in group),
        group_view([s.window for s in group]),
    )


def _merge_gauges(group: list[Any], mode: GaugeMode) -> GaugeSeries:
    latest: GaugeSeries = max(group, key=lambda s: s.updated_at)
    values = [s.value for s in group]
    value = _GAUGE_COMBINE[mode](values) if mode != "last" else latest.value
    return GaugeSeries(latest.name, latest.tags, value, latest.updated_at)


_GAUGE_COMBINE: dict[str, Callable[[list[float]], float]] = {
    "sum": math.fsum,
    "max": max,
    "min": min,
}


def _merge_distributions(group: list[Any]) -> DistributionSeries:
    first: DistributionSeries = group[0]
    same = [s for s in group if s.bucket_bounds == first.bucket_bounds]
    counts = [sum(column) for column in zip(*(s.bucket_counts for s in same), strict=True)]
    return DistributionSeries(
        first.kind,
        first.name,
        first.tags,
        tuple(part for s in same for part in s.all_time_parts),
        first.bucket_bounds,
        tuple(counts),
        max(s.updated_at for s in same),
        group_view([s.window for s in same]),
    )


# -- materializing: the retired state is stored, not just read ------------------------------


def materialize(series: Series, now: float) -> Series:
    """``series`` with a plain view merged slot by slot, without slots older than an hour.

    Used to fold finished workers into the retired state, which is written to a file.
    """
    if isinstance(series, CounterSeries):
        view = _flatten(series.window, math.fsum, now)
        return attrs.evolve(series, window=view)
    if isinstance(series, DistributionSeries):
        return attrs.evolve(
            series,
            all_time_parts=(merge_all(series.all_time_parts),),
            window=_flatten(series.window, merge_all, now),
        )
    return series


def _flatten(view: WindowView[T], merge: Callable[[Iterable[T]], T], now: float) -> WindowView[T]:
    views = view.views if isinstance(view, GroupWindowView) else (view,)
    horizon = now - MAX_WINDOW - TIERS[-1][0]
    closed: list[tuple[tuple[float, T], ...]] = []
    for tier, (width, kept) in enumerate(TIERS):
        pieces: dict[float, list[T]] = {}
        for member in views:
            for start, value in _tier_pieces(member, tier, width):
                if start >= horizon:
                    pieces.setdefault(start, []).append(value)
        ring = sorted((start, merge(values)) for start, values in pieces.items())
        closed.append(tuple(ring[-(kept + 1) :]))
    starts = tuple(tuple(start for start, _ in ring) for ring in closed)
    pending = tuple(None for _ in view.pending)
    first_seen = min(member.first_seen for member in views)
    return WindowView(tuple(closed), starts, pending, None, first_seen)


def _tier_pieces(view: WindowView[T], tier: int, width: int) -> list[tuple[float, T]]:
    """What a query of ``tier`` reads of ``view``: its closed ring, pending blocks, open slot."""
    pieces = list(view.closed[tier])
    for pending in view.pending[:tier]:
        if pending is not None:
            block = pending[0] - pending[0] % width
            pieces.extend((block, value) for value in pending[1])
    if view.current is not None:
        pieces.append((view.current[0] - view.current[0] % width, view.current[1]))
    return pieces
