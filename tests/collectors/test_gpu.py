"""GpuCollector: the real no-driver path, and the data path against an NVML stand-in."""

from __future__ import annotations

import ctypes.util
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest
import structlog.testing

from collectors.gpu import GpuCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.events import GpuSampled
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import GaugeSeries, Snapshot

THREAD_NAME = "metrics-gpu-sampler"
GIB = 1024**3


class NvmlError(Exception):
    """Stands in for ``pynvml.NVMLError``."""


class FakeNvml:
    """An object shaped like the ``pynvml`` module: two GPUs with fixed readings.

    ``fail`` names functions that raise; ``processes`` maps a GPU index to its
    compute processes as ``(pid, used bytes or None)``.
    """

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, *, fail: tuple[str, ...] = (), gpus: int = 2) -> None:
        self.fail = set(fail)
        self.gpus = gpus
        self.calls: dict[str, int] = {}
        self.processes: dict[int, list[tuple[int, int | None]]] = {
            0: [(1234, 1 * GIB), (5678, None)],
            1: [],
        }

    def _call(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if name in self.fail:
            raise NvmlError(f"{name} failed")

    def nvmlInit(self) -> None:
        self._call("nvmlInit")

    def nvmlShutdown(self) -> None:
        self._call("nvmlShutdown")

    def nvmlDeviceGetCount(self) -> int:
        self._call("nvmlDeviceGetCount")
        return self.gpus

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self._call("nvmlDeviceGetHandleByIndex")
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        self._call("nvmlDeviceGetName")
        return b"NVIDIA H100 80GB HBM3"  # older nvidia-ml-py returns bytes

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        self._call("nvmlDeviceGetUtilizationRates")
        return SimpleNamespace(gpu=87 + handle, memory=40)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        self._call("nvmlDeviceGetMemoryInfo")
        return SimpleNamespace(used=(4 + handle) * GIB, total=80 * GIB, free=0)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        self._call("nvmlDeviceGetTemperature")
        assert sensor == self.NVML_TEMPERATURE_GPU
        return 65 + handle

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        self._call("nvmlDeviceGetPowerUsage")
        return 250_500 + handle * 1_000  # milliwatts

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[Any]:
        self._call("nvmlDeviceGetComputeRunningProcesses")
        return [
            SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in self.processes[handle]
        ]


class Samples:
    """Collects ``GpuSampled`` events; ``wait_for(n)`` waits for n of them."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[GpuSampled] = []
        self._condition = threading.Condition()
        bus.subscribe(GpuSampled, self.on_sampled)

    def on_sampled(self, event: GpuSampled) -> None:
        with self._condition:
            self.events.append(event)
            self._condition.notify_all()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[GpuSampled]:
        with self._condition:
            assert self._condition.wait_for(lambda: len(self.events) >= n, timeout)
            return list(self.events)


class GpuEnv:
    def __init__(self, collector: GpuCollector) -> None:
        self.bus = EventBus()
        self.samples = Samples(self.bus)
        self.registry = AggregatingRegistry()
        self.collector = collector
        self.metrics = Metrics(bus=self.bus, registry=self.registry)

    def start(self) -> GpuEnv:
        self.metrics.collect(self.collector)
        return self

    def snapshot(self) -> Snapshot:
        return self.registry.snapshot()

    def gauge(self, name: str, **tags: str) -> float:
        series = self.snapshot().get(name, tags)
        assert isinstance(series, GaugeSeries), f"no gauge {name} {tags}"
        return series.value


@pytest.fixture
def envs() -> Iterator[list[GpuEnv]]:
    made: list[GpuEnv] = []
    yield made
    for env in made:
        env.metrics.close()


def sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


# -- the real library --------------------------------------------------------------------


def test_real_nvml_without_a_driver_is_fast_quiet_and_inactive(envs: list[GpuEnv]) -> None:
    """With the real pynvml: no driver here, so one warning, no thread, no series, < 50 ms.

    On a machine with an NVIDIA driver the same code path samples real GPUs instead,
    and this test checks that.
    """
    has_driver = ctypes.util.find_library("nvidia-ml") is not None
    with structlog.testing.capture_logs() as logs:
        began = time.perf_counter()
        env = GpuEnv(GpuCollector(interval=0.01)).start()
        took = time.perf_counter() - began
        envs.append(env)
        env.collector.start()  # a second start tries once more, and stays quiet
    if has_driver:
        assert env.collector.active and env.collector.gpu_count >= 1
        event = env.samples.wait_for(1)[0]
        assert event.memory_total_bytes is not None and event.memory_total_bytes > 0
        return
    assert took < 0.050, f"the no-driver path took {took * 1000:.1f} ms"
    assert [(log["log_level"], log["event"]) for log in logs] == [
        ("warning", "gpu_metrics_unavailable")
    ]
    assert logs[0]["error_type"] == "NVMLError_LibraryNotFound"
    assert not env.collector.active and env.collector.gpu_count == 0
    assert sampler_threads() == []
    assert env.collector.sample() == []
    assert len(env.snapshot()) == 0


def test_default_nvml_is_pynvml() -> None:
    assert GpuCollector()._nvml is pynvml


# -- without a driver (stand-in) -----------------------------------------------------------


def test_a_failed_init_is_not_retried_by_a_loop(envs: list[GpuEnv]) -> None:
    nvml = FakeNvml(fail=("nvmlInit",))
    with structlog.testing.capture_logs() as logs:
        env = GpuEnv(GpuCollector(interval=0.005, nvml=nvml)).start()
        envs.append(env)
        threading.Event().wait(0.05)  # ten intervals in which a loop could have retried

    assert nvml.calls == {"nvmlInit": 1}
    assert [log["event"] for log in logs] == ["gpu_metrics_unavailable"]
    assert sampler_threads() == []
    env.metrics.close()
    assert "nvmlShutdown" not in nvml.calls  # nothing to shut down


def test_a_failed_device_count_shuts_nvml_down_and_stays_inactive(envs: list[GpuEnv]) -> None:
    nvml = FakeNvml(fail=("nvmlDeviceGetCount",))
    with structlog.testing.capture_logs() as logs:
        env = GpuEnv(GpuCollector(interval=0.005, nvml=nvml)).start()
        envs.append(env)

    assert nvml.calls == {"nvmlInit": 1, "nvmlDeviceGetCount": 1, "nvmlShutdown": 1}
    assert [log["event"] for log in logs] == ["gpu_metrics_unavailable"]
    assert not env.collector.active and sampler_threads() == []


# -- the data path (stand-in) ----------------------------------------------------------------


def test_sample_reads_every_gpu() -> None:
    collector = GpuCollector(nvml=FakeNvml())
    collector.bind(AggregatingRegistry(), EventBus())
    collector.start()
    try:
        first, second = collector.sample()
    finally:
        collector.stop()

    assert first == GpuSampled(
        timestamp=first.timestamp,
        gpu_index=0,
        gpu_name="NVIDIA H100 80GB HBM3",
        utilization_percent=87.0,
        memory_used_bytes=4 * GIB,
        memory_total_bytes=80 * GIB,
        temperature_celsius=65.0,
        power_watts=250.5,
        process_memory_bytes=((1234, GIB),),  # NVML could not tell for 5678
    )
    assert (second.gpu_index, second.utilization_percent, second.power_watts) == (1, 88.0, 251.5)
    assert second.process_memory_bytes == ()


def test_samples_are_recorded_per_gpu(envs: list[GpuEnv]) -> None:
    nvml = FakeNvml()
    env = GpuEnv(GpuCollector(interval=0.01, nvml=nvml)).start()
    envs.append(env)
    assert env.collector.active and env.collector.gpu_count == 2
    env.samples.wait_for(4)  # two rounds of two GPUs
    env.metrics.close()

    for gpu, (util, used, temp, watts) in {
        "0": (87.0, 4 * GIB, 65.0, 250.5),
        "1": (88.0, 5 * GIB, 66.0, 251.5),
    }.items():
        assert env.gauge(names.GPU_UTILIZATION, gpu=gpu) == util
        assert env.gauge(names.GPU_MEMORY_USED, gpu=gpu) == used
        assert env.gauge(names.GPU_MEMORY_TOTAL, gpu=gpu) == 80 * GIB
        assert env.gauge(names.GPU_TEMPERATURE, gpu=gpu) == temp
        assert env.gauge(names.GPU_POWER, gpu=gpu) == watts
    assert env.gauge(names.GPU_PROCESS_MEMORY, gpu="0", pid="1234") == GIB
    assert env.snapshot().get(names.GPU_PROCESS_MEMORY, {"gpu": "0", "pid": "5678"}) is None
    assert nvml.calls["nvmlInit"] == 1 and nvml.calls["nvmlShutdown"] == 1
    assert sampler_threads() == []


def test_a_failing_reading_skips_its_field_and_sampling_goes_on(envs: list[GpuEnv]) -> None:
    nvml = FakeNvml(fail=("nvmlDeviceGetTemperature", "nvmlDeviceGetName"), gpus=1)
    env = GpuEnv(GpuCollector(interval=0.005, nvml=nvml)).start()
    envs.append(env)
    events = env.samples.wait_for(3)
    env.metrics.close()

    assert all(e.temperature_celsius is None and e.gpu_name is None for e in events)
    assert all(e.utilization_percent == 87.0 for e in events)
    assert env.snapshot().get(names.GPU_TEMPERATURE, {"gpu": "0"}) is None
    assert env.gauge(names.GPU_UTILIZATION, gpu="0") == 87.0


def test_a_process_that_is_gone_drops_to_zero() -> None:
    bus = EventBus()
    registry = AggregatingRegistry()
    metrics = Metrics(bus=bus, registry=registry).collect(GpuCollector(nvml=FakeNvml()))
    try:
        bus.emit(GpuSampled(gpu_index=0, process_memory_bytes=[(1, 100), (2, 200), (2, 50)]))
        bus.emit(GpuSampled(gpu_index=0, process_memory_bytes=[(2, 300)]))
        bus.emit(GpuSampled(gpu_index=0, process_memory_bytes=[(1, 400)]))
    finally:
        metrics.close()

    def used(pid: str) -> float:
        series = registry.snapshot().get(names.GPU_PROCESS_MEMORY, {"gpu": "0", "pid": pid})
        assert isinstance(series, GaugeSeries)
        return series.value

    assert (used("1"), used("2")) == (400.0, 0.0)


def test_stop_and_restart_reinitialize_nvml(envs: list[GpuEnv]) -> None:
    nvml = FakeNvml(gpus=1)
    env = GpuEnv(GpuCollector(interval=0.005, nvml=nvml)).start()
    envs.append(env)
    env.collector.stop()
    assert not env.collector.active and sampler_threads() == []
    env.collector.start()
    env.samples.wait_for(1)
    env.collector.stop()

    assert (nvml.calls["nvmlInit"], nvml.calls["nvmlShutdown"]) == (2, 2)
    assert sampler_threads() == []


@pytest.mark.parametrize("interval", [0, -0.5, float("nan")])
def test_bad_interval_is_rejected(interval: float) -> None:
    with pytest.raises(ValueError, match="'interval'"):
        GpuCollector(interval=interval, nvml=FakeNvml())
