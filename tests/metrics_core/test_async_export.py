"""The async export path: aexport, flush, async exporters, ``async with Metrics``."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from structlog.testing import capture_logs

from metrics_core import EventBus, ManualClock, Metrics, names
from metrics_core.snapshot import Snapshot
from metrics_core.testing import InMemoryExporter


class AsyncRecorder:
    def __init__(self) -> None:
        self.snapshots: list[Snapshot] = []
        self.loops: list[asyncio.AbstractEventLoop] = []
        self.flushed = 0
        self.closed = False

    async def export(self, snapshot: Snapshot) -> None:
        await asyncio.sleep(0)
        self.loops.append(asyncio.get_running_loop())
        self.snapshots.append(snapshot)

    async def flush(self) -> None:
        self.flushed += 1

    async def close(self) -> None:
        self.closed = True


class AsyncHanging:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls = 0

    async def export(self, snapshot: Snapshot) -> None:
        self.calls += 1
        await self.release.wait()

    def close(self) -> None:
        pass


class AsyncRaising:
    async def export(self, snapshot: Snapshot) -> None:
        raise ConnectionError("refused")

    def close(self) -> None:
        pass


def _metrics() -> Metrics:
    return Metrics(bus=EventBus(), clock=ManualClock(1_700_000_000.0))


def _errors(metrics: Metrics, exporter: str, reason: str) -> float:
    series = metrics.snapshot().get(
        names.EXPORT_ERRORS_TOTAL, {"exporter": exporter, "reason": reason}
    )
    return 0.0 if series is None else float(series.total)  # type: ignore[union-attr]


def test_aexport_awaits_async_exporters_on_the_running_loop() -> None:
    metrics = _metrics()
    recorder, sync = AsyncRecorder(), InMemoryExporter()
    metrics.export_to(recorder).export_to(sync)

    async def main() -> list[Any]:
        outcomes = await metrics.aexport()
        assert recorder.loops == [asyncio.get_running_loop()]
        return outcomes

    outcomes = asyncio.run(main())
    assert [(o.exporter, o.status) for o in outcomes] == [
        ("AsyncRecorder", "ok"),
        ("InMemoryExporter", "ok"),
    ]
    assert len(recorder.snapshots) == 1 and len(sync.snapshots) == 1
    # The sync path runs an async exporter too, on a loop of its own.
    assert metrics.export()[0].status == "ok"
    assert len(recorder.snapshots) == 2


def test_a_hung_or_raising_async_exporter_is_cut_off_and_counted() -> None:
    metrics = _metrics()
    hanging, fine = AsyncHanging(), AsyncRecorder()
    metrics.export_to(hanging, timeout=0.2).export_to(AsyncRaising()).export_to(fine)

    async def main() -> list[list[str]]:
        first = await metrics.aexport()
        second = await metrics.aexport()  # still hung: skipped as busy
        hanging.release.set()
        await asyncio.sleep(0.01)
        third = await metrics.aexport()
        return [[o.status for o in outcomes] for outcomes in (first, second, third)]

    with capture_logs():
        statuses = asyncio.run(main())
    assert statuses == [
        ["timeout", "error", "ok"],
        ["busy", "error", "ok"],
        ["ok", "error", "ok"],
    ]
    assert hanging.calls == 2
    assert len(fine.snapshots) == 3
    assert _errors(metrics, "AsyncHanging", "timeout") == 1.0
    assert _errors(metrics, "AsyncHanging", "busy") == 1.0
    assert _errors(metrics, "AsyncRaising", "error") == 3.0


def test_a_hung_sync_exporter_does_not_block_the_loop() -> None:
    gate = threading.Event()

    class Blocking:
        def export(self, snapshot: Snapshot) -> None:
            gate.wait(5)

        def close(self) -> None:
            pass

    metrics = _metrics()
    metrics.export_to(Blocking(), timeout=0.2)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def main() -> str:
        task = asyncio.ensure_future(ticker())
        outcomes = await metrics.aexport()
        task.cancel()
        return outcomes[0].status

    with capture_logs():
        assert asyncio.run(main()) == "timeout"
    gate.set()
    assert ticks >= 5  # the loop kept running while the exporter hung


def test_flush_exports_then_flushes_and_async_with_exports_on_exit() -> None:
    recorder = AsyncRecorder()

    async def main() -> None:
        async with _metrics() as metrics:
            metrics.export_to(recorder)
            outcomes = await metrics.flush()
            assert [o.status for o in outcomes] == ["ok", "ok"]
            assert recorder.flushed == 1 and len(recorder.snapshots) == 1
        assert len(recorder.snapshots) >= 2 and recorder.closed

    asyncio.run(main())


def test_aexport_honours_the_deadline() -> None:
    metrics = _metrics()
    metrics.export_to(AsyncHanging(), timeout=30.0)

    async def main() -> list[str]:
        return [o.status for o in await metrics.aexport(deadline=0.1)]

    with capture_logs():
        assert asyncio.run(main()) == ["timeout"]


@pytest.mark.parametrize("concurrency", [16])
def test_concurrent_aexports_each_exporter_runs_once_at_a_time(concurrency: int) -> None:
    metrics = _metrics()
    recorder = AsyncRecorder()
    metrics.export_to(recorder)

    async def main() -> list[str]:
        results = await asyncio.gather(*(metrics.aexport() for _ in range(concurrency)))
        return [o.status for outcomes in results for o in outcomes]

    with capture_logs():
        statuses = asyncio.run(main())
    assert len(statuses) == concurrency
    assert statuses.count("ok") == len(recorder.snapshots)
    assert statuses.count("ok") + statuses.count("busy") == concurrency
