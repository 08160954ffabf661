"""ExportFanout: every exporter isolated, bounded in time, failures reported."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from metrics_core.exporting import Exporter, ExportFanout, ExportOutcome
from metrics_core.snapshot import Snapshot
from metrics_core.testing import InMemoryExporter

SNAPSHOT = Snapshot(1_700_000_000.0, ())


class FanoutEnv:
    """A fan-out whose error hook records (exporter, reason); gates released at teardown."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.fanout = ExportFanout(on_error=self._record)
        self.gates: list[threading.Event] = []

    def _record(self, exporter: str, reason: str) -> None:
        with self._lock:
            self.errors.append((exporter, reason))

    def gate(self) -> threading.Event:
        gate = threading.Event()
        self.gates.append(gate)
        return gate


@pytest.fixture
def fanout_env() -> Iterator[FanoutEnv]:
    env = FanoutEnv()
    with capture_logs():  # failures are logged; keep the test output quiet
        yield env
    for gate in env.gates:
        gate.set()


class RaisingExporter:
    def __init__(self) -> None:
        self.closed = False

    def export(self, snapshot: Snapshot) -> None:
        raise ConnectionError("refused")

    def close(self) -> None:
        self.closed = True
        raise ConnectionError("refused on close")


class HangingExporter:
    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.calls = 0

    def export(self, snapshot: Snapshot) -> None:
        self.calls += 1
        self.gate.wait()

    def close(self) -> None:
        self.gate.wait()


class SleepingExporter:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    def export(self, snapshot: Snapshot) -> None:
        time.sleep(self.seconds)
        self.calls += 1

    def close(self) -> None:
        pass


def statuses(outcomes: list[ExportOutcome]) -> list[tuple[str, str]]:
    return [(o.exporter, o.status) for o in outcomes]


def test_exporters_satisfy_the_protocol() -> None:
    assert isinstance(InMemoryExporter(), Exporter)
    assert isinstance(RaisingExporter(), Exporter)
    assert not isinstance(object(), Exporter)


def test_every_exporter_gets_the_snapshot(fanout_env: FanoutEnv) -> None:
    first, second = InMemoryExporter(), InMemoryExporter()
    fanout_env.fanout.add(first, "first", 1.0)
    fanout_env.fanout.add(second, "second", 1.0)

    outcomes = fanout_env.fanout.export(SNAPSHOT)

    assert statuses(outcomes) == [("first", "ok"), ("second", "ok")]
    assert first.last is SNAPSHOT
    assert second.last is SNAPSHOT
    assert fanout_env.errors == []
    assert fanout_env.fanout.names() == ["first", "second"]


def test_raising_exporter_is_isolated_and_reported(fanout_env: FanoutEnv) -> None:
    before, after = InMemoryExporter(), InMemoryExporter()
    fanout_env.fanout.add(before, "before", 1.0)
    fanout_env.fanout.add(RaisingExporter(), "raising", 1.0)
    fanout_env.fanout.add(after, "after", 1.0)

    outcomes = fanout_env.fanout.export(SNAPSHOT)

    assert statuses(outcomes) == [("before", "ok"), ("raising", "error"), ("after", "ok")]
    assert outcomes[1].error == "ConnectionError('refused')"
    assert before.last is SNAPSHOT
    assert after.last is SNAPSHOT
    assert fanout_env.errors == [("raising", "error")]


def test_failures_are_logged(fanout_env: FanoutEnv) -> None:
    fanout_env.fanout.add(RaisingExporter(), "raising", 1.0)

    with capture_logs() as logs:
        fanout_env.fanout.export(SNAPSHOT)

    failures = [entry for entry in logs if entry["event"] == "export_failed"]
    assert len(failures) == 1
    assert failures[0]["exporter"] == "raising"
    assert failures[0]["reason"] == "error"
    assert failures[0]["log_level"] == "warning"


def test_hanging_exporter_times_out_then_is_busy(fanout_env: FanoutEnv) -> None:
    memory = InMemoryExporter()
    hanging = HangingExporter(fanout_env.gate())
    fanout_env.fanout.add(hanging, "hanging", 0.3)
    fanout_env.fanout.add(memory, "memory", 1.0)

    began = time.monotonic()
    first = fanout_env.fanout.export(SNAPSHOT)
    first_seconds = time.monotonic() - began
    began = time.monotonic()
    second = fanout_env.fanout.export(SNAPSHOT)
    second_seconds = time.monotonic() - began

    assert first_seconds < 2.0
    assert statuses(first) == [("hanging", "timeout"), ("memory", "ok")]
    assert first[0].seconds >= 0.29
    assert second_seconds < 0.25
    assert statuses(second) == [("hanging", "busy"), ("memory", "ok")]
    assert hanging.calls == 1
    assert len(memory.snapshots) == 2
    assert fanout_env.errors == [("hanging", "timeout"), ("hanging", "busy")]


def test_hung_exporter_is_called_again_once_it_returns(fanout_env: FanoutEnv) -> None:
    gate = fanout_env.gate()
    hanging = HangingExporter(gate)
    fanout_env.fanout.add(hanging, "hanging", 0.2)
    assert statuses(fanout_env.fanout.export(SNAPSHOT)) == [("hanging", "timeout")]

    gate.set()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if statuses(fanout_env.fanout.export(SNAPSHOT)) == [("hanging", "ok")]:
            break
        time.sleep(0.01)

    assert statuses(fanout_env.fanout.export(SNAPSHOT)) == [("hanging", "ok")]


def test_slow_exporter_within_its_timeout_is_ok(fanout_env: FanoutEnv) -> None:
    slow = SleepingExporter(0.1)
    fanout_env.fanout.add(slow, "slow", 2.0)

    outcomes = fanout_env.fanout.export(SNAPSHOT)

    assert statuses(outcomes) == [("slow", "ok")]
    assert slow.calls == 1
    assert fanout_env.errors == []


def test_exporters_run_in_parallel_within_one_export(fanout_env: FanoutEnv) -> None:
    for i in range(4):
        fanout_env.fanout.add(SleepingExporter(0.2), f"slow{i}", 2.0)

    began = time.monotonic()
    outcomes = fanout_env.fanout.export(SNAPSHOT)

    assert time.monotonic() - began < 0.75  # about 0.2 s, not 4 x 0.2 s
    assert [o.status for o in outcomes] == ["ok"] * 4


def test_deadline_cuts_the_wait_short(fanout_env: FanoutEnv) -> None:
    fanout_env.fanout.add(HangingExporter(fanout_env.gate()), "hanging", 30.0)

    began = time.monotonic()
    outcomes = fanout_env.fanout.export(SNAPSHOT, deadline=time.monotonic() + 0.2)

    assert time.monotonic() - began < 2.0
    assert statuses(outcomes) == [("hanging", "timeout")]


def test_close_is_isolated_and_bounded(fanout_env: FanoutEnv) -> None:
    raising, memory = RaisingExporter(), InMemoryExporter()
    fanout_env.fanout.add(raising, "raising", 1.0)
    fanout_env.fanout.add(HangingExporter(fanout_env.gate()), "hanging", 0.2)
    fanout_env.fanout.add(memory, "memory", 1.0)

    began = time.monotonic()
    outcomes = fanout_env.fanout.close()

    assert time.monotonic() - began < 2.0
    assert statuses(outcomes) == [("raising", "error"), ("hanging", "timeout"), ("memory", "ok")]
    assert raising.closed
    assert memory.closed
    assert fanout_env.errors == [("raising", "error"), ("hanging", "timeout")]


def test_a_raising_error_hook_does_not_break_the_export() -> None:
    def broken_hook(exporter: str, reason: str) -> None:
        raise RuntimeError("hook bug")

    fanout = ExportFanout(on_error=broken_hook)
    memory = InMemoryExporter()
    fanout.add(RaisingExporter(), "raising", 1.0)
    fanout.add(memory, "memory", 1.0)

    with capture_logs() as logs:
        outcomes = fanout.export(SNAPSHOT)

    assert statuses(outcomes) == [("raising", "error"), ("memory", "ok")]
    assert [e["event"] for e in logs if e["event"] == "export_error_hook_failed"] == [
        "export_error_hook_failed"
    ]


def test_concurrent_exports_reach_each_exporter_once_per_call(fanout_env: FanoutEnv) -> None:
    memory = InMemoryExporter()
    fanout_env.fanout.add(memory, "memory", 5.0)
    barrier = threading.Barrier(10)

    def export() -> None:
        barrier.wait()
        fanout_env.fanout.export(SNAPSHOT)

    threads = [threading.Thread(target=export) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10.0)

    # Without the facade's lock, overlapping calls may skip a busy exporter; none is lost.
    busy = fanout_env.errors.count(("memory", "busy"))
    assert len(memory.snapshots) + busy == 10
    assert set(fanout_env.errors) <= {("memory", "busy")}


def test_duplicate_names_raise(fanout_env: FanoutEnv) -> None:
    fanout_env.fanout.add(InMemoryExporter(), "memory", 1.0)

    with pytest.raises(ValueError, match="'memory'"):
        fanout_env.fanout.add(InMemoryExporter(), "memory", 1.0)
    assert fanout_env.fanout.names() == ["memory"]


@pytest.mark.parametrize("timeout", [0, -0.5, math.nan])
def test_invalid_timeout_raises(fanout_env: FanoutEnv, timeout: float) -> None:
    with pytest.raises(ValueError, match="'timeout'"):
        fanout_env.fanout.add(InMemoryExporter(), "memory", timeout)


def test_no_exporters_is_a_no_op(fanout_env: FanoutEnv) -> None:
    assert fanout_env.fanout.export(SNAPSHOT) == []
    assert fanout_env.fanout.close() == []
