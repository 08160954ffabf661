"""Downsampling and retention of the history stores: hour rows, bounded pruning.

An hour is merged into hour rows (one per series and writer, sketches merged exactly)
once it ended ``SETTLE`` ago, when no catch-up write can touch it any more. Minute rows
go once past ``minute_retention`` *and* rolled, hour rows past ``hour_retention``; each
export deletes at most ``prune_batch`` rows of each resolution, so the work per export
stays bounded after any outage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exporters._rollups import from_db, hour_of, merge_values, to_db
from metrics_core.history import HOUR
from metrics_core.values import MetricKind

if TYPE_CHECKING:
    from exporters._sql_store import SqlHistoryStore

SETTLE = 2 * HOUR
"""An hour is downsampled once it ended this long ago: no catch-up write can touch it."""


def downsample(store: SqlHistoryStore, cur: Any, now: float) -> None:
    """Roll every settled hour with minute rows (at most ``hours_per_export``) into hour rows."""
    cur.execute("SELECT MAX(hour) FROM im_rolled_hours")
    last = cur.fetchone()[0]
    after = 0 if last is None else int(last) + int(HOUR)
    for _ in range(store.hours_per_export):  # hours with rows only: gaps cost nothing
        cur.execute(
            store._sql("SELECT MIN(bucket) FROM im_rollups WHERE resolution = 60 AND bucket >= ?"),
            (after,),
        )
        first = cur.fetchone()[0]
        if first is None:
            return
        hour = hour_of(float(first))
        if hour + HOUR + SETTLE > now:
            return
        roll_hour(store, cur, hour)
        after = int(hour + HOUR)


def roll_hour(store: SqlHistoryStore, cur: Any, hour: float) -> None:
    """Merge one hour's minute rows into one hour row per series and writer; mark it rolled."""
    cur.execute(
        store._sql(
            "SELECT r.series_id, r.writer, s.kind, r.count, r.total, r.minimum, r.maximum,"
            " r.sketch FROM im_rollups r JOIN im_series s ON s.id = r.series_id"
            " WHERE r.resolution = 60 AND r.bucket >= ? AND r.bucket < ?"
        ),
        (int(hour), int(hour + HOUR)),
    )
    grouped: dict[tuple[int, str], tuple[MetricKind, list[Any]]] = {}
    for series_id, writer, kind, *stored in cur.fetchall():
        metric_kind = MetricKind(kind)
        entry = grouped.setdefault((series_id, writer), (metric_kind, []))
        entry[1].append(from_db(metric_kind, tuple(stored)))
    values = [
        (int(HOUR), int(hour), series_id, writer, *to_db(merge_values(kind, found)))
        for (series_id, writer), (kind, found) in grouped.items()
    ]
    if values:
        store._write_rows(cur, values, " ON CONFLICT DO NOTHING")
    cur.execute(
        store._sql("INSERT INTO im_rolled_hours (hour) VALUES (?) ON CONFLICT DO NOTHING"),
        (int(hour),),
    )


def prune(store: SqlHistoryStore, cur: Any, now: float) -> None:
    """Delete rows past retention (bounded batches), then spent markers and empty series."""
    cur.execute("SELECT MAX(hour) FROM im_rolled_hours")
    last = cur.fetchone()[0]
    rolled_until = 0 if last is None else int(last) + int(HOUR)
    # Minute rows go only once their hour is downsampled.
    minute_cut = min(int(now - store.minute_retention), rolled_until)
    hour_cut = int(now - store.hour_retention)
    deleted = 0
    for where, cut in (
        ("resolution = 60 AND bucket < ?", minute_cut),
        ("resolution = 3600 AND bucket < ?", hour_cut),
    ):
        cur.execute(store._sql(store._limit_delete(where)), (cut, store.prune_batch))
        deleted += max(cur.rowcount, 0)
    if deleted:  # series left without rows go too (the table stays bounded)
        cur.execute(
            store._sql(
                "DELETE FROM im_series WHERE id IN (SELECT s.id FROM im_series s WHERE NOT"
                " EXISTS (SELECT 1 FROM im_rollups r WHERE r.series_id = s.id) LIMIT ?)"
            ),
            (store.prune_batch,),
        )
        if cur.rowcount:
            store._series.clear()
    # A marker goes once its hour row and all its minute rows are gone.
    cur.execute(
        store._sql(
            "DELETE FROM im_rolled_hours WHERE hour < ? AND hour + 3600 <= COALESCE("
            "(SELECT MIN(bucket) FROM im_rollups WHERE resolution = 60), ?)"
        ),
        (hour_cut, hour_cut),
    )
