"""``inference-metrics report --db ... --since 24h``: a per-version table from a history store.

It reads the store only (this process recorded nothing): every version's
``VersionMetrics`` over the ``--since`` before ``--until`` (default: now), with
p50/p95/p99 from the merged stored sketches, exact counts and error rates.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from exporters import PostgresStore, SQLiteStore
from exporters.console import NO_VERSIONS, Column, format_table
from integrations._history_payloads import duration_seconds
from integrations._terminal import COLUMNS, render_totals
from metrics_core import EventBus, ManualClock, Metrics
from metrics_core.history import HistoryStore

REPORT_COLUMNS: tuple[Column, ...] = (
    *COLUMNS[:2],
    ("REQUESTS", lambda m: f"{m.request_count:,}", False),
    *(column for column in COLUMNS[2:] if column[0] not in ("IN-FLIGHT", "F1")),
    ("COST $", lambda m: f"{m.cost_usd:,.4f}", False),
)
"""The demo's table less what a store does not keep (gauges), plus requests and cost."""


def open_store(db: str) -> HistoryStore:
    """A ``PostgresStore`` for a ``postgresql://``/``postgres://`` URL, else a ``SQLiteStore``."""
    if db.startswith(("postgresql://", "postgres://")):
        return PostgresStore(db)
    return SQLiteStore(db)


def run_report(
    db: str, since: str, until: float | None = None, stream: TextIO | None = None
) -> int:
    """Print the table of every version in ``db`` over ``since`` (``24h``, ``7d``, ...).

    Returns 0, or 2 (with a message on stderr) when ``since`` is not a duration or the
    store cannot be read.
    """
    out = sys.stdout if stream is None else stream
    try:
        seconds = duration_seconds(since, "since")
    except ValueError as error:
        print(f"inference-metrics report: {error}", file=sys.stderr)
        return 2
    end = time.time() if until is None else until
    is_url = db.startswith(("postgresql://", "postgres://"))
    if not is_url and not Path(db).is_file():  # never create an empty database to report on
        print(f"inference-metrics report: no such database file: {db}", file=sys.stderr)
        return 2
    store = open_store(db)
    # A registry that has recorded nothing, at the report's end: the store answers all.
    metrics = Metrics(bus=EventBus(), clock=ManualClock(end), history=store)
    try:
        rows = list(metrics.get_all_metrics(window=seconds).values())
    except Exception as error:  # a missing file, a refused connection, a newer schema
        print(f"inference-metrics report: cannot read {db}: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"{len(rows)} versions over the {since} before {time.ctime(end)} ({db}):", file=out)
    print("\n".join(format_table(rows, REPORT_COLUMNS) if rows else [NO_VERSIONS]), file=out)
    print(render_totals(rows, seconds), file=out, flush=True)
    return 0
