"""History stores against real databases: SQLite files and a PostgreSQL cluster.

Every test runs on both backends (``backend`` is parametrized); time comes from a
``ManualClock`` and exports are explicit, so every expected row is exact.
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from collectors import InferenceCollector
from exporters import PostgresStore, SQLiteStore
from exporters._history_schema import SCHEMA_VERSION, SchemaError
from exporters._sql_store import SqlHistoryStore
from metrics_core import EventBus, ManualClock, Metrics, names
from metrics_core.events import InferenceCompleted
from metrics_core.history import HistoryStore
from metrics_core.sketch import BucketData

T0 = 1_700_000_040.0  # a whole minute
HOUR = 3600.0
DAY = 24 * HOUR

StoreFactory = Callable[..., SqlHistoryStore]


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """``make_store(**options)``: a store on this test's database (one file or one
    PostgreSQL database); every store made is closed at teardown."""
    made: list[SqlHistoryStore] = []
    if request.param == "sqlite":
        path = tmp_path / "history.db"

        def make(**options: Any) -> SqlHistoryStore:
            made.append(SQLiteStore(path, **options))
            return made[-1]

    else:
        dsn = request.getfixturevalue("postgres_dsn")

        def make(**options: Any) -> SqlHistoryStore:
            made.append(PostgresStore(dsn, **options))
            return made[-1]

    yield make
    for store in made:
        store.close()


def _metrics(clock: ManualClock, store: HistoryStore) -> Metrics:
    return Metrics(bus=EventBus(), clock=clock, history=store).collect(InferenceCollector())


def _rows(store: SqlHistoryStore, start: float = 0.0, end: float = 1e12) -> dict[Any, Any]:
    """``{(name, error_type or token type, minute): count or increment}``."""
    out: dict[Any, Any] = {}
    for row in store.read(start, end):
        detail = row.tags.get(names.ERROR_TYPE) or row.tags.get(names.TOKEN_TYPE)
        value = row.value.count if isinstance(row.value, BucketData) else row.value
        out[(row.name, detail, row.start)] = value
    return out


def test_one_row_per_series_and_minute_exact(make_store: StoreFactory) -> None:
    clock = ManualClock(T0)
    store = make_store()
    metrics = _metrics(clock, store)
    for second in range(150):  # minutes 0 and 1 complete, minute 2 in progress
        clock.set(T0 + second)
        metrics.bus.emit(
            InferenceCompleted(
                model_name="llm",
                version="v1",
                duration_ms=10.0 + second,
                input_tokens=3,
                output_tokens=5,
                cost_usd=0.25,
            )
        )
        if second % 30 == 0:
            metrics.record_inference("llm", "v1", 50.0, success=False, error_type="timeout")
    assert metrics.export()[0].status == "ok"
    rows = _rows(store)
    for minute in (T0, T0 + 60):
        assert rows[(names.REQUESTS_TOTAL, None, minute)] == 62.0
        assert rows[(names.LATENCY, None, minute)] == 62
        assert rows[(names.ERRORS_TOTAL, "timeout", minute)] == 2.0
        assert rows[(names.COST_TOTAL, None, minute)] == 15.0
        assert rows[(names.TOKEN_USAGE, "input", minute)] == 60
    assert not any(key[2] == T0 + 120 for key in rows)  # the minute in progress waits
    latency = next(r for r in store.read(T0, T0 + 60, names=[names.LATENCY]))
    assert isinstance(latency.value, BucketData)
    assert latency.value.minimum == 10.0 and latency.value.maximum == 69.0
    # A second export writes only what completed since; the same minute never twice.
    clock.set(T0 + 185)
    metrics.export()
    metrics.export()
    rows = _rows(store)
    assert rows[(names.REQUESTS_TOTAL, None, T0 + 120)] == 31.0
    assert len([k for k in rows if k[0] == names.REQUESTS_TOTAL]) == 3
    metrics.close()


def test_close_writes_the_minute_in_progress(make_store: StoreFactory) -> None:
    clock = ManualClock(T0)
    store = make_store()
    metrics = _metrics(clock, store)
    for second in (5, 50, 65, 70):
        clock.set(T0 + second)
        metrics.record_inference("bert", "v1", 10.0, success=True)
    clock.set(T0 + 80)
    metrics.close()  # its last export writes minute 0; closing the store, minute 1 so far
    rows = _rows(store)
    assert rows[(names.REQUESTS_TOTAL, None, T0)] == 2.0
    assert rows[(names.REQUESTS_TOTAL, None, T0 + 60)] == 2.0


def test_a_24h_p99_from_the_store_is_the_p99_of_one_sketch(make_store: StoreFactory) -> None:
    clock = ManualClock(T0)
    metrics = _metrics(clock, make_store())
    values: list[float] = []
    for minute in range(24 * 60):
        for k in range(3):
            value = 1.0 + (minute * 7 + k * 13) % 997 * 0.731
            clock.set(T0 + minute * 60 + k * 17)
            metrics.record_inference("bert", "v2", value, success=True)
            values.append(value)
        if minute % 30 == 29:
            metrics.export()
    clock.set(T0 + DAY)
    metrics.export()
    metrics.close()
    expected = BucketData.of(values)
    # A new process (empty memory) answers the day from the store alone.
    later = _metrics(clock, make_store())
    found = later.get_metrics("bert", "v2", window=DAY)
    assert found.request_count == len(values)
    assert found.p99_latency_ms == expected.quantile(0.99)
    assert found.p50_latency_ms == expected.quantile(0.5)
    assert found.window_start == T0
    assert found.average_latency_ms == pytest.approx(expected.mean, rel=1e-12)
    later.close()


def test_stitched_windows_count_memory_and_store_once(make_store: StoreFactory) -> None:
    clock = ManualClock(T0)
    store = make_store()
    metrics = _metrics(clock, store)
    for minute in range(150):  # 2.5 h, one request a minute, exported every 10 minutes
        clock.set(T0 + minute * 60 + 5)
        failed = minute % 5 == 0
        metrics.record_inference(
            "bert", "v1", 20.0, success=not failed, error_type="oom" if failed else None
        )
        if minute % 10 == 9:
            metrics.export()
    clock.set(T0 + 150 * 60 - 30)
    # The last hour is both in memory and (mostly) in the store: counted once.
    two_hours = metrics.get_metrics("bert", "v1", window=2 * HOUR)
    assert two_hours.request_count == 120
    assert two_hours.errors_by_type == {"oom": 24}
    assert two_hours.window_start == T0 + 30 * 60
    assert metrics.get_all_metrics(window=3 * HOUR)["bert:v1"].request_count == 150
    # Another writer on the same database adds its own requests.
    other_clock = ManualClock(T0 + 100 * 60)
    other = _metrics(other_clock, make_store(writer="other-host"))
    for second in range(0, 600, 60):
        other_clock.set(T0 + 100 * 60 + second + 1)
        other.record_inference("bert", "v1", 30.0, success=True)
    other_clock.set(T0 + 150 * 60 - 30)
    other.export()
    assert metrics.get_metrics("bert", "v1", window=2 * HOUR).request_count == 130
    history = metrics.history("bert", "v1", since=3 * HOUR, step=HOUR)
    assert [h.request_count for h in history] == [30, 60, 70]
    assert history[0].window_start == T0 - 30 * 60
    assert history[1].window_start == T0 + 30 * 60 and history[1].window_end == T0 + 90 * 60
    assert [h.window_end for h in history][-1] == T0 + 150 * 60 - 30
    metrics.close()
    other.close()


def test_downsampling_and_retention_boundaries(make_store: StoreFactory) -> None:
    hour0 = 1_699_999_200.0  # a whole hour
    clock = ManualClock(hour0)
    store = make_store(minute_retention=4 * HOUR, hour_retention=8 * HOUR)
    metrics = _metrics(clock, store)
    for minute in range(60):
        clock.set(hour0 + minute * 60 + 1)
        metrics.record_inference("bert", "v1", 10.0, success=True)
        clock.set(hour0 + minute * 60 + 2)
        metrics.export()
    clock.set(hour0 + HOUR + 1)
    metrics.export()

    def resolutions() -> dict[int, int]:
        with store._transaction() as cur:
            cur.execute("SELECT resolution, COUNT(*) FROM im_rollups GROUP BY resolution")
            return {int(r): int(n) for r, n in cur.fetchall()}

    clock.set(hour0 + 3 * HOUR - 1)  # the hour settles at hour0 + 1 h + 2 h
    metrics.export()
    assert resolutions() == {60: 120}  # requests and latency, one row a minute each
    clock.set(hour0 + 3 * HOUR)
    metrics.export()
    assert resolutions() == {60: 120, 3600: 2}
    # Both resolutions hold the hour: a read takes the hour row, not both.
    assert _rows(store)[(names.REQUESTS_TOTAL, None, hour0)] == 60.0
    assert len(store.read(hour0, hour0 + HOUR, names=[names.REQUESTS_TOTAL])) == 1
    assert len(store.read(hour0, hour0 + HOUR - 60, names=[names.REQUESTS_TOTAL])) == 59
    clock.set(hour0 + 4 * HOUR - 1)
    metrics.export()
    assert resolutions() == {60: 120, 3600: 2}
    clock.set(hour0 + 4 * HOUR + 60)  # minute rows older than 4 h go, hour rows stay
    metrics.export()
    assert resolutions() == {60: 118, 3600: 2}
    clock.set(hour0 + 5 * HOUR)
    metrics.export()
    assert resolutions() == {3600: 2}
    later = _metrics(clock, make_store())
    assert later.get_metrics("bert", "v1", window=6 * HOUR).request_count == 60
    clock.set(hour0 + 8 * HOUR + 1)
    metrics.export()
    assert resolutions() == {}
    with store._transaction() as cur:  # the series went with their last rows
        cur.execute("SELECT COUNT(*) FROM im_series")
        assert cur.fetchone()[0] == 0
    metrics.close()
    later.close()


def test_pruning_deletes_in_bounded_batches(make_store: StoreFactory) -> None:
    clock = ManualClock(T0)
    store = make_store(minute_retention=HOUR, hour_retention=HOUR, prune_batch=50)
    metrics = _metrics(clock, store)
    for minute in range(60):
        clock.set(T0 + minute * 60 + 1)
        metrics.record_inference("bert", "v1", 10.0, success=True)
    clock.set(T0 + 3600)
    metrics.export()
    clock.set(T0 + 100 * HOUR)
    counts = []
    for _ in range(4):
        metrics.export()
        with store._transaction() as cur:
            cur.execute("SELECT COUNT(*), (SELECT COUNT(*) FROM im_rolled_hours) FROM im_rollups")
            counts.append(tuple(cur.fetchone()))
    # 120 minute rows, 50 deleted an export; the hours' markers go with their last row.
    assert counts == [(70, 2), (20, 1), (0, 0), (0, 0)]
    metrics.close()


def test_a_locked_or_down_database_never_blocks_and_catches_up(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    clock = ManualClock(T0)
    store = make_store(timeout=0.3)
    metrics = _metrics(clock, store)
    blocker = make_store(writer="blocker")
    with capture_logs(), blocker._transaction() as cur:
        cur.execute("LOCK TABLE im_rollups" if isinstance(store, PostgresStore) else "SELECT 1")
        for second in range(130):
            clock.set(T0 + second)
            metrics.record_inference("bert", "v1", 10.0, success=True)
        outcomes = metrics.export()
    assert outcomes[0].status == "error"
    errors = metrics.snapshot().get(
        names.EXPORT_ERRORS_TOTAL, {"exporter": "history", "reason": "error"}
    )
    assert errors is not None and errors.total == 1.0  # type: ignore[union-attr]
    assert metrics.export()[0].status == "ok"  # the lock is gone: the minutes catch up
    assert _rows(store)[(names.REQUESTS_TOTAL, None, T0)] == 60.0
    assert _rows(store)[(names.REQUESTS_TOTAL, None, T0 + 60)] == 60.0
    metrics.close()


def test_schema_is_versioned_and_newer_ones_are_refused(make_store: StoreFactory) -> None:
    store = make_store()
    assert store.schema_version() == SCHEMA_VERSION
    with store._transaction() as cur:
        cur.execute(
            store._sql("UPDATE im_history_meta SET value = ? WHERE key = ?"),
            (str(SCHEMA_VERSION + 1), "schema"),
        )
    with pytest.raises(SchemaError, match="newer than this library"):
        make_store().schema_version()


def test_a_corrupt_sketch_is_skipped_and_logged(make_store: StoreFactory) -> None:
    clock = ManualClock(T0)
    store = make_store()
    metrics = _metrics(clock, store)
    for second in range(0, 120, 10):
        clock.set(T0 + second)
        metrics.record_inference("bert", "v1", 10.0, success=True)
    clock.set(T0 + 125)
    metrics.export()
    with store._transaction() as cur:
        cur.execute(
            store._sql("UPDATE im_rollups SET sketch = ? WHERE bucket = ? AND sketch IS NOT NULL"),
            (b"\x01\xff", int(T0)),
        )
    with capture_logs() as logs:
        rows = store.read(T0, T0 + 120, names=[names.LATENCY])
    assert [row.start for row in rows] == [T0 + 60]
    assert [log["event"] for log in logs] == ["history_row_unreadable"]
    metrics.close()


def test_bad_options_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'minute_retention' must be a positive duration: -1"):
        SQLiteStore(tmp_path / "x.db", minute_retention=-1)
    with pytest.raises(ValueError, match="'hour_retention' must be >= 'minute_retention'"):
        SQLiteStore(tmp_path / "x.db", minute_retention=10, hour_retention=5)
    with pytest.raises(ValueError, match="'prune_batch' must be an int >= 1: 0"):
        SQLiteStore(tmp_path / "x.db", prune_batch=0)
    with pytest.raises(ValueError, match="'writer' must be a non-empty string: ''"):
        SQLiteStore(tmp_path / "x.db", writer="")
    with pytest.raises(ValueError, match="'step' must be a whole number of minutes"):
        Metrics(bus=EventBus(), history=SQLiteStore(tmp_path / "y.db")).history(
            "m", "v", since=600, step=90
        )
    assert math.isfinite(T0)


WORKER = Path(__file__).with_name("history_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[2]


def _target(store: SqlHistoryStore) -> tuple[str, str]:
    if isinstance(store, SQLiteStore):
        return "sqlite", store.path
    assert isinstance(store, PostgresStore)
    return "postgres", store.dsn


def _worker(store: SqlHistoryStore, writer: str, minutes: int, series: int = 1) -> Any:
    backend, target = _target(store)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), backend, target, writer, str(minutes), str(series)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def test_two_processes_write_one_store_without_double_counting(make_store: StoreFactory) -> None:
    store = make_store()
    store.schema_version()  # created before the writers race
    workers = [_worker(store, f"worker-{n}", minutes=5, series=3) for n in range(2)]
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        assert out.splitlines()[-1] == "exported 4"
    start = 1_700_000_040.0
    reader = Metrics(bus=EventBus(), clock=ManualClock(start + 5 * 60 + 1), history=store)
    found = reader.get_all_metrics(window=2 * HOUR)
    assert {key: m.request_count for key, m in found.items()} == {
        "bert:v0": 600,
        "bert:v1": 600,
        "bert:v2": 600,
    }
    with store._transaction() as cur:
        cur.execute("SELECT COUNT(*), COUNT(DISTINCT writer) FROM im_rollups")
        assert tuple(cur.fetchone()) == (2 * 5 * 3 * 2, 2)  # writers, minutes, versions, series
    reader.close()


def test_sigkill_mid_write_leaves_a_readable_store(make_store: StoreFactory) -> None:
    store = make_store()
    store.schema_version()
    worker = _worker(store, "doomed", minutes=0, series=40)
    assert worker.stdout is not None
    for line in worker.stdout:  # let it commit a few minutes, then kill it mid-stream
        if line.startswith("exported 3"):
            break
    time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # Whole minutes only: every committed minute has all 40 versions' two series.
    with store._transaction() as cur:
        cur.execute("SELECT bucket, COUNT(*) FROM im_rollups GROUP BY bucket ORDER BY bucket")
        per_minute = cur.fetchall()
    assert len(per_minute) >= 4
    assert {int(n) for _, n in per_minute} == {80}
    assert [int(b) for b, _ in per_minute] == [
        1_700_000_040 + 60 * k for k in range(len(per_minute))
    ]
    # And a new writer goes on writing into it.
    clock = ManualClock(1_700_000_040.0 + 3 * HOUR)
    metrics = _metrics(clock, make_store())
    metrics.record_inference("bert", "v0", 10.0, success=True)
    clock.advance(60)
    assert metrics.export()[0].status == "ok"
    metrics.close()


def test_a_full_or_unreachable_database_fails_the_export_then_catches_up(
    make_store: StoreFactory, free_port: Callable[[], int]
) -> None:
    clock = ManualClock(T0)
    store = make_store(timeout=1.0)
    metrics = _metrics(clock, store)
    metrics.record_inference("bert", "v1", 10.0, success=True)
    clock.set(T0 + 61)
    assert metrics.export()[0].status == "ok"  # creates the schema and minute 0
    if isinstance(store, SQLiteStore):  # full: no page may be added to the file
        pages = store._conn._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn._conn.execute(f"PRAGMA max_page_count = {pages}")
    else:  # down: the server refuses connections
        assert isinstance(store, PostgresStore)
        good_dsn = store.dsn
        store.dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
        store.close()
    with capture_logs():
        for minute in range(1, 6):
            for k in range(40):  # recording goes on meanwhile, 40 versions: new pages needed
                clock.set(T0 + minute * 60 + k)
                metrics.record_inference("bert", f"v{k}", 10.0 + k, success=True)
            clock.set(T0 + (minute + 1) * 60 + 1)
            assert metrics.export()[0].status == "error"
    if isinstance(store, SQLiteStore):
        store._conn._conn.execute("PRAGMA max_page_count = 1073741823")
    else:
        assert isinstance(store, PostgresStore)
        store.dsn = good_dsn
    assert metrics.export()[0].status == "ok"
    per_minute: dict[float, float] = {}
    for row in store.read(T0, T0 + HOUR, names=[names.REQUESTS_TOTAL]):
        per_minute[row.start] = per_minute.get(row.start, 0.0) + float(row.value)  # type: ignore[arg-type]
    assert per_minute == {T0: 1.0, **{T0 + m * 60: 40.0 for m in range(1, 6)}}
    found = metrics.get_all_metrics(window=2 * HOUR)
    assert sum(m.request_count for m in found.values()) == 201
    metrics.close()


def test_compare_over_a_long_window_reads_the_store(make_store: StoreFactory) -> None:
    clock = ManualClock(T0)
    metrics = _metrics(clock, make_store())
    for minute in range(180):
        for k in range(4):
            clock.set(T0 + minute * 60 + k)
            metrics.record_inference("bert", "v1", 20.0 + k, success=True)
            metrics.record_inference("bert", "v2", 40.0 + k, success=True)
        if minute % 30 == 29:
            metrics.export()
    clock.set(T0 + 3 * HOUR)  # the window starts on the first whole minute: T0
    metrics.close()
    later = _metrics(clock, make_store())
    result = later.compare("bert", "v1", "v2", window=3 * HOUR)
    assert (result.baseline.request_count, result.candidate.request_count) == (720, 720)
    assert (result.latency_test.n_baseline, result.latency_test.n_candidate) == (720, 720)
    assert result.verdict.value == "worse"
    assert result.p50_latency_delta_ms == pytest.approx(20.0, rel=0.02)
    later.close()


def test_migrations_apply_in_order_and_refuse_newer() -> None:
    from exporters._history_schema import pending_migrations

    assert pending_migrations(0) == list(range(1, SCHEMA_VERSION + 1))
    assert pending_migrations(SCHEMA_VERSION) == []
    assert pending_migrations(1, target=3) == [2, 3]
    with pytest.raises(SchemaError, match="version 4 is newer than this library's 3"):
        pending_migrations(4, target=3)


def test_long_windows_split_and_filter_by_kept_dimensions(make_store: StoreFactory) -> None:
    clock = ManualClock(T0)
    metrics = Metrics(bus=EventBus(), clock=clock, history=make_store())
    metrics.collect(InferenceCollector(dimensions=("provider",)))
    for minute in range(120):
        clock.set(T0 + minute * 60 + 1)
        provider = "openai" if minute % 3 else "anthropic"
        metrics.bus.emit(
            InferenceCompleted(
                model_name="chat", version="v1", duration_ms=9.0, attributes={"provider": provider}
            )
        )
        if minute % 30 == 29:
            metrics.export()
    clock.set(T0 + 2 * HOUR)
    metrics.close()
    later = Metrics(bus=EventBus(), clock=clock, history=make_store())
    split = later.get_all_metrics(window=2 * HOUR, by=("provider",))
    assert {key: m.request_count for key, m in split.items()} == {
        "chat:v1|provider=anthropic": 40,
        "chat:v1|provider=openai": 80,
    }
    assert (
        later.get_metrics("chat", "v1", window=2 * HOUR, where={"provider": "openai"}).request_count
        == 80
    )
    later.close()


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, True, "5"])
def test_store_timeouts_are_checked_like_every_timeout(bad: object, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'timeout' must be"):
        SQLiteStore(tmp_path / "m.db", timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'timeout' must be"):
        PostgresStore("host=127.0.0.1", timeout=bad)  # type: ignore[arg-type]
