"""``SystemCollector``: host and process resources sampled with psutil (extra ``system``)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from collectors._sampling import SamplerThread, amount, check_interval, count, read
from collectors.base import BaseCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.events import Event, ResourcesSampled
from metrics_core.registry import Registry
from metrics_core.registry.protocol import BoundInstrument
from metrics_core.tags import Tags
from metrics_core.values import MetricKind


def _import_psutil() -> Any:
    try:
        import psutil  # noqa: PLC0415  (optional dependency: imported only when used)
    except ImportError as error:
        raise ImportError(
            "SystemCollector needs psutil: pip install 'inference-metrics[system]'"
        ) from error
    return psutil


class _Instruments:
    """The series of one registry, bound once."""

    __slots__ = (
        "disk_read", "disk_write", "memory_available", "memory_used", "net_recv", "net_sent",
        "open_fds", "process_cpu", "rss", "system_cpu", "threads",
    )  # fmt: skip

    def __init__(self, registry: Registry) -> None:
        empty = Tags.empty()

        def gauge(name: str) -> BoundInstrument:
            return registry.instrument(MetricKind.GAUGE, name, empty)

        def io(name: str, direction: str) -> BoundInstrument:
            return registry.instrument(MetricKind.COUNTER, name, Tags({names.DIRECTION: direction}))

        self.system_cpu = gauge(names.SYSTEM_CPU)
        self.process_cpu = gauge(names.PROCESS_CPU)
        self.rss = gauge(names.PROCESS_RSS)
        self.memory_used = gauge(names.SYSTEM_MEMORY_USED)
        self.memory_available = gauge(names.SYSTEM_MEMORY_AVAILABLE)
        self.open_fds = gauge(names.PROCESS_OPEN_FDS)
        self.threads = gauge(names.PROCESS_THREADS)
        self.disk_read = io(names.SYSTEM_DISK_IO, "read")
        self.disk_write = io(names.SYSTEM_DISK_IO, "write")
        self.net_sent = io(names.SYSTEM_NETWORK_IO, "transmit")
        self.net_recv = io(names.SYSTEM_NETWORK_IO, "receive")


class SystemCollector(BaseCollector):
    """Samples host and process resources every ``interval`` seconds on a daemon thread.

    Each sample is emitted as a ``ResourcesSampled`` event on the bus (so your own
    collectors can listen too) and recorded from there: ``system_cpu_percent``,
    ``process_cpu_percent``, ``process_memory_rss_bytes``,
    ``system_memory_used_bytes``, ``system_memory_available_bytes``,
    ``process_open_file_descriptors``, ``process_threads`` (gauges) and
    ``system_disk_io_bytes_total`` / ``system_network_io_bytes_total`` by
    ``direction`` (counters of the bytes moved between samples).

    ``Metrics.collect`` starts the sampler and ``Metrics.close`` stops it. The first
    sample comes one interval after ``start``: CPU percentages are measured between
    two readings, and ``start`` takes the first. A psutil call that fails (or a field
    the platform lacks, such as file descriptors on Windows) leaves that field
    ``None`` for the sample; nothing is raised into the application.

    :param interval: seconds between samples.
    :param process: the ``psutil.Process`` to watch; this process by default.
    :raises ImportError: without psutil (the ``system`` extra).
    """

    subscriptions: ClassVar[Mapping[type[Event], str]] = {ResourcesSampled: "on_sampled"}

    def __init__(self, interval: float = 10.0, *, process: Any = None) -> None:
        self.interval = check_interval(interval)
        self._psutil = _import_psutil()
        self._process = process if process is not None else self._psutil.Process()
        self._sampler = SamplerThread("metrics-system-sampler", self.interval, self._emit)
        self._lock = threading.Lock()
        self._instruments: _Instruments | None = None
        self._previous: dict[str, int] = {}

    @property
    def running(self) -> bool:
        """Whether the sampler thread is alive."""
        return self._sampler.running

    def bind(self, registry: Registry, bus: EventBus) -> None:
        """Keep the registry and the bus; forget series bound to an earlier registry."""
        super().bind(registry, bus)
        with self._lock:
            self._instruments = None
            self._previous = {}

    def start(self) -> None:
        """Take the first CPU readings and start the sampler thread."""
        _ = self.bus  # raises here, not in the thread, when not bound
        if self._sampler.running:
            return  # priming again would shorten the running sampler's CPU interval
        read(self._psutil.cpu_percent, None)
        read(self._process.cpu_percent, None)
        self._sampler.start()

    def stop(self) -> None:
        """Stop the sampler thread; returns once it has ended."""
        self._sampler.stop()

    def sample(self) -> ResourcesSampled:
        """Read every resource once; a field whose reading fails is ``None``.

        CPU percentages cover the time since the previous reading (``start`` takes
        the first one).
        """
        psutil, process = self._psutil, self._process
        memory = read(psutil.virtual_memory)
        disk = read(psutil.disk_io_counters)
        net = read(psutil.net_io_counters)
        rss = read(process.memory_info)
        num_fds = getattr(process, "num_fds", None)  # POSIX only
        return ResourcesSampled(
            cpu_percent=amount(read(psutil.cpu_percent, None)),
            process_cpu_percent=amount(read(process.cpu_percent, None)),
            memory_used_bytes=count(getattr(memory, "used", None)),
            memory_available_bytes=count(getattr(memory, "available", None)),
            process_rss_bytes=count(getattr(rss, "rss", None)),
            disk_read_bytes=count(getattr(disk, "read_bytes", None)),
            disk_write_bytes=count(getattr(disk, "write_bytes", None)),
            net_sent_bytes=count(getattr(net, "bytes_sent", None)),
            net_recv_bytes=count(getattr(net, "bytes_recv", None)),
            open_fds=None if num_fds is None else count(read(num_fds)),
            threads=count(read(process.num_threads)),
        )

    def _emit(self) -> None:
        self.bus.emit(self.sample())

    def on_sampled(self, event: ResourcesSampled) -> None:
        """Record a sample: gauges as read, disk and network bytes as deltas."""
        inst = self._instruments
        if inst is None:
            with self._lock:
                inst = self._instruments = self._instruments or _Instruments(self.registry)
        for value, gauge in (
            (event.cpu_percent, inst.system_cpu),
            (event.process_cpu_percent, inst.process_cpu),
            (event.process_rss_bytes, inst.rss),
            (event.memory_used_bytes, inst.memory_used),
            (event.memory_available_bytes, inst.memory_available),
            (event.open_fds, inst.open_fds),
            (event.threads, inst.threads),
        ):
            if value is not None:
                gauge.record(value)
        with self._lock:
            for key, total, counter in (
                ("disk_read", event.disk_read_bytes, inst.disk_read),
                ("disk_write", event.disk_write_bytes, inst.disk_write),
                ("net_sent", event.net_sent_bytes, inst.net_sent),
                ("net_recv", event.net_recv_bytes, inst.net_recv),
            ):
                if total is not None:
                    self._count_delta(key, total, counter)

    def _count_delta(self, key: str, total: int, counter: BoundInstrument) -> None:
        previous = self._previous.get(key)
        self._previous[key] = total
        if previous is None:
            # The totals since boot are not this process's to count: the first sample
            # only sets the baseline (and creates the series at 0).
            counter.record(0.0)
        elif total >= previous:
            counter.record(total - previous)
        # A smaller total means the OS counter was reset (a device went away): rebase
        # without counting, rather than count everything since boot again.
