"""``GpuCollector``: utilization, memory, temperature and power per GPU from NVML (extra ``gpu``).

NVML is reached through an ``nvml`` object shaped like the ``pynvml`` module
(nvidia-ml-py), which is the default: the functions used are ``nvmlInit``,
``nvmlShutdown``, ``nvmlDeviceGetCount``, ``nvmlDeviceGetHandleByIndex``,
``nvmlDeviceGetName``, ``nvmlDeviceGetUtilizationRates`` (``.gpu``),
``nvmlDeviceGetMemoryInfo`` (``.used``, ``.total``), ``nvmlDeviceGetTemperature``
(with ``NVML_TEMPERATURE_GPU``), ``nvmlDeviceGetPowerUsage`` (milliwatts) and
``nvmlDeviceGetComputeRunningProcesses`` (``.pid``, ``.usedGpuMemory``). Tests
inject a stand-in; production code runs the same path against the real library.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from collectors._sampling import SamplerThread, amount, check_interval, count, finite, read
from collectors.base import BaseCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.events import Event, GpuSampled
from metrics_core.logs import get_logger
from metrics_core.registry import Registry
from metrics_core.registry.protocol import BoundInstrument
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

_log = get_logger("collectors.gpu")

_MILLIWATTS_PER_WATT = 1000.0


def _import_pynvml() -> Any:
    try:
        import pynvml  # noqa: PLC0415  (optional dependency: imported only when used)
    except ImportError as error:
        raise ImportError(
            "GpuCollector needs nvidia-ml-py (the pynvml module): "
            "pip install 'inference-metrics[gpu]'"
        ) from error
    return pynvml


def _process_pairs(processes: Iterable[Any] | None) -> list[tuple[int, int]]:
    """``(pid, bytes)`` of the processes whose GPU memory NVML reports.

    NVML reports ``usedGpuMemory`` as ``None`` where it cannot tell (Windows WDDM,
    some containers); those processes are left out.
    """
    pairs: list[tuple[int, int]] = []
    try:
        for process in processes or ():
            pid = count(getattr(process, "pid", None))
            used = count(getattr(process, "usedGpuMemory", None))
            if pid is not None and used is not None:
                pairs.append((pid, used))
    except Exception:  # not iterable, or an entry that breaks on access
        return []
    return pairs


class GpuCollector(BaseCollector):
    """Samples every GPU through NVML every ``interval`` seconds on a daemon thread.

    Each sample of each GPU is emitted as a ``GpuSampled`` event and recorded from
    there, tagged ``gpu`` (the NVML index): ``gpu_utilization_percent``,
    ``gpu_memory_used_bytes``, ``gpu_memory_total_bytes``,
    ``gpu_temperature_celsius``, ``gpu_power_watts``, and
    ``gpu_process_memory_used_bytes{gpu,pid}`` per compute process (set to 0 when
    the process is gone). A reading NVML refuses is left out of that sample.

    Without a GPU or driver, ``nvmlInit`` fails at ``start``: the collector logs
    one warning, stays inactive (no thread, no series) and never retries on its
    own; a later ``start`` tries once more. ``stop`` ends the thread and calls
    ``nvmlShutdown``.

    :param interval: seconds between samples.
    :param nvml: an object shaped like the ``pynvml`` module; ``pynvml`` by default.
    :raises ImportError: without nvidia-ml-py (the ``gpu`` extra) and no ``nvml`` given.
    """

    subscriptions: ClassVar[Mapping[type[Event], str]] = {GpuSampled: "on_sampled"}

    def __init__(self, interval: float = 10.0, *, nvml: Any = None) -> None:
        self.interval = check_interval(interval)
        self._nvml = nvml if nvml is not None else _import_pynvml()
        self._sampler = SamplerThread("metrics-gpu-sampler", self.interval, self._emit)
        self._lock = threading.Lock()
        self._devices: tuple[tuple[int, Any, str | None], ...] = ()
        self._initialized = False
        self._warned = False
        self._gauges: dict[tuple[str, int], BoundInstrument] = {}
        self._process_gauges: dict[tuple[int, int], BoundInstrument] = {}
        self._pids: dict[int, frozenset[int]] = {}

    @property
    def active(self) -> bool:
        """Whether NVML is initialized and GPUs are being sampled."""
        return self._initialized

    @property
    def gpu_count(self) -> int:
        """GPUs found at ``start`` (0 while inactive)."""
        return len(self._devices)

    def bind(self, registry: Registry, bus: EventBus) -> None:
        """Keep the registry and the bus; forget series bound to an earlier registry."""
        super().bind(registry, bus)
        with self._lock:
            self._gauges = {}
            self._process_gauges = {}
            self._pids = {}

    def start(self) -> None:
        """Initialize NVML and start the sampler; without NVML, warn once and stay inactive."""
        _ = self.bus  # raises here, not in the thread, when not bound
        with self._lock:
            if not self._initialized and not self._initialize():
                return
        self._sampler.start()

    def stop(self) -> None:
        """Stop the sampler and shut NVML down."""
        self._sampler.stop()
        with self._lock:
            if self._initialized:
                self._initialized = False
                self._devices = ()
                read(self._nvml.nvmlShutdown)

    def _initialize(self) -> bool:
        nvml = self._nvml
        try:
            nvml.nvmlInit()
        except Exception as error:
            self._warn_unavailable(error)
            return False
        try:
            devices = []
            for index in range(int(nvml.nvmlDeviceGetCount())):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                name = read(nvml.nvmlDeviceGetName, handle)
                if isinstance(name, bytes):  # older nvidia-ml-py returns bytes
                    name = name.decode("utf-8", "replace")
                devices.append((index, handle, name if isinstance(name, str) and name else None))
        except Exception as error:
            read(nvml.nvmlShutdown)
            self._warn_unavailable(error)
            return False
        self._devices = tuple(devices)
        self._initialized = True
        return True

    def _warn_unavailable(self, error: Exception) -> None:
        if self._warned:
            return
        self._warned = True
        _log.warning(
            "gpu_metrics_unavailable",
            error_type=type(error).__name__,
            error=str(error),
            hint="NVML is unavailable (no NVIDIA driver or GPU?): GPU metrics stay off",
        )

    def sample(self) -> list[GpuSampled]:
        """Read every GPU once (an empty list while inactive)."""
        return [self._read_device(*device) for device in self._devices]

    def _read_device(self, index: int, handle: Any, name: str | None) -> GpuSampled:
        nvml = self._nvml
        utilization = read(nvml.nvmlDeviceGetUtilizationRates, handle)
        memory = read(nvml.nvmlDeviceGetMemoryInfo, handle)
        sensor = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
        milliwatts = amount(read(nvml.nvmlDeviceGetPowerUsage, handle))
        return GpuSampled(
            gpu_index=index,
            gpu_name=name,
            utilization_percent=amount(getattr(utilization, "gpu", None)),
            memory_used_bytes=count(getattr(memory, "used", None)),
            memory_total_bytes=count(getattr(memory, "total", None)),
            temperature_celsius=finite(read(nvml.nvmlDeviceGetTemperature, handle, sensor)),
            power_watts=None if milliwatts is None else milliwatts / _MILLIWATTS_PER_WATT,
            process_memory_bytes=_process_pairs(
                read(nvml.nvmlDeviceGetComputeRunningProcesses, handle)
            ),
        )

    def _emit(self) -> None:
        bus = self.bus
        for event in self.sample():
            bus.emit(event)

    def on_sampled(self, event: GpuSampled) -> None:
        """Record one GPU's sample; processes gone since the last one drop to 0."""
        index = event.gpu_index
        used: dict[int, int] = {}
        for pid, memory_bytes in event.process_memory_bytes:
            used[pid] = used.get(pid, 0) + memory_bytes
        with self._lock:
            for name, value in (
                (names.GPU_UTILIZATION, event.utilization_percent),
                (names.GPU_MEMORY_USED, event.memory_used_bytes),
                (names.GPU_MEMORY_TOTAL, event.memory_total_bytes),
                (names.GPU_TEMPERATURE, event.temperature_celsius),
                (names.GPU_POWER, event.power_watts),
            ):
                if value is not None:
                    self._gauge(name, index).record(value)
            for pid, memory_bytes in used.items():
                self._process_gauge(index, pid).record(memory_bytes)
            for pid in self._pids.get(index, frozenset()) - used.keys():
                # Forget the handle: the zeroed series stays, a returning pid rebinds it.
                gone = self._process_gauges.pop((index, pid), None)
                (gone or self._bind_process(index, pid)).record(0.0)
            self._pids[index] = frozenset(used)

    def _gauge(self, name: str, index: int) -> BoundInstrument:
        gauge = self._gauges.get((name, index))
        if gauge is None:
            tags = Tags({names.GPU: index})
            gauge = self._gauges[name, index] = self.registry.instrument(
                MetricKind.GAUGE, name, tags
            )
        return gauge

    def _process_gauge(self, index: int, pid: int) -> BoundInstrument:
        gauge = self._process_gauges.get((index, pid))
        if gauge is None:
            gauge = self._process_gauges[index, pid] = self._bind_process(index, pid)
        return gauge

    def _bind_process(self, index: int, pid: int) -> BoundInstrument:
        tags = Tags({names.GPU: index, names.PID: pid})
        return self.registry.instrument(MetricKind.GAUGE, names.GPU_PROCESS_MEMORY, tags)
