"""What the SQLite and PostgreSQL history stores share: writing, downsampling, pruning, reading.

A store is an exporter (``export(snapshot)``) and a ``HistorySource`` (``read``). All its
times come from the snapshots it is given (the registry's clock), never the wall clock,
so tests drive it with a ``ManualClock``. Each export, in one transaction: the minutes
completed since the last successful write (all that memory holds after a failure, so a
database that was down catches up); hours that can no longer change rolled into
3600 s rows (a bounded number per export); rows past retention deleted in bounded
batches. Rows are keyed by writer, so a retried minute replaces its row, never adds to it.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import timedelta
from typing import Any

import structlog

from exporters._history_schema import META_TABLE, MIGRATIONS, pending_migrations
from exporters._rollups import (
    completed_minutes,
    decode_tags,
    encode_tags,
    from_db,
    hour_of,
    merge_values,
    to_db,
)
from metrics_core.history import HOUR, MINUTE, Rollup
from metrics_core.snapshot import Snapshot
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

_log = structlog.get_logger("exporters.history")

_INSERT = (
    "INSERT INTO im_rollups (resolution, bucket, series_id, writer, count, total, minimum,"
    " maximum, sketch)"
)
_REPLACE = (
    " ON CONFLICT (resolution, bucket, series_id, writer) DO UPDATE SET count = excluded.count,"
    " total = excluded.total, minimum = excluded.minimum, maximum = excluded.maximum,"
    " sketch = excluded.sketch"
)

SETTLE = 2 * HOUR
"""An hour is downsampled once it ended this long ago: no catch-up write can touch it."""

MAX_SERIES_CACHE = 100_000
"""Series ids kept in memory; the cache is emptied (and refilled from the table) past it."""


def _seconds(value: timedelta | float, field: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"{field!r} must be a positive duration: {value!r}")
    return float(seconds)


def default_writer() -> str:
    """``host:pid:random``: unique to this process, so concurrent writers never collide."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class SqlHistoryStore:
    """Base of ``SQLiteStore`` and ``PostgresStore``; subclasses open connections."""

    placeholder = "?"
    id_type = "INTEGER PRIMARY KEY"
    blob_type = "BLOB"
    float_type = "REAL"

    def __init__(
        self,
        *,
        writer: str | None,
        minute_retention: timedelta | float,
        hour_retention: timedelta | float,
        prune_batch: int,
        hours_per_export: int,
    ) -> None:
        if writer is not None and (not isinstance(writer, str) or not writer):
            raise ValueError(f"'writer' must be a non-empty string: {writer!r}")
        self._writer = writer or default_writer()
        self.minute_retention = _seconds(minute_retention, "minute_retention")
        self.hour_retention = _seconds(hour_retention, "hour_retention")
        if self.hour_retention < self.minute_retention:
            raise ValueError(f"'hour_retention' must be >= 'minute_retention': {hour_retention!r}")
        for field, value in (("prune_batch", prune_batch), ("hours_per_export", hours_per_export)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field!r} must be an int >= 1: {value!r}")
        self.prune_batch = prune_batch
        self.hours_per_export = hours_per_export
        self._lock = threading.RLock()
        self._conn: Any = None
        self._series: dict[tuple[str, str], int] = {}
        self._written_until: float | None = None
        self._last_snapshot: Snapshot | None = None

    @property
    def writer(self) -> str:
        """The id this store's rows are written under (one per process by default)."""
        return self._writer

    # -- subclass hooks -------------------------------------------------------------------

    def _connect(self) -> Any:
        raise NotImplementedError

    def _begin(self, cur: Any) -> None:
        """Start a write transaction (SQLite takes its write lock here)."""

    def _lock_schema(self, cur: Any) -> None:
        """Serialize schema migrations across processes (PostgreSQL: an advisory lock)."""

    def _limit_delete(self, table_filter: str) -> str:
        raise NotImplementedError

    def _write_rows(self, cur: Any, values: list[tuple[Any, ...]], on_conflict: str) -> None:
        """Insert rollup rows (all columns, in table order) with ``on_conflict``."""
        cur.executemany(
            self._sql(_INSERT + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)" + on_conflict), values
        )

    # -- plumbing -------------------------------------------------------------------------

    def _sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._lock:
            if self._conn is None:
                conn = self._connect()
                self._conn = conn
                try:
                    self._migrate(conn)
                except BaseException:
                    self._discard()
                    raise
            conn = self._conn
            cur = conn.cursor()
            try:
                self._begin(cur)
                yield cur
                conn.commit()
            except BaseException:
                self._series.clear()  # ids inserted by the rolled-back transaction are gone
                try:
                    conn.rollback()
                except Exception:
                    self._discard()  # a broken connection: reconnect next time
                raise
            finally:
                try:
                    cur.close()
                except Exception:
                    self._discard()

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        self._series.clear()
        if conn is not None:
            with suppress(Exception):
                conn.close()

    def _migrate(self, conn: Any) -> None:
        cur = conn.cursor()
        try:
            self._begin(cur)
            self._lock_schema(cur)
            cur.execute(META_TABLE)
            cur.execute(self._sql("SELECT value FROM im_history_meta WHERE key = ?"), ("schema",))
            found = cur.fetchone()
            stored = int(found[0]) if found else 0
            for version in pending_migrations(stored):
                for statement in MIGRATIONS[version]:
                    cur.execute(
                        statement.format(
                            id=self.id_type, blob=self.blob_type, float=self.float_type
                        )
                    )
                cur.execute(self._sql("DELETE FROM im_history_meta WHERE key = ?"), ("schema",))
                cur.execute(
                    self._sql("INSERT INTO im_history_meta (key, value) VALUES (?, ?)"),
                    ("schema", str(version)),
                )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            cur.close()

    def schema_version(self) -> int:
        """The schema version of the database (migrating it first if needed)."""
        with self._transaction() as cur:
            cur.execute(self._sql("SELECT value FROM im_history_meta WHERE key = ?"), ("schema",))
            return int(cur.fetchone()[0])

    def _series_id(self, cur: Any, rollup: Rollup) -> int:
        tags = encode_tags(rollup.tags)
        key = (rollup.name, tags)
        found = self._series.get(key)
        if found is not None:
            return found
        if len(self._series) >= MAX_SERIES_CACHE:
            self._series.clear()
        cur.execute(
            self._sql(
                "INSERT INTO im_series (name, tags, kind, model_name, version)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name, tags) DO NOTHING"
            ),
            (
                rollup.name,
                tags,
                rollup.kind.value,
                rollup.tags.get("model_name"),
                rollup.tags.get("version"),
            ),
        )
        cur.execute(self._sql("SELECT id FROM im_series WHERE name = ? AND tags = ?"), key)
        series_id = int(cur.fetchone()[0])
        self._series[key] = series_id
        return series_id

    # -- the exporter ---------------------------------------------------------------------

    def export(self, snapshot: Snapshot) -> None:
        """Write the minutes completed since the last write, downsample, prune."""
        with self._lock:
            self._last_snapshot = snapshot
            rows, until = completed_minutes(snapshot, self._written_until)
            now = snapshot.taken_at
            with self._transaction() as cur:
                self._insert(cur, rows, MINUTE)
                self._downsample(cur, now)
                self._prune(cur, now)
            self._written_until = until

    def _insert(self, cur: Any, rows: Sequence[Rollup], resolution: float) -> None:
        if not rows:
            return
        values = [
            (
                int(resolution),
                int(row.start),
                self._series_id(cur, row),
                self._writer,
                *to_db(row.value),
            )
            for row in rows
        ]
        # A later snapshot of one writer's minute holds all of an earlier one (a retry, or
        # the whole minute after the part written at a close): the newer row replaces it.
        self._write_rows(cur, values, _REPLACE)

    def _downsample(self, cur: Any, now: float) -> None:
        cur.execute("SELECT MAX(hour) FROM im_rolled_hours")
        last = cur.fetchone()[0]
        after = 0 if last is None else int(last) + int(HOUR)
        for _ in range(self.hours_per_export):  # hours with rows only: gaps cost nothing
            cur.execute(
                self._sql(
                    "SELECT MIN(bucket) FROM im_rollups WHERE resolution = 60 AND bucket >= ?"
                ),
                (after,),
            )
            first = cur.fetchone()[0]
            if first is None:
                return
            hour = hour_of(float(first))
            if hour + HOUR + SETTLE > now:
                return
            self._roll_hour(cur, hour)
            after = int(hour + HOUR)

    def _roll_hour(self, cur: Any, hour: float) -> None:
        cur.execute(
            self._sql(
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
            self._write_rows(cur, values, " ON CONFLICT DO NOTHING")
        cur.execute(
            self._sql("INSERT INTO im_rolled_hours (hour) VALUES (?) ON CONFLICT DO NOTHING"),
            (int(hour),),
        )

    def _prune(self, cur: Any, now: float) -> None:
        cur.execute("SELECT MAX(hour) FROM im_rolled_hours")
        last = cur.fetchone()[0]
        rolled_until = 0 if last is None else int(last) + int(HOUR)
        # Minute rows go only once their hour is downsampled.
        minute_cut = min(int(now - self.minute_retention), rolled_until)
        hour_cut = int(now - self.hour_retention)
        deleted = 0
        for where, cut in (
            ("resolution = 60 AND bucket < ?", minute_cut),
            ("resolution = 3600 AND bucket < ?", hour_cut),
        ):
            cur.execute(self._sql(self._limit_delete(where)), (cut, self.prune_batch))
            deleted += max(cur.rowcount, 0)
        if deleted:  # series left without rows go too (the table stays bounded)
            cur.execute(
                self._sql(
                    "DELETE FROM im_series WHERE id IN (SELECT s.id FROM im_series s WHERE NOT"
                    " EXISTS (SELECT 1 FROM im_rollups r WHERE r.series_id = s.id) LIMIT ?)"
                ),
                (self.prune_batch,),
            )
            if cur.rowcount:
                self._series.clear()
        # A marker goes once its hour row and all its minute rows are gone.
        cur.execute(
            self._sql(
                "DELETE FROM im_rolled_hours WHERE hour < ? AND hour + 3600 <= COALESCE("
                "(SELECT MIN(bucket) FROM im_rollups WHERE resolution = 60), ?)"
            ),
            (hour_cut, hour_cut),
        )

    def close(self) -> None:
        """Write the minute in progress of the last export (the process is ending), close.

        A later export or read opens a new connection.
        """
        with self._lock:
            last, self._last_snapshot = self._last_snapshot, None
            try:
                if last is not None:
                    rows, _ = completed_minutes(last, self._written_until, final=True)
                    with self._transaction() as cur:
                        self._insert(cur, rows, MINUTE)
            finally:
                self._discard()

    # -- reading --------------------------------------------------------------------------

    def read(
        self,
        start: float,
        end: float,
        *,
        names: Sequence[str] | None = None,
        match: Mapping[str, str] | None = None,
        own_since: float | None = None,
    ) -> list[Rollup]:
        """Rows of buckets starting in ``[start, end)`` (see ``HistorySource.read``)."""
        with self._transaction() as cur:
            meta = self._series_meta(cur, names, match)
            if not meta:
                return []
            cur.execute(
                self._sql("SELECT hour FROM im_rolled_hours WHERE hour >= ? AND hour < ?"),
                (int(start), int(end - HOUR) + 1),
            )
            hours = sorted(float(h) for (h,) in cur.fetchall())
            ids = sorted(meta)
            in_ids = (
                f" AND series_id IN ({','.join(str(i) for i in ids)})" if len(ids) <= 500 else ""
            )
            found: list[tuple[Any, ...]] = []
            if hours:
                cur.execute(
                    self._sql(
                        "SELECT series_id, bucket, writer, count, total, minimum, maximum,"
                        " sketch FROM im_rollups WHERE resolution = 3600 AND bucket >= ?"
                        " AND bucket <= ?" + in_ids
                    ),
                    (int(hours[0]), int(hours[-1])),
                )
                rolled = set(hours)
                found.extend(row for row in cur.fetchall() if float(row[1]) in rolled)
            for lo, hi in _uncovered(start, end, hours):
                cur.execute(
                    self._sql(
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
                own_since is not None and writer == self._writer and bucket >= own_since
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

    def _series_meta(
        self, cur: Any, names: Sequence[str] | None, match: Mapping[str, str] | None
    ) -> dict[int, tuple[str, Tags, MetricKind]]:
        query = "SELECT id, name, tags, kind FROM im_series"
        params: list[str] = []
        if match and "model_name" in match and "version" in match:
            query += " WHERE model_name = ? AND version = ?"
            params = [match["model_name"], match["version"]]
        elif match and "model_name" in match:
            query += " WHERE model_name = ?"
            params = [match["model_name"]]
        cur.execute(self._sql(query), params)
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


def _uncovered(start: float, end: float, hours: list[float]) -> list[tuple[float, float]]:
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
