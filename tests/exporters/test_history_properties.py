"""Invariants of the history store (hypothesis) and many threads at once (exact counts)."""

from __future__ import annotations

import math
import tempfile
import threading
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors import InferenceCollector
from exporters import SQLiteStore
from metrics_core import EventBus, ManualClock, Metrics, names
from metrics_core.sketch import BucketData

T0 = 1_700_000_040.0  # a whole minute


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=3 * 3600 - 1), min_size=1, max_size=60),
    export_every=st.integers(min_value=1, max_value=50),
    window=st.integers(min_value=60, max_value=4 * 3600),
    restart=st.booleans(),
)
def test_stitched_counts_equal_the_events_in_the_window(
    offsets: list[int], export_every: int, window: int, restart: bool
) -> None:
    """Whatever the export rhythm, a window counts each event in it exactly once."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "h.db"
        clock = ManualClock(T0)
        metrics = Metrics(bus=EventBus(), clock=clock, history=SQLiteStore(path))
        metrics.collect(InferenceCollector())
        times = sorted(T0 + offset for offset in offsets)
        for n, at in enumerate(times):
            clock.set(at)
            metrics.record_inference("m", "v", 1.0 + n, success=True)
            if n % export_every == export_every - 1:
                metrics.export()
        now = T0 + 3 * 3600
        clock.set(now)
        if restart:  # a new process reads what the old one wrote (all minutes completed)
            metrics.close()
            metrics = Metrics(bus=EventBus(), clock=clock, history=SQLiteStore(path))
        found = metrics.get_metrics("m", "v", window=window)
        start: float
        if window > 3600 or restart:  # answered on whole minutes
            start = math.ceil((now - window) / 60) * 60
        else:  # memory alone, as without a store
            start = found.window_start
        inside = [t for t in times if start <= t <= now]
        # Events older than memory's hour that were never exported are lost, by design.
        lost = [t for t in inside if t < now - 3600 and not _exported(times, t, export_every)]
        assert found.request_count == len(inside) - len(lost)
        metrics.close()


def _exported(times: list[float], at: float, every: int) -> bool:
    """Whether an export after ``at``'s minute ended ran while memory still held it."""
    minute_end = math.floor(at / 60) * 60 + 60
    exports = [times[n] for n in range(every - 1, len(times), every)]
    return any(minute_end <= e < minute_end + 3600 for e in exports)


def test_many_threads_record_and_export_with_exact_rows(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    store = SQLiteStore(tmp_path / "h.db")
    metrics = Metrics(bus=EventBus(), clock=clock, history=store).collect(InferenceCollector())
    start = threading.Barrier(8)

    def record(worker: int) -> None:
        start.wait()
        for k in range(500):
            metrics.record_inference("m", f"v{worker % 2}", 1.0 + k % 17, success=True)

    threads = [threading.Thread(target=record, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clock.advance(60)
    outcomes: list[str] = []
    lock = threading.Lock()

    def export_and_read() -> None:
        status = metrics.export()[0].status
        count = metrics.get_metrics("m", "v0", window=2 * 3600).request_count
        with lock:
            outcomes.append(f"{status}:{count}")

    exporters = [threading.Thread(target=export_and_read) for _ in range(6)]
    for thread in exporters:
        thread.start()
    for thread in exporters:
        thread.join()
    assert outcomes == ["ok:2000"] * 6
    rows = store.read(T0, T0 + 60)
    counts = {
        (row.name, row.tags[names.VERSION]): (
            row.value.count if isinstance(row.value, BucketData) else row.value
        )
        for row in rows
    }
    assert counts == {
        (names.REQUESTS_TOTAL, "v0"): 2000.0,
        (names.REQUESTS_TOTAL, "v1"): 2000.0,
        (names.LATENCY, "v0"): 2000,
        (names.LATENCY, "v1"): 2000,
    }
    metrics.close()


def test_a_worker_group_writes_under_one_id_and_a_new_leader_adds_nothing(tmp_path: Path) -> None:
    from metrics_core.workers import WorkerGroupOptions

    options = WorkerGroupOptions(directory=tmp_path / "group", interval=0.05)
    db = tmp_path / "h.db"
    first = Metrics(bus=EventBus(), multiproc=options, history=SQLiteStore(db))
    first.collect(InferenceCollector())
    second = Metrics(bus=EventBus(), multiproc=options, history=SQLiteStore(db))
    second.collect(InferenceCollector())
    stores = [first.history_store, second.history_store]
    assert stores[0] is not None and stores[1] is not None
    assert stores[0].writer == stores[1].writer
    assert stores[0].writer.startswith("group:")
    for metrics, n in ((first, 3), (second, 4)):
        for _ in range(n):
            metrics.record_inference("m", "v", 5.0, success=True)
    time.sleep(0.5)  # both members publish their state (every 0.05 s)
    for metrics in (first, second, first, second):  # only the leader's exports write
        metrics.export()
    first.close()  # the minute in progress, under the group's id: replaced, never added
    time.sleep(0.5)
    second.close()
    rows = SQLiteStore(db).read(0, 1e12, names=[names.REQUESTS_TOTAL])
    per_minute: dict[float, float] = {}
    for row in rows:
        per_minute[row.start] = per_minute.get(row.start, 0.0) + float(row.value)  # type: ignore[arg-type]
    assert len(rows) == len(per_minute)  # one writer: one row per minute
    assert math.fsum(per_minute.values()) <= 7.0  # never more than was recorded
