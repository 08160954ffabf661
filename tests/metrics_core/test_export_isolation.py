"""A slow, hung or exiting exporter costs the others nothing (issue #10, item 7)."""

from __future__ import annotations

import threading
import time

from metrics_core.bus import EventBus
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import Snapshot


class Counting:
    """Counts exports and closes; ``hang`` makes each export wait on a gate."""

    def __init__(self, hang: threading.Event | None = None) -> None:
        self.exports = 0
        self.closed = False
        self._hang = hang

    def export(self, snapshot: Snapshot) -> None:
        if self._hang is not None:
            self._hang.wait(30)
        self.exports += 1

    def close(self) -> None:
        self.closed = True


class Exiting:
    def export(self, snapshot: Snapshot) -> None:
        raise SystemExit(3)

    def close(self) -> None:
        raise KeyboardInterrupt


def metrics() -> Metrics:
    return Metrics(bus=EventBus(), registry=AggregatingRegistry())


class Slow(Counting):
    """Takes ``seconds`` per export."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def export(self, snapshot: Snapshot) -> None:
        time.sleep(self.seconds)
        self.exports += 1


def test_a_slow_exporter_does_not_slow_a_healthy_ones_auto_export() -> None:
    m = metrics()
    healthy = Counting()
    interval = 0.1
    m.export_to(Slow(1.2 * interval), name="slow").export_to(healthy, name="healthy")
    started = time.monotonic()
    m.start_auto_export(interval)
    try:
        time.sleep(2.0)
    finally:
        m.stop_auto_export()
        elapsed = time.monotonic() - started
        m.close(deadline=1.0)
    ticks = elapsed / interval
    # Before: each round waited a whole interval for the slow one and then skipped the
    # next tick, so the healthy exporter ran every other tick (about 10 of 20).
    assert healthy.exports >= 0.75 * ticks - 2, (healthy.exports, ticks)


def test_close_leaves_the_others_time_to_close_past_a_hung_exporter() -> None:
    gate = threading.Event()
    m = metrics()
    healthy = Counting()
    m.export_to(Counting(hang=gate), name="hung").export_to(healthy, name="healthy")
    errors: list[tuple[str, str]] = []
    m._fanout._on_error = lambda name, reason: errors.append((name, reason))
    started = time.monotonic()
    try:
        m.close(deadline=2.0)
        took = time.monotonic() - started
    finally:
        gate.set()
    assert (healthy.exports, healthy.closed) == (1, True)
    assert errors == [("hung", "timeout"), ("hung", "busy")]
    assert took < 1.9  # the closing kept a reserve of 0.5 s from the final export


def test_an_exporter_raising_system_exit_is_an_error_not_a_timeout() -> None:
    m = metrics().export_to(Exiting(), name="exiting")
    (outcome,) = m.export()
    assert (outcome.status, outcome.error) == ("error", "SystemExit(3)")
    m.close(deadline=1.0)
    exits = [s for s in m.snapshot().counters() if s.tags.get("exporter") == "exiting"]
    assert {(s.tags["reason"], s.total) for s in exits} == {("error", 3.0)}  # 2 exports, 1 close
