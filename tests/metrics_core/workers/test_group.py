"""Worker groups with real processes: exact totals, freshness, finished and killed workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collectors import InferenceCollector
from metrics_core import EventBus, Metrics, names
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, GaugeSeries
from metrics_core.testing import InMemoryExporter
from metrics_core.workers import GroupRegistry, WorkerGroupOptions
from metrics_core.workers._state_file import SketchCache, StateHeader, encode_state

ROOT = Path(__file__).resolve().parents[3]
MEMBER = Path(__file__).with_name("group_member.py")
TAGS = {"model_name": "bert", "version": "v1"}
Member = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_member(tmp_path: Path) -> Iterator[Member]:
    """``start_member(directory, n, errors, then)``: a worker process, killed at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(directory: Path, requests: int, errors: int, then: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, str(MEMBER), str(directory), str(requests), str(errors), then],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def member(directory: Path, interval: float = 0.05, **options: object) -> Metrics:
    group = WorkerGroupOptions(directory=directory, interval=interval, **options)  # type: ignore[arg-type]
    return Metrics(bus=EventBus(), multiproc=group).collect(InferenceCollector())


def requests(metrics: Metrics) -> float:
    series = metrics.snapshot().get(names.REQUESTS_TOTAL, TAGS)
    return series.total if isinstance(series, CounterSeries) else 0.0


def wait_for(probe: Callable[[], object], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_without_a_directory_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INFERENCE_METRICS_MULTIPROC_DIR", raising=False)
    metrics = Metrics(bus=EventBus())
    assert metrics.worker_group is None
    assert isinstance(metrics.registry, AggregatingRegistry)


def test_the_environment_variable_joins_every_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERENCE_METRICS_MULTIPROC_DIR", str(tmp_path / "group"))
    monkeypatch.setenv("INFERENCE_METRICS_MULTIPROC_INTERVAL", "0.25")
    with Metrics(bus=EventBus()) as metrics:
        assert metrics.worker_group is not None
        assert metrics.worker_group.options.interval == 0.25
        assert isinstance(metrics.registry, GroupRegistry)
        assert (tmp_path / "group" / "group.id").exists()


def test_two_members_answer_as_one_and_see_each_other_within_the_interval(tmp_path: Path) -> None:
    a, b = member(tmp_path), member(tmp_path)
    try:
        for _ in range(7):
            a.record_inference("bert", "v1", 10.0, success=True)
        b.record_inference("bert", "v1", 30.0, success=False, error_type="timeout")
        began = time.monotonic()
        wait_for(lambda: requests(a) == 8)  # only a reads: b's publisher thread published
        assert time.monotonic() - began < 2.0  # interval 0.05 s (slack for a loaded machine)
        assert requests(b) == 8
        version = a.get_metrics("bert", "v1")
        assert (version.request_count, version.errors_by_type) == (8, {"timeout": 1})
        assert a.get_all_metrics()["bert:v1"].request_count == 8
        local = a.local_snapshot().get(names.REQUESTS_TOTAL, TAGS)
        assert isinstance(local, CounterSeries) and local.total == 7
    finally:
        a.close()
        b.close()


def test_finished_workers_stay_in_the_totals_and_their_files_go(
    tmp_path: Path, start_member: Member
) -> None:
    reader = member(tmp_path)
    seen: list[float] = []
    try:
        workers = [start_member(tmp_path, 50, 5, "close") for _ in range(3)]
        while any(w.poll() is None for w in workers):
            seen.append(requests(reader))
        assert [w.wait() for w in workers] == [0, 0, 0]
        wait_for(lambda: not [n for n in os.listdir(tmp_path) if n.startswith("w-")][1:])
        assert requests(reader) == 150
        assert seen == sorted(seen)
        version = reader.get_metrics("bert", "v1")
        assert (version.request_count, version.errors_by_type) == (150, {"timeout": 15})
        assert version.active_connections == 0  # the finished workers' gauges dropped out
        assert sorted(os.listdir(tmp_path)) == sorted(
            [".join.lock", ".leader.lock", "group.id", "retired.state", reader.worker_group._file]  # type: ignore[union-attr]
        )
    finally:
        reader.close()


def test_a_killed_worker_keeps_what_it_published_and_its_gauges_drop_out(
    tmp_path: Path, start_member: Member
) -> None:
    reader = member(tmp_path)
    try:
        worker = start_member(tmp_path, 40, 0, "hold")
        wait_for(lambda: requests(reader) == 40)
        assert reader.get_metrics("bert", "v1").active_connections == 2
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        wait_for(lambda: reader.get_metrics("bert", "v1").active_connections == 0)
        assert requests(reader) == 40
        wait_for((tmp_path / "retired.state").exists)
        assert requests(reader) == 40
    finally:
        reader.close()


def test_workers_killed_mid_write_never_break_a_read_nor_lower_a_counter(
    tmp_path: Path, start_member: Member
) -> None:
    reader = member(tmp_path)
    try:
        for rounds, kill_after in enumerate((0.05, 0.2, 0.45), start=1):
            worker = start_member(tmp_path, 25, 0, "churn")
            floor = 25.0 * rounds
            wait_for(lambda: requests(reader) >= floor)  # noqa: B023 - called at once
            began = time.monotonic()
            last = requests(reader)
            while time.monotonic() - began < kill_after:  # it publishes every 20 ms
                now = requests(reader)
                assert now >= last
                last = now
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        totals = [requests(reader) for _ in range(3)]
        assert totals == sorted(totals) and totals[0] >= 75
        wait_for(lambda: not [n for n in os.listdir(tmp_path) if n.startswith(("tmp-", "w-"))][1:])
    finally:
        reader.close()


def test_corrupt_foreign_and_stale_files_are_skipped_and_counted(tmp_path: Path) -> None:
    metrics = member(tmp_path)
    try:
        metrics.record_inference("bert", "v1", 10.0, success=True)
        (tmp_path / "notes.txt").write_text("not ours")
        (tmp_path / "w-1-1-1.state").write_bytes(b"IMWG" + b"\x00" * 80)
        (tmp_path / "w-2-1-1.state").write_bytes(b"\x89PNG" + b"\x00" * 80)
        stale = StateHeader(0, b"s" * 16, os.getpid(), 0, 0, 0, time.time(), 1)
        live = AggregatingRegistry()
        live.counter(names.REQUESTS_TOTAL, TAGS, 1_000)
        (tmp_path / "w-3-0-1.state").write_bytes(
            encode_state(stale, live.snapshot().series, SketchCache())
        )
        assert requests(metrics) == 1
        assert requests(metrics) == 1
        assert metrics.worker_group is not None
        assert metrics.worker_group.skipped_files == {"foreign": 2, "corrupt": 1, "stale": 1}
        skipped = {
            s.tags["reason"]: s.total
            for s in metrics.local_snapshot().find(names.WORKER_GROUP_SKIPPED_FILES_TOTAL)
            if isinstance(s, CounterSeries)
        }
        assert skipped == {"foreign": 2.0, "corrupt": 1.0, "stale": 1.0}
    finally:
        metrics.close()


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize(("start", "expected"), [("clean", 1), ("continue", 4)])
def test_a_new_group_starts_clean_or_continues(tmp_path: Path, start: str, expected: float) -> None:
    """A previous group whose workers and their parent are gone: deleted, or kept counting."""
    old_group = b"\xab" * 16
    (tmp_path / "group.id").write_text(old_group.hex())
    previous = AggregatingRegistry()
    previous.counter(names.REQUESTS_TOTAL, TAGS, 3)
    previous.gauge(names.ACTIVE_CONNECTIONS, TAGS, 5)
    header = StateHeader(0, old_group, dead_pid(), 7, dead_pid(), 7, time.time(), 9)
    old_file = tmp_path / f"w-{header.pid}-7-1.state"
    old_file.write_bytes(encode_state(header, previous.snapshot().series, SketchCache()))
    junk = tmp_path / f"w-{dead_pid()}-1-1.state"
    junk.write_bytes(b"junk of a long dead writer")
    second = member(tmp_path, start=start)
    try:
        second.record_inference("bert", "v1", 10.0, success=True)
        assert requests(second) == expected
        assert second.get_metrics("bert", "v1").active_connections == 0
        assert not old_file.exists()
        assert (tmp_path / "group.id").read_text() != old_group.hex()
        wait_for(lambda: not junk.exists())
    finally:
        second.close()


def test_one_member_leads_and_pushes_the_group_snapshot(tmp_path: Path) -> None:
    a, b = member(tmp_path), member(tmp_path)
    exporters = [InMemoryExporter(), InMemoryExporter()]
    a.export_to(exporters[0])
    b.export_to(exporters[1])
    try:
        a.record_inference("bert", "v1", 10.0, success=True)
        b.record_inference("bert", "v1", 10.0, success=True)
        wait_for(lambda: requests(a) == 2 and requests(b) == 2)
        leaders = [m for m in (a, b) if m.worker_group and m.worker_group.is_leader()]
        assert len(leaders) == 1
        outcomes = [a.export(), b.export()]
        assert sorted(len(o) for o in outcomes) == [0, 1]
        (pushed,) = [e for e in exporters if e.snapshots]
        series = pushed.snapshots[-1].get(names.REQUESTS_TOTAL, TAGS)
        assert isinstance(series, CounterSeries) and series.total == 2
    finally:
        a.close()
        b.close()


def test_many_threads_in_two_members_give_exact_totals(tmp_path: Path) -> None:
    a, b = member(tmp_path), member(tmp_path)
    try:

        def work(metrics: Metrics) -> None:
            for _ in range(500):
                metrics.record_inference("bert", "v1", 5.0, success=True)
                metrics.record_active_connections("bert", "v1", 1)

        threads = [threading.Thread(target=work, args=(m,)) for m in (a, b) for _ in range(4)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            a.snapshot()
        for thread in threads:
            thread.join()
        wait_for(lambda: requests(a) == 4_000 and requests(b) == 4_000)
        gauge = a.snapshot().get(names.ACTIVE_CONNECTIONS, TAGS)
        assert isinstance(gauge, GaugeSeries) and gauge.value == 2.0  # summed over 2 workers
    finally:
        a.close()
        b.close()


def test_bad_options_name_the_field_and_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match=r"'interval' must be between 0\.01 and 3600 seconds: 0"):
        WorkerGroupOptions(directory=tmp_path, interval=0)
    with pytest.raises(TypeError, match="'interval' must be a number of seconds: '1'"):
        WorkerGroupOptions(directory=tmp_path, interval="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'start' must be 'clean' or 'continue': 'wipe'"):
        WorkerGroupOptions(directory=tmp_path, start="wipe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"'gauge_modes\['q'\]' must be one of"):
        WorkerGroupOptions(directory=tmp_path, gauge_modes={"q": "avg"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="'multiproc' must be a directory or WorkerGroupOptions: 3"):
        Metrics(bus=EventBus(), multiproc=3)  # type: ignore[arg-type]
    monkeypatch.setenv("INFERENCE_METRICS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("INFERENCE_METRICS_MULTIPROC_INTERVAL", "soon")
    with pytest.raises(
        ValueError, match="'INFERENCE_METRICS_MULTIPROC_INTERVAL' must be a number: 'soon'"
    ):
        Metrics(bus=EventBus())


def _record_in_forked_child(metrics: Metrics) -> None:
    for _ in range(5):
        metrics.record_inference("bert", "v1", 10.0, success=True)


def test_a_metrics_inherited_through_fork_becomes_a_new_member(tmp_path: Path) -> None:
    """gunicorn --preload: the parent's data stays the parent's, the child adds its own."""
    import multiprocessing

    parent = member(tmp_path)
    try:
        for _ in range(3):
            parent.record_inference("bert", "v1", 10.0, success=True)
        child = multiprocessing.get_context("fork").Process(
            target=_record_in_forked_child, args=(parent,)
        )
        child.start()
        child.join(30)
        assert child.exitcode == 0
        wait_for(lambda: requests(parent) == 8)
        local = parent.local_snapshot().get(names.REQUESTS_TOTAL, TAGS)
        assert isinstance(local, CounterSeries) and local.total == 3
    finally:
        parent.close()


def test_a_new_leader_continues_the_previous_leaders_statsd_deltas(tmp_path: Path) -> None:
    """StatsD gets each increment once, though the leader that pushes changes."""
    import socket

    from exporters.statsd import StatsDExporter

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(0.2)
        port = server.getsockname()[1]

        def received() -> float:
            total = 0.0
            while True:
                try:
                    packet = server.recv(65_535).decode()
                except TimeoutError:
                    return total
                for line in packet.splitlines():
                    key, _, value = line.partition(":")
                    if key.startswith(names.REQUESTS_TOTAL) and value.endswith("|c"):
                        total += float(value[:-2])

        members = [member(tmp_path), member(tmp_path)]
        for metrics in members:
            metrics.export_to(StatsDExporter(host="127.0.0.1", port=port))
        try:
            leader, other = sorted(members, key=lambda m: not m.worker_group.is_leader())  # type: ignore[union-attr]
            for _ in range(3):
                leader.record_inference("bert", "v1", 10.0, success=True)
            assert [len(m.export()) for m in (leader, other)] == [1, 0]
            assert received() == 3.0
            for _ in range(2):
                other.record_inference("bert", "v1", 10.0, success=True)
            wait_for(lambda: requests(leader) == 5)
            leader.close()  # the last push sends the 2, then the lead is free
            assert received() == 2.0
            for _ in range(4):
                other.record_inference("bert", "v1", 10.0, success=True)
            assert len(other.export()) == 1  # takes the lead, primed with the 5 sent
            assert received() == 4.0
        finally:
            for metrics in members:
                metrics.close()


def test_a_series_expired_in_one_worker_stays_in_the_group_total(tmp_path: Path) -> None:
    """An idle series leaves its worker's registry (series_ttl); the group keeps its counts."""
    from metrics_core.clock import ManualClock

    clock = ManualClock(time.time())
    options = WorkerGroupOptions(directory=tmp_path, interval=3600.0)
    idle = Metrics(bus=EventBus(), registry=AggregatingRegistry(clock=clock, series_ttl=60.0),
                   multiproc=options)  # fmt: skip
    busy = Metrics(bus=EventBus(), multiproc=options)
    try:
        for _ in range(4):
            idle.registry.counter(names.REQUESTS_TOTAL, TAGS)
        busy.registry.counter(names.REQUESTS_TOTAL, TAGS)
        idle.snapshot()  # publishes the 4
        assert requests(busy) == 5
        clock.advance(600.0)  # idle for 10 minutes: swept from idle's registry
        assert idle.local_snapshot().get(names.REQUESTS_TOTAL, TAGS) is None
        assert requests(idle) == 5
        assert requests(busy) == 5
        idle.registry.counter(names.REQUESTS_TOTAL, TAGS, 2.0)  # the series comes back at 0
        assert requests(idle) == 7
        assert requests(busy) == 7
    finally:
        idle.close()
        busy.close()
