"""Broken backends never hurt the app: a Pushgateway that refuses connections, an OTLP
endpoint that accepts and never answers, and StatsD ports with nothing listening.

Recording stays exact while exports fail around it, the working exporters keep
exporting, every failure is counted per exporter, and the shutdown export returns
within its deadline plus one second (measured in a subprocess, at interpreter exit
and on SIGTERM). How fast recording stays is measured in benchmarks/exporters.py.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collectors import InferenceCollector
from exporters import DogStatsDExporter, OTLPExporter, PrometheusExporter, StatsDExporter
from exporters.prometheus import PushgatewayTarget
from metrics_core import EventBus, Metrics, names
from metrics_core.events import InferenceCompleted
from metrics_core.snapshot import CounterSeries
from metrics_core.testing import InMemoryExporter

REPO = Path(__file__).resolve().parents[2]
FAILING = ("PrometheusExporter", "OTLPExporter", "StatsDExporter", "DogStatsDExporter")


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A TCP port that completes handshakes (the kernel's backlog) and never answers."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield int(server.getsockname()[1])
    server.close()


@pytest.fixture
def closed_port() -> Callable[[int], int]:
    """``closed_port(kind)``: a port of ``socket.SOCK_STREAM`` or ``SOCK_DGRAM`` with nothing
    bound to it any more."""

    def pick(kind: int) -> int:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    return pick


def _broken_exporters(
    black_hole: int, closed_port: Callable[[int], int], timeout: float
) -> list[tuple[object, str]]:
    gateway = f"http://127.0.0.1:{closed_port(socket.SOCK_STREAM)}"
    return [
        (PrometheusExporter(pushgateway=PushgatewayTarget(gateway, "isolation")), FAILING[0]),
        (OTLPExporter(f"http://127.0.0.1:{black_hole}/v1/metrics", timeout=timeout), FAILING[1]),
        (StatsDExporter(port=closed_port(socket.SOCK_DGRAM)), FAILING[2]),
        (DogStatsDExporter(port=closed_port(socket.SOCK_DGRAM)), FAILING[3]),
    ]


def _error_counts(metrics: Metrics) -> dict[str, float]:
    counts: dict[str, float] = {}
    for series in metrics.snapshot().find(names.EXPORT_ERRORS_TOTAL):
        assert isinstance(series, CounterSeries)
        exporter = series.tags["exporter"]
        counts[exporter] = counts.get(exporter, 0.0) + series.total
    return counts


def test_recording_stays_exact_and_working_exporters_keep_exporting(
    black_hole: int, closed_port: Callable[[int], int]
) -> None:
    working = InMemoryExporter()
    metrics = Metrics(bus=EventBus(), export_timeout=0.5).collect(InferenceCollector())
    for exporter, name in _broken_exporters(black_hole, closed_port, timeout=0.3):
        metrics.export_to(exporter, name=name)  # type: ignore[arg-type]
    metrics.export_to(working, name="working")
    metrics.start_auto_export(0.1)

    threads, per_thread = 8, 2_000
    versions = ("v1", "v2")

    def record(worker: int) -> None:
        for i in range(per_thread):
            metrics.bus.emit(
                InferenceCompleted(
                    model_name="bert", version=versions[(worker + i) % 2], duration_ms=5.0
                )
            )

    workers = [threading.Thread(target=record, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(working.snapshots) < 5:
        time.sleep(0.05)
    metrics.stop_auto_export()

    for version in versions:
        assert metrics.get_metrics("bert", version, window=3600).request_count == (
            threads * per_thread // 2
        )
    assert len(working.snapshots) >= 5
    errors = _error_counts(metrics)
    assert set(errors) == set(FAILING)
    assert all(count >= 1 for count in errors.values()), errors
    # The working exporter's latest snapshot carries the failures too.
    latest = working.last.find(names.EXPORT_ERRORS_TOTAL)
    assert {series.tags["exporter"] for series in latest} <= set(FAILING)
    metrics.close(deadline=2)


def test_each_failure_is_counted_once_per_export(
    black_hole: int, closed_port: Callable[[int], int]
) -> None:
    metrics = Metrics(bus=EventBus(), export_timeout=2.0).collect(InferenceCollector())
    for exporter, name in _broken_exporters(black_hole, closed_port, timeout=0.3):
        metrics.export_to(exporter, name=name)  # type: ignore[arg-type]
    metrics.export_to(InMemoryExporter(), name="working")
    metrics.record_inference("bert", "v1", latency_ms=3.0, success=True)

    for _ in range(3):
        results = metrics.export()
        outcomes = {outcome.exporter: outcome.status for outcome in results}
        assert outcomes == {**dict.fromkeys(FAILING, "error"), "working": "ok"}
        # Each failed for the broken backend, not for a bug of its own.
        errors = {outcome.exporter: outcome.error or "" for outcome in results}
        for name in ("PrometheusExporter", "StatsDExporter", "DogStatsDExporter"):
            assert "Connection refused" in errors[name], errors[name]
        assert "OTLPExportError" in errors["OTLPExporter"], errors["OTLPExporter"]
    assert _error_counts(metrics) == dict.fromkeys(FAILING, 3.0)
    metrics.close(deadline=2)


_SHUTDOWN_SCRIPT = """
import socket, sys, time
from collectors import InferenceCollector
from exporters import DogStatsDExporter, OTLPExporter, PrometheusExporter, StatsDExporter
from exporters.prometheus import PushgatewayTarget
from metrics_core import EventBus, Metrics

black_hole, refused, udp = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
metrics = (
    Metrics(bus=EventBus(), export_timeout=30.0)
    .collect(InferenceCollector())
    .export_to(PrometheusExporter(
        pushgateway=PushgatewayTarget(f"http://127.0.0.1:{{refused}}", "job", timeout=30.0)))
    .export_to(OTLPExporter(f"http://127.0.0.1:{{black_hole}}/v1/metrics", timeout=30.0))
    .export_to(StatsDExporter(port=udp))
    .export_to(DogStatsDExporter(port=udp))
    .export_on_shutdown(deadline=2)
)
metrics.record_inference("bert", "v1", latency_ms=3.0, success=True)
print("ready", flush=True)
{ending}
"""


@pytest.mark.parametrize(
    ("ending", "trigger"),
    [
        ("print(time.time(), flush=True)", None),
        ("time.sleep(60)", signal.SIGTERM),
    ],
    ids=["interpreter-exit", "sigterm"],
)
def test_shutdown_export_returns_within_deadline_plus_one_second(
    black_hole: int,
    closed_port: Callable[[int], int],
    ending: str,
    trigger: signal.Signals | None,
) -> None:
    script = textwrap.dedent(_SHUTDOWN_SCRIPT).format(ending=ending)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            script,
            str(black_hole),
            str(closed_port(socket.SOCK_STREAM)),
            str(closed_port(socket.SOCK_DGRAM)),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        if trigger is None:
            began = float(process.stdout.readline())
        else:
            began = time.time()
            process.send_signal(trigger)
        process.wait(timeout=15)
        took = time.time() - began
        logged = process.stdout.read() + (process.stderr.read() if process.stderr else "")
    finally:
        process.kill()
        process.wait()
    assert took <= 2 + 1, f"shutdown took {took:.2f}s"
    # The final export ran and the hung OTLP endpoint was cut off at the deadline.
    assert "reason=timeout" in logged or "'reason': 'timeout'" in logged, logged
