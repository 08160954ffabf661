"""History store benchmark: rows written per second and 7-day p99 queries.

``python benchmarks/history.py`` runs the full sizes (100 versions, 7 days) on a SQLite
file in a temp dir; ``--quick`` 10 versions and 1 day; ``--postgres DSN`` runs the same
on an (empty) PostgreSQL database as well. Measured in one run:

1. **export**: ``Metrics.export()`` writing one hour of completed minutes (one request
   per version and second recorded through ``InferenceCollector``), rows per second;
2. **bulk fill**: the 7 days of minute rows (a request counter and a latency sketch per
   version and minute) inserted through the store's own insert, rows per second, then
   downsampled into hour rows (the exports that do it, timed); the stores get a 600 s
   timeout here, as one day of rows is one statement;
3. **query**: a fresh process's ``get_metrics(window=7d)`` for one version and
   ``get_all_metrics(window=7d)`` for all, from the store alone (hour rows for the whole
   hours, minute rows at the edges); each p99 is checked against the exact merge of
   every sketch written for it.

Times are medians of 5 runs after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors import InferenceCollector
from exporters import PostgresStore, SQLiteStore
from exporters._sql_store import SqlHistoryStore
from metrics_core import EventBus, ManualClock, Metrics, names
from metrics_core.history import Rollup
from metrics_core.sketch import BucketData, merge_all
from metrics_core.snapshot import Snapshot
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

START = 1_699_920_000.0  # a whole day
MINUTE = 60.0
POOL = [BucketData.of([5.0 + k, 12.5 + 3 * k, 40.0 + 7 * k]) for k in range(50)]


def _median_seconds(call: Callable[[], object], runs: int = 5) -> float:
    call()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def bench_export(store: SqlHistoryStore, versions: int) -> tuple[int, float]:
    """Rows and seconds of one export writing an hour of completed minutes."""
    clock = ManualClock(START - 3600.0)
    metrics = Metrics(bus=EventBus(), clock=clock, history=store, export_timeout=600.0)
    metrics.collect(InferenceCollector())
    for second in range(3600):
        clock.set(START - 3600.0 + second)
        for v in range(versions):
            metrics.record_inference("bench", f"w{v}", 10.0 + second % 97, success=True)
    clock.set(START + 1.0)
    began = time.perf_counter()
    outcome = metrics.export()[0]
    seconds = time.perf_counter() - began
    assert outcome.status == "ok", outcome
    return 60 * versions * 2, seconds


def fill(store: SqlHistoryStore, versions: int, days: int) -> tuple[int, float, float]:
    """Insert ``days`` of minute rows; rows, insert seconds, downsampling seconds."""
    rows = 0
    began = time.perf_counter()
    for day in range(days):
        batch: list[Rollup] = []
        for minute in range(1440):
            start = START + day * 86400 + minute * MINUTE
            for v in range(versions):
                tags = Tags({names.MODEL_NAME: "m", names.VERSION: f"v{v}"})
                sketch = POOL[(minute + v) % len(POOL)]
                batch.append(Rollup(names.REQUESTS_TOTAL, tags, MetricKind.COUNTER, start, 3.0))
                batch.append(Rollup(names.LATENCY, tags, MetricKind.TIMER, start, sketch))
        with store._transaction() as cur:
            store._insert(cur, batch, MINUTE)
        rows += len(batch)
    inserted = time.perf_counter() - began
    end = START + days * 86400
    began = time.perf_counter()
    empty = Snapshot(end + 2 * 3600 + 1, ())
    for _ in range(days + 1):  # 24 hours downsampled per export
        store.export(empty)
    return rows, inserted, time.perf_counter() - began


def expected_p99(version: int, days: int) -> float:
    merged = merge_all(POOL[(m + version) % len(POOL)] for _ in range(days) for m in range(1440))
    return merged.quantile(0.99)


def run(store: SqlHistoryStore, label: str, versions: int, days: int) -> list[str]:
    """Lines of results for one backend."""
    export_rows, export_seconds = bench_export(store, versions)
    store.close()
    rows, inserted, downsampled = fill(store, versions, days)
    end = START + days * 86400 + 2 * 3600 + 1
    reader = Metrics(bus=EventBus(), clock=ManualClock(end), history=store)
    window = end - START  # from the first minute written
    one = reader.get_metrics("m", "v0", window=window)
    assert one.request_count == 3 * 1440 * days, one.request_count
    assert one.p99_latency_ms == expected_p99(0, days)
    every = reader.get_all_metrics(window=window)
    assert len([k for k in every if k.startswith("m:")]) == versions
    assert every["m:v7"].p99_latency_ms == expected_p99(7, days)
    one_s = _median_seconds(lambda: reader.get_metrics("m", "v0", window=window))
    all_s = _median_seconds(lambda: reader.get_all_metrics(window=window))
    return [
        f"{label}: export of one hour, {versions} versions: {export_rows:,} rows in"
        f" {export_seconds * 1000:.0f} ms = {export_rows / export_seconds:,.0f} rows/s",
        f"{label}: bulk fill, {days} d x {versions} versions: {rows:,} rows in {inserted:.1f} s"
        f" = {rows / inserted:,.0f} rows/s; downsampled into hours in {downsampled:.1f} s",
        f"{label}: {days}-day p99, 1 version: {one_s * 1000:.1f} ms"
        f" (p99 {one.p99_latency_ms:.3f} ms, exact merge)",
        f"{label}: {days}-day p99, {versions} versions: {all_s * 1000:.1f} ms"
        f" ({all_s * 1000 / versions:.2f} ms per version)",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 versions, 1 day")
    parser.add_argument("--postgres", default=None, help="a DSN of an empty database")
    args = parser.parse_args(argv)
    versions, days = (10, 1) if args.quick else (100, 7)
    with tempfile.TemporaryDirectory() as folder:
        lines = run(SQLiteStore(Path(folder) / "history.db", timeout=600), "SQLite", versions, days)
    if args.postgres:
        lines += run(PostgresStore(args.postgres, timeout=600), "PostgreSQL", versions, days)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
