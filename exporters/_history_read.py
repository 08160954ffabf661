"""Reading a history store back: rolled hours as hour rows, minute rows at the edges.

Whole hours that were downsampled are read from their hour rows, the rest of the range
from minute rows; this store's own writer's rows from ``own_since`` on are left out
(memory answers for them). A sketch that does not decode is skipped and logged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from exporters._rollups import decode_tags, from_db
from metrics_core.history import HOUR, Rollup
from metrics_core.logs import get_logger
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

if TYPE_CHECKING:
    from exporters._sql_store import SqlHistoryStore

_log = get_logger("exporters.history")

MAX_IDS_IN_SQL = 500
"""Up to this many series, a read names their ids in SQL; beyond, it filters in Python."""


def read_rows(
    store: SqlHistoryStore,
    cur: Any,
    start: float,
    end: float,
    *,
    names: Sequence[str] | None = None,
    match: Mapping[str, str] | None = None,
    own_since: float | None = None,
) -> list[Rollup]:
    """Rows of buckets starting in ``[start, end)`` (see ``HistorySource.read``)."""
    meta = series_meta(store, cur, names, match)
    if not meta:
        return []
    cur.execute(
        store._sql("SELECT hour FROM im_rolled_hours WHERE hour >= ? AND hour < ?"),
        (int(start), int(end - HOUR) + 1),
    )
    hours = sorted(float(h) for (h,) in cur.fetchall())
    ids = sorted(meta)
    in_ids = (
        f" AND series_id IN ({','.join(str(i) for i in ids)})" if len(ids) <= MAX_IDS_IN_SQL else ""
    )
    found: list[tuple[Any, ...]] = []
    if hours:
        cur.execute(
            store._sql(
                "SELECT series_id, bucket, writer, count, total, minimum, maximum,"
                " sketch FROM im_rollups WHERE resolution = 3600 AND bucket >= ?"
                " AND bucket <= ?" + in_ids
            ),
            (int(hours[0]), int(hours[-1])),
        )
        rolled = set(hours)
        found.extend(row for row in cur.fetchall() if float(row[1]) in rolled)
    for lo, hi in uncovered(start, end, hours):
        cur.execute(
            store._sql(
                "SELECT series_id, bucket, writer, count, total, minimum, maximum,"
                " sketch FROM im_rollups WHERE resolution = 60 AND bucket >= ?"
                " AND bucket < ?" + in_ids
            ),
            (int(lo), int(-(-hi // 1))),
        )
        found.extend(cur.fetchall())
    out: list[Rollup] = []
    for series_id, bucket, writer, *stored in found:
        info = meta.get(series_id)
        if info is None or (
            own_since is not None and writer == store._writer and bucket >= own_since
        ):
            continue
        name, tags, kind = info
        try:
            value = from_db(kind, tuple(stored))
        except ValueError as error:  # CodecError: skip the row, keep the rest
            _log.warning("history_row_unreadable", series=name, bucket=bucket, error=str(error))
            continue
        out.append(Rollup(name, tags, kind, float(bucket), value))
    return out


def series_meta(
    store: SqlHistoryStore, cur: Any, names: Sequence[str] | None, match: Mapping[str, str] | None
) -> dict[int, tuple[str, Tags, MetricKind]]:
    query = "SELECT id, name, tags, kind FROM im_series"
    params: list[str] = []
    if match and "model_name" in match and "version" in match:
        query += " WHERE model_name = ? AND version = ?"
        params = [match["model_name"], match["version"]]
    elif match and "model_name" in match:
        query += " WHERE model_name = ?"
        params = [match["model_name"]]
    cur.execute(store._sql(query), params)
    wanted = None if names is None else set(names)
    out: dict[int, tuple[str, Tags, MetricKind]] = {}
    for series_id, name, tags_text, kind in cur.fetchall():
        if wanted is not None and name not in wanted:
            continue
        tags = decode_tags(tags_text)
        if match and not tags.includes(match):
            continue
        out[int(series_id)] = (name, tags, MetricKind(kind))
    return out


def uncovered(start: float, end: float, hours: list[float]) -> list[tuple[float, float]]:
    """``[start, end)`` less the rolled ``hours`` (each ``[h, h + 1 h)``), as intervals."""
    out: list[tuple[float, float]] = []
    lo = start
    for hour in hours:
        if hour > lo:
            out.append((lo, hour))
        lo = max(lo, hour + HOUR)
    if lo < end:
        out.append((lo, end))
    return out
