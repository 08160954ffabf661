"""The group's push exports: run by the leader only, continued exactly by the next leader.

One member holds the leader lock and pushes the group's snapshot. After each push it
keeps the totals it sent in ``exported.state``; a member that becomes leader first
*primes* its delta exporters (those with a ``prime(snapshot)`` method: StatsD,
DogStatsD) with them, so the increments the previous leader sent are not sent again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from metrics_core.exporting import ExportFanout, ExportOutcome
from metrics_core.logs import get_logger
from metrics_core.sketch import merge_all
from metrics_core.snapshot import CounterSeries, DistributionSeries, Series, Snapshot
from metrics_core.windows import TIERS, WindowView
from metrics_core.workers import _files
from metrics_core.workers._process import start_time
from metrics_core.workers._state_file import SketchCache, StateHeader, encode_state

__all__ = ["EXPORTED_FILE", "export_as_leader", "load_exported", "save_exported"]

EXPORTED_FILE = _files.EXPORTED_FILE
"""The totals the group's leader last pushed."""

_log = get_logger("metrics_core.workers")
_EMPTY: WindowView[object] = WindowView(
    tuple(() for _ in TIERS), tuple(() for _ in TIERS), tuple(None for _ in TIERS[1:]), None, 0.0
)


def _totals(series: Iterable[Series]) -> list[Series]:
    """``series`` without their slots: what a delta exporter compares with."""
    out: list[Series] = []
    for s in series:
        if isinstance(s, CounterSeries):
            out.append(CounterSeries(s.name, s.tags, s.total, s.updated_at, _EMPTY))  # type: ignore[arg-type]
        elif isinstance(s, DistributionSeries):
            out.append(
                DistributionSeries(
                    s.kind, s.name, s.tags, (merge_all(s.all_time_parts),), s.bucket_bounds,
                    s.bucket_counts, s.updated_at, _EMPTY,  # type: ignore[arg-type]
                )
            )  # fmt: skip
        else:
            out.append(s)
    return out


def save_exported(directory: os.PathLike[str] | str, group_id: bytes, snapshot: Snapshot) -> None:
    """Keep the totals of ``snapshot``, just pushed, for the next leader."""
    pid = os.getpid()
    header = StateHeader(0, group_id, pid, start_time(pid), 0, 0, snapshot.taken_at, 0)
    data = encode_state(header, _totals(snapshot.series), SketchCache())
    _files.write_atomic(Path(directory), EXPORTED_FILE, data, f"{pid}-{start_time(pid)}-leader")


def load_exported(directory: os.PathLike[str] | str, group_id: bytes) -> Snapshot | None:
    """The totals the previous leader of ``group_id`` pushed last, if any."""
    state = _files.StateReader().read(Path(directory) / EXPORTED_FILE)
    if state is None or state.header.group_id != group_id:
        return None
    return Snapshot(state.header.written_at, state.series)


def export_as_leader(
    fanout: ExportFanout,
    snapshot: Snapshot,
    deadline: float | None,
    directory: os.PathLike[str] | str,
    group_id: bytes,
    handover: bool,
) -> list[ExportOutcome]:
    """Push ``snapshot``; on a ``handover`` first prime the delta exporters; then keep it."""
    if not fanout.names():
        return []
    if handover:
        previous = load_exported(directory, group_id)
        if previous is not None:
            fanout.prime(previous)
    outcomes = fanout.export(snapshot, deadline)
    try:
        save_exported(directory, group_id, snapshot)
    except OSError:
        _log.exception("worker_group_save_exported_failed", directory=str(directory))
    return outcomes
