"""SystemCollector: real psutil samples, deltas, failing calls, and a clean thread lifecycle."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import psutil
import pytest

from collectors.system import SystemCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import ResourcesSampled
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, GaugeSeries, Snapshot

T0 = 1_700_000_000.0
THREAD_NAME = "metrics-system-sampler"


class Samples:
    """Listens for ``ResourcesSampled`` and lets a test wait for the n-th one."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[ResourcesSampled] = []
        self._condition = threading.Condition()
        bus.subscribe(ResourcesSampled, self.on_sampled)

    def on_sampled(self, event: ResourcesSampled) -> None:
        with self._condition:
            self.events.append(event)
            self._condition.notify_all()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[ResourcesSampled]:
        with self._condition:
            assert self._condition.wait_for(lambda: len(self.events) >= n, timeout), (
                f"{len(self.events)} samples, wanted {n}"
            )
            return list(self.events)


def sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def gauge(snapshot: Snapshot, name: str) -> float:
    series = snapshot.get(name, {})
    assert isinstance(series, GaugeSeries), f"no gauge {name}"
    return series.value


def io_total(snapshot: Snapshot, name: str, direction: str) -> float:
    series = snapshot.get(name, {names.DIRECTION: direction})
    assert isinstance(series, CounterSeries), f"no counter {name} {direction}"
    return series.total


# -- real samples -------------------------------------------------------------------------


def test_samples_real_values_from_the_thread() -> None:
    bus = EventBus()
    samples = Samples(bus)
    metrics = Metrics(bus=bus, registry=AggregatingRegistry()).collect(
        SystemCollector(interval=0.02)
    )
    try:
        first, second = samples.wait_for(2)[:2]
    finally:
        metrics.close()

    for sample in (first, second):
        assert sample.cpu_percent is not None and 0.0 <= sample.cpu_percent <= 100.0
        assert sample.process_cpu_percent is not None and sample.process_cpu_percent >= 0.0
        assert sample.process_rss_bytes is not None and sample.process_rss_bytes > 1_000_000
        assert sample.memory_used_bytes is not None and sample.memory_used_bytes > 0
        assert sample.memory_available_bytes is not None and sample.memory_available_bytes > 0
        assert sample.open_fds is not None and sample.open_fds > 0  # Linux has num_fds
        assert sample.threads is not None and sample.threads >= 2  # this one and the sampler
    snapshot = metrics.snapshot()
    assert gauge(snapshot, names.PROCESS_RSS) > 1_000_000
    assert gauge(snapshot, names.PROCESS_THREADS) >= 2
    # The first sample only sets the baseline; counters hold what moved after it.
    for name, directions in (
        (names.SYSTEM_DISK_IO, ("read", "write")),
        (names.SYSTEM_NETWORK_IO, ("transmit", "receive")),
    ):
        for direction in directions:
            assert io_total(snapshot, name, direction) >= 0.0


def test_sample_reads_this_process_and_host() -> None:
    collector = SystemCollector()

    sample = collector.sample()

    assert sample.process_rss_bytes is not None and sample.process_rss_bytes > 1_000_000
    assert sample.threads is not None and sample.threads >= 1
    total = psutil.virtual_memory().total
    assert sample.memory_used_bytes is not None and 0 < sample.memory_used_bytes <= total
    assert sample.memory_available_bytes is not None
    assert 0 < sample.memory_available_bytes <= total
    assert sample.net_sent_bytes is not None and sample.net_recv_bytes is not None


# -- deltas -------------------------------------------------------------------------------


def resources(disk_read: int, net_sent: int, **fields: Any) -> ResourcesSampled:
    return ResourcesSampled(disk_read_bytes=disk_read, net_sent_bytes=net_sent, **fields)


def test_cumulative_counters_are_recorded_as_deltas() -> None:
    bus = EventBus()
    registry = AggregatingRegistry(clock=ManualClock(T0))
    metrics = Metrics(bus=bus, registry=registry).collect(SystemCollector(interval=60))

    bus.emit(resources(1_000_000, 500, cpu_percent=12.5, threads=7))  # baseline only
    assert io_total(registry.snapshot(), names.SYSTEM_DISK_IO, "read") == 0.0
    bus.emit(resources(1_004_096, 1_500))
    bus.emit(resources(1_005_000, 1_500))
    bus.emit(resources(10, 1_600))  # the disk counter went back: rebase, count nothing
    bus.emit(resources(110, 1_700))
    metrics.close()

    snapshot = registry.snapshot()
    assert io_total(snapshot, names.SYSTEM_DISK_IO, "read") == 4_096 + 904 + 100
    assert io_total(snapshot, names.SYSTEM_NETWORK_IO, "transmit") == 1_200
    assert snapshot.get(names.SYSTEM_DISK_IO, {names.DIRECTION: "write"}) is None
    # Gauges keep the last value seen; a None field leaves them alone.
    assert gauge(snapshot, names.SYSTEM_CPU) == 12.5
    assert gauge(snapshot, names.PROCESS_THREADS) == 7


# -- failing psutil calls -------------------------------------------------------------------


class BrokenProcess:
    """A psutil.Process stand-in whose memory reading raises and thread count is None."""

    def __init__(self) -> None:
        self.calls = 0
        self._real = psutil.Process()

    def cpu_percent(self, interval: float | None = None) -> float:
        return float(self._real.cpu_percent(interval))

    def memory_info(self) -> Any:
        self.calls += 1
        raise psutil.AccessDenied(pid=1)

    def num_fds(self) -> int:
        raise OSError("too many open files")

    def num_threads(self) -> None:
        return None


def test_failing_calls_skip_their_field_and_the_sampler_keeps_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse() -> None:
        raise RuntimeError("no /proc/meminfo")

    monkeypatch.setattr(psutil, "virtual_memory", refuse)
    monkeypatch.setattr(psutil, "disk_io_counters", lambda: None)  # psutil's "no disks"
    process = BrokenProcess()
    bus = EventBus()
    samples = Samples(bus)
    metrics = Metrics(bus=bus, registry=AggregatingRegistry()).collect(
        SystemCollector(interval=0.02, process=process)
    )
    try:
        events = samples.wait_for(3)
    finally:
        metrics.close()

    assert process.calls >= 3
    for event in events:
        assert event.memory_used_bytes is None and event.memory_available_bytes is None
        assert event.disk_read_bytes is None and event.disk_write_bytes is None
        assert event.process_rss_bytes is None and event.open_fds is None
        assert event.threads is None
        assert event.cpu_percent is not None and event.net_sent_bytes is not None
    snapshot = metrics.snapshot()
    assert snapshot.get(names.PROCESS_RSS, {}) is None
    assert snapshot.get(names.SYSTEM_DISK_IO, {names.DIRECTION: "read"}) is None
    assert gauge(snapshot, names.SYSTEM_CPU) >= 0.0


def test_a_sample_that_raises_does_not_end_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    collector = SystemCollector(interval=0.01)
    calls = []
    real_sample = collector.sample

    def flaky() -> ResourcesSampled:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in sampling")
        return real_sample()

    monkeypatch.setattr(collector, "sample", flaky)
    bus = EventBus()
    samples = Samples(bus)
    metrics = Metrics(bus=bus, registry=AggregatingRegistry()).collect(collector)
    try:
        samples.wait_for(2)
    finally:
        metrics.close()
    assert len(calls) >= 3


# -- lifecycle ------------------------------------------------------------------------------


def test_start_and_stop_leave_no_thread_behind() -> None:
    before = set(threading.enumerate())
    collector = SystemCollector(interval=0.01)
    metrics = Metrics(bus=EventBus(), registry=AggregatingRegistry()).collect(collector)
    assert collector.running
    collector.start()  # a second start does not add a thread
    assert len(sampler_threads()) == 1

    metrics.close()

    assert not collector.running
    assert sampler_threads() == []
    assert set(threading.enumerate()) <= before


def test_restart_after_stop() -> None:
    collector = SystemCollector(interval=0.01)
    bus = EventBus()
    samples = Samples(bus)
    collector.bind(AggregatingRegistry(), bus)
    for _ in range(2):
        collector.start()
        collector.stop()
    collector.start()
    try:
        samples.wait_for(1)
    finally:
        collector.stop()
    assert sampler_threads() == []


def test_start_before_bind_raises_and_starts_nothing() -> None:
    collector = SystemCollector(interval=0.01)
    with pytest.raises(RuntimeError, match="not bound"):
        collector.start()
    assert sampler_threads() == []


@pytest.mark.parametrize("interval", [0, -1, float("inf"), float("nan"), True])
def test_bad_interval_is_rejected(interval: float) -> None:
    with pytest.raises(ValueError, match="'interval'"):
        SystemCollector(interval=interval)


# -- without the extra ------------------------------------------------------------------------

_WITHOUT_EXTRAS = """
import sys
sys.modules["psutil"] = None  # makes "import psutil" raise ImportError
sys.modules["pynvml"] = None
import collectors
from collectors import GpuCollector, QualityCollector, SystemCollector
QualityCollector()
for make in (SystemCollector, GpuCollector):
    try:
        make()
    except ImportError as error:
        print(error)
"""


def test_collectors_import_without_psutil_and_pynvml() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRAS],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert "inference-metrics[system]" in lines[0]
    assert "inference-metrics[gpu]" in lines[1]
