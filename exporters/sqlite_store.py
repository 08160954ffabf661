"""``SQLiteStore``: the embedded history store, one SQLite file (standard library only).

WAL mode lets readers go on while one process writes; writes take SQLite's write
lock at ``BEGIN IMMEDIATE`` and wait for it at most ``timeout`` seconds (then the
export fails, is counted, and the next export catches up). Several processes may
write one file: each writes under its own ``writer`` id, so nothing is counted twice.
A process killed mid-write leaves the last committed transaction (SQLite's journal).
"""

from __future__ import annotations

import os
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from exporters._sql_store import SqlHistoryStore
from metrics_core._validation import check_seconds


class SQLiteStore(SqlHistoryStore):
    """History of 1-minute rollups (and 1-hour ones once downsampled) in a SQLite file.

    >>> from metrics_core import Metrics
    >>> metrics = Metrics(history=SQLiteStore(":memory:"))  # doctest: +SKIP

    :param path: the database file (created with its directory's permissions).
    :param writer: this process's id in the rows (default: host, pid and a random part).
    :param minute_retention: how long 1-minute rows are kept (default 7 days).
    :param hour_retention: how long 1-hour rows are kept (default 90 days).
    :param timeout: seconds to wait for another process's write lock.
    :param prune_batch: the most rows of each resolution deleted per export.
    :param hours_per_export: the most hours downsampled per export.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        writer: str | None = None,
        minute_retention: timedelta | float = timedelta(days=7),
        hour_retention: timedelta | float = timedelta(days=90),
        timeout: float = 5.0,
        prune_batch: int = 10_000,
        hours_per_export: int = 24,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ValueError(f"'path' must be a file path: {path!r}")
        timeout = check_seconds(timeout, "timeout")
        super().__init__(
            writer=writer,
            minute_retention=minute_retention,
            hour_retention=hour_retention,
            prune_batch=prune_batch,
            hours_per_export=hours_per_export,
        )
        self.path = str(path) if str(path) == ":memory:" else str(Path(path))
        self.timeout = float(timeout)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, writer={self.writer!r})"

    def _connect(self) -> Any:
        conn = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        return _Autocommit(conn)

    def _begin(self, cur: Any) -> None:
        cur.execute("BEGIN IMMEDIATE")

    def _limit_delete(self, table_filter: str) -> str:
        return (
            "DELETE FROM im_rollups WHERE rowid IN"
            f" (SELECT rowid FROM im_rollups WHERE {table_filter} LIMIT ?)"
        )


class _Autocommit:
    """An autocommit connection whose ``commit``/``rollback`` end ``BEGIN IMMEDIATE``.

    sqlite3's own would be no-ops outside the transactions it opens itself.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def cursor(self) -> sqlite3.Cursor:
        return self._conn.cursor()

    def commit(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()
