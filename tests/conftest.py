"""Shared fixtures: a manual clock, an aggregating registry, and helpers for real servers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from metrics_core.clock import ManualClock
from metrics_core.registry.aggregating import AggregatingRegistry


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def registry(clock: ManualClock) -> AggregatingRegistry:
    return AggregatingRegistry(clock=clock)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: every dependency and server must be there."""
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and exitstatus == pytest.ExitCode.OK:
        print(f"\nCI: {len(skipped)} test(s) skipped; skips are failures in CI")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- real servers -------------------------------------------------------------------------

FreePort = Callable[[], int]
WaitUntil = Callable[..., Any]
Spawn = Callable[..., subprocess.Popen[bytes]]
ServerBinary = Callable[[str], str]

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository root (where ``.test-servers/`` is installed by ``make test``)."""


def _pick_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _poll(probe: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < end:
        try:
            value = probe()
        except Exception as error:  # the server is not up yet
            last = error
        else:
            if value:
                return value
            last = value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def _find_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        local = REPO_ROOT / ".test-servers" / name
        if local.exists():
            return str(local)
        pytest.skip(f"{name} is not installed: run scripts/install-test-servers.sh")
    return path


# Session-scoped: they hold no state, and module-scoped server fixtures use them too.
@pytest.fixture(scope="session")
def free_port() -> FreePort:
    """A function returning a TCP port on 127.0.0.1 that was free a moment ago."""
    return _pick_port


@pytest.fixture(scope="session")
def wait_until() -> WaitUntil:
    """``wait_until(probe, timeout=20, what="...")``: poll ``probe`` until it returns a truthy
    value (returned) or the timeout passes (the test fails naming ``what`` and the last error)."""
    return _poll


@pytest.fixture(scope="session")
def server_binary() -> ServerBinary:
    """Path of an installed server binary (``make test`` installs them); skip when missing
    outside CI (in CI a skip fails the run)."""
    return _find_binary


class Processes:
    """Processes started by a fixture, logging to ``<directory>/<name>.log``, stopped at teardown.

    They run in ``cwd`` (the current directory when ``None``).
    """

    def __init__(self, directory: Path, cwd: Path | None = None) -> None:
        self.directory = directory
        self._cwd = cwd
        self._started: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        *args: str,
        name: str = "server",
        stdin: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``args`` with stdout and stderr to ``<name>.log``; ``env`` adds to ours."""
        with (self.directory / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                args,
                stdin=stdin,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._cwd,
                env=None if env is None else {**os.environ, **env},
            )
        self._started.append(process)
        return process

    @staticmethod
    def free_port() -> int:
        """A TCP port on 127.0.0.1 that was free a moment ago."""
        return _pick_port()

    def log(self, name: str) -> str:
        """What ``name`` wrote so far (for failure messages)."""
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        """Terminate every process, killing those that do not exit within 5 s."""
        for process in self._started:
            if process.stdin is not None:
                process.stdin.close()
            process.terminate()
        for process in self._started:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """``spawn(*args, name=...)``: start a process with output to ``tmp_path/name.log``;
    every process started is terminated (then killed) at teardown."""
    processes = Processes(tmp_path)
    yield processes.start
    processes.stop_all()


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    """Processes for a whole test module, started in the repository root; all stopped when
    the module's tests are done (a server's start is paid once per module)."""
    started = Processes(tmp_path_factory.mktemp("servers"), cwd=REPO_ROOT)
    yield started
    started.stop_all()


# -- every built-in collector at once (the Grafana and alert-rule checks) ----------------------


class StandInNvml:
    """Shaped like the ``pynvml`` module: one GPU running one compute process."""

    NVML_TEMPERATURE_GPU = 0

    def nvmlInit(self) -> None:
        """Succeed."""

    def nvmlShutdown(self) -> None:
        """Succeed."""

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=87, memory=40)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return SimpleNamespace(used=4 * 1024**3, total=80 * 1024**3, free=76 * 1024**3)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return 65

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return 250_500  # milliwatts

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[Any]:
        return [SimpleNamespace(pid=1234, usedGpuMemory=1024**3)]


class _FailingExporter:
    """An exporter whose backend is down, so that export errors are counted."""

    def export(self, snapshot: object) -> None:
        raise ConnectionError("backend down")

    def close(self) -> None:
        """Nothing to close."""


@dataclass
class EveryCollector:
    """A ``Metrics`` running every built-in collector, a ``PrometheusExporter`` and a failing
    exporter, on a registry whose small series limit makes the overflow counter appear."""

    bus: Any
    registry: Any
    metrics: Any
    prometheus: Any
    gpu: Any
    system: Any
    _overflow_round: int = 0

    def sample_resources(self) -> None:
        """One GPU sample (from the stand-in NVML) and one real system sample."""
        for sample in self.gpu.sample():
            self.bus.emit(sample)
        self.bus.emit(self.system.sample())

    def overflow(self) -> None:
        """21 more users than the registry's limit of 20 series per metric."""
        first = 21 * self._overflow_round
        for user in range(first, first + 21):
            self.registry.counter("overflow_probe_total", {"user": str(user)})
        self._overflow_round += 1


@pytest.fixture(scope="session")
def every_collector() -> Callable[..., EveryCollector]:
    """Builds an ``EveryCollector``; keyword arguments go to its ``QualityCollector``."""
    from collectors import (
        GpuCollector,
        HttpCollector,
        InferenceCollector,
        QualityCollector,
        ReliabilityCollector,
        SystemCollector,
    )
    from exporters.prometheus import PrometheusExporter
    from metrics_core import EventBus, Metrics

    def build(**quality: Any) -> EveryCollector:
        bus = EventBus()
        registry = AggregatingRegistry(max_series_per_metric=20)
        gpu = GpuCollector(interval=3600.0, nvml=StandInNvml())
        system = SystemCollector(interval=3600.0)
        prometheus = PrometheusExporter()
        metrics = (
            Metrics(bus=bus, registry=registry)
            .collect(InferenceCollector())
            .collect(QualityCollector(**quality))
            .collect(ReliabilityCollector())
            .collect(HttpCollector())
            .collect(gpu)
            .collect(system)
            .export_to(prometheus)
            .export_to(_FailingExporter())
        )
        return EveryCollector(bus, registry, metrics, prometheus, gpu, system)

    return build
