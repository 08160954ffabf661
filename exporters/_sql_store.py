"""What the SQLite and PostgreSQL history stores share: connections, schema, writing.

A store is an exporter (``export(snapshot)``) and a ``HistorySource`` (``read``). All its
times come from the snapshots it is given (the registry's clock), never the wall clock,
so tests drive it with a ``ManualClock``. Each export, in one transaction: the minutes
completed since the last successful write (all that memory holds after a failure, so a
database that was down catches up); hours that can no longer change rolled into
3600 s rows (a bounded number per export); rows past retention deleted in bounded
batches (``exporters._retention``). Reads are ``exporters._history_read``. Rows are keyed
by writer, so a retried minute replaces its row, never adds to it.
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

from exporters._history_read import read_rows
from exporters._history_schema import META_TABLE, MIGRATIONS, pending_migrations
from exporters._retention import downsample, prune
from exporters._rollups import (
    completed_minutes,
    encode_tags,
    to_db,
)
from metrics_core.history import MINUTE, Rollup
from metrics_core.snapshot import Snapshot

_INSERT = (
    "INSERT INTO im_rollups (resolution, bucket, series_id, writer, count, total, minimum,"
    " maximum, sketch)"
)
_REPLACE = (
    " ON CONFLICT (resolution, bucket, series_id, writer) DO UPDATE SET count = excluded.count,"
    " total = excluded.total, minimum = excluded.minimum, maximum = excluded.maximum,"
    " sketch = excluded.sketch"
)

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

    def share_writer(self, writer: str) -> None:
        """Write under ``writer`` from now on: the id a worker group's members share."""
        if not isinstance(writer, str) or not writer:
            raise ValueError(f"'writer' must be a non-empty string: {writer!r}")
        with self._lock:
            self._writer = writer

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
                downsample(self, cur, now)
                prune(self, cur, now)
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
            return read_rows(self, cur, start, end, names=names, match=match, own_since=own_since)
