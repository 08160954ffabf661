"""``inference-metrics serve``: a metrics sidecar for host and GPU metrics.

Serves ``/metrics`` (Prometheus text or OpenMetrics), the JSON and stream
endpoints and ``/dashboard`` of :func:`~integrations.metrics_app.metrics_app`
over what ``SystemCollector`` (``--system``) and ``GpuCollector`` (``--gpu``)
sample, the way seed 002's ``python -m observability.metrics`` runs a metrics
server next to the service. It runs until SIGTERM or SIGINT, then stops the
server and the samplers and exits 0.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, TextIO

from collectors import GpuCollector, SystemCollector
from integrations.metrics_app import metrics_app
from integrations.server import serve_app
from metrics_core import EventBus, Metrics

__all__ = ["DEFAULT_SIDECAR_PORT", "run_sidecar"]

DEFAULT_SIDECAR_PORT = 9464
"""The sidecar's port unless ``--port`` says otherwise (Prometheus exporters' usual one)."""


def _collect(metrics: Metrics, make: Callable[[], Any], extra: str, out: TextIO) -> bool:
    try:
        metrics.collect(make())
    except ImportError:
        print(f"needs the '{extra}' extra: pip install 'inference-metrics[{extra}]'", file=out)
        return False
    return True


def run_sidecar(
    *,
    port: int = DEFAULT_SIDECAR_PORT,
    host: str = "127.0.0.1",
    gpu: bool = False,
    system: bool = False,
    interval: float = 5.0,
    stream: TextIO | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Serve until ``stop`` is set (SIGTERM and SIGINT set it); return the exit code.

    0 after a clean stop; 2 when a requested collector's extra is missing or the
    port cannot be bound. The first line written is ``serving <url>/metrics``.
    """
    out = sys.stdout if stream is None else stream
    stop = threading.Event() if stop is None else stop
    metrics = Metrics(bus=EventBus())
    started = (
        not system or _collect(metrics, lambda: SystemCollector(interval), "system", out)
    ) and (not gpu or _collect(metrics, lambda: GpuCollector(interval), "gpu", out))
    if not started:
        metrics.close()
        return 2
    previous = _install(stop)
    try:
        try:
            running = serve_app(metrics_app(metrics), host=host, port=port)
        except OSError as error:
            print(f"cannot serve on {host}:{port}: {error}", file=out, flush=True)
            return 2
        with running:
            print(
                f"serving {running.url}/metrics and {running.url}/dashboard", file=out, flush=True
            )
            stop.wait()
        print("stopped", file=out, flush=True)
        return 0
    finally:
        metrics.close()
        _restore(previous)


def _install(stop: threading.Event) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}  # signal handlers can only be set from the main thread

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    return {signum: signal.signal(signum, handle) for signum in (signal.SIGTERM, signal.SIGINT)}


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
