"""The ``inference-metrics`` command: ``demo``, ``bench``, ``serve`` and ``--version``.

``demo`` drives three models x two versions through every collector, serves
``/metrics`` and the dashboard on 127.0.0.1, shows a live table, and ends with
the canary verdicts. ``bench`` runs the benchmarks of a source checkout.
``serve`` is the metrics sidecar of ``integrations.sidecar``.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import structlog

from collectors import (
    InferenceCollector,
    QualityCollector,
    ReliabilityCollector,
    SystemCollector,
)
from exporters import LogExporter
from integrations._terminal import LiveView, render_progress, render_table, render_totals
from integrations.asgi import metrics_app
from integrations.report import run_report
from integrations.server import serve_app
from integrations.sidecar_cli import add_serve_command, package_version, serve_command
from integrations.workload import DEFAULT_PROFILES, SyntheticWorkload, canary_pairs
from metrics_core import EventBus, Metrics, names
from metrics_core.snapshot import GaugeSeries, Snapshot

DEFAULT_PORT = 8000
"""The demo's port unless ``--port`` says otherwise (0 picks a free one)."""

LIVE_WINDOW = 10.0
"""Seconds of traffic the live table covers."""

EXPORT_INTERVAL = 10.0
"""Seconds between the demo's exports to its JSON-lines file (and one more at the stop)."""

DEFAULT_EXPORT_FILE = Path(tempfile.gettempdir()) / "inference-metrics-demo.jsonl"
"""Where the demo's ``LogExporter`` writes unless ``--export-file`` says otherwise."""

_HOST = "127.0.0.1"
_REPO_ROOT = Path(__file__).resolve().parent.parent
_BENCHMARKS = ("hot_path.py", "backends.py", "integrations.py")
_FOOTER_NAMES = (names.SYSTEM_CPU, names.PROCESS_CPU, names.PROCESS_RSS, names.DRIFT_SCORE)


class _Interrupts:
    """SIGINT and SIGTERM ask for a stop; a second one exits at once."""

    def __init__(self, stream: TextIO, view: LiveView) -> None:
        self.requested = threading.Event()
        self._stream = stream
        self._view = view
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.requested.is_set():
            self.requested.set()
            return
        # A second interrupt while shutting down: skip the rest of the shutdown.
        self._view.close()
        self._stream.write("\ninterrupted again: exiting without the final report\n")
        self._stream.flush()
        os._exit(130)


def _footer(snapshot: Snapshot) -> str:
    """Host and process resources (SystemCollector) and drift alerts (QualityCollector)."""
    gauges = {s.name: s.value for s in snapshot.series if isinstance(s, GaugeSeries)}
    parts = []
    if names.SYSTEM_CPU in gauges:
        parts.append(f"host CPU {gauges[names.SYSTEM_CPU]:.0f} %")
    if names.PROCESS_CPU in gauges:
        parts.append(f"demo CPU {gauges[names.PROCESS_CPU]:.0f} %")
    if names.PROCESS_RSS in gauges:
        parts.append(f"RSS {gauges[names.PROCESS_RSS] / 2**20:.0f} MB")
    drifting = sorted(
        f"{s.tags.get(names.MODEL_NAME)}:{s.tags.get(names.VERSION)} {s.value:.2f}"
        for s in snapshot.series
        if isinstance(s, GaugeSeries) and s.name == names.DRIFT_SCORE and s.value > 0.2
    )
    parts.append("drift psi > 0.2: " + (", ".join(drifting) or "none"))
    return " | ".join(parts)


def _frame(metrics: Metrics, elapsed: float, duration: float, requests: int) -> list[str]:
    rows = list(metrics.get_all_metrics(window=LIVE_WINDOW).values())
    return [
        render_progress(elapsed, duration, requests) + f"  (table: last {LIVE_WINDOW:g} s)",
        *render_table(rows),
        _footer(metrics.registry.snapshot(names=_FOOTER_NAMES)),
    ]


def _export_to_file(metrics: Metrics, path: Path) -> TextIO:
    """Export every ``EXPORT_INTERVAL`` and at close: one JSON line per series (structlog)."""
    handle = path.open("w", encoding="utf-8")
    logger = structlog.wrap_logger(
        structlog.WriteLogger(handle),
        processors=[
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
    )
    metrics.export_to(LogExporter(logger=logger, window=LIVE_WINDOW), name="jsonl_file")
    metrics.start_auto_export(EXPORT_INTERVAL)
    return handle


def _build_metrics(bus: EventBus, stream: TextIO) -> Metrics:
    metrics = Metrics(bus=bus)
    metrics.collect(InferenceCollector())
    metrics.collect(QualityCollector(refresh_interval=1.0))
    metrics.collect(ReliabilityCollector())
    try:
        metrics.collect(SystemCollector(interval=1.0))
    except ImportError:  # psutil is the 'system' extra
        print("(no psutil: host metrics off; pip install 'inference-metrics[system]')", file=stream)
    return metrics


def run_demo(
    *,
    duration: float = 30.0,
    port: int = DEFAULT_PORT,
    rate: float = 300.0,
    seed: int = 7,
    refresh: float | None = None,
    export_file: Path = DEFAULT_EXPORT_FILE,
    stream: TextIO | None = None,
) -> int:
    """Run the demo; return the exit code (0, or 2 when it cannot start).

    ``refresh`` is the seconds between frames after the first (drawn at 1 s): 1 on
    a terminal, 5 otherwise. A stop asked by SIGINT or SIGTERM ends the run early
    with the same final report.
    """
    out = sys.stdout if stream is None else stream
    view = LiveView(out)
    interrupts = _Interrupts(out, view)
    interrupts.install()  # first: a Ctrl-C while starting up already stops cleanly
    try:
        return _demo(out, view, interrupts, duration, port, rate, seed, refresh, export_file)
    finally:
        interrupts.uninstall()


def _demo(
    out: TextIO,
    view: LiveView,
    interrupts: _Interrupts,
    duration: float,
    port: int,
    rate: float,
    seed: int,
    refresh: float | None,
    export_file: Path,
) -> int:
    bus = EventBus()
    metrics = _build_metrics(bus, out)
    try:
        server = serve_app(metrics_app(metrics), host=_HOST, port=port, shutdown_timeout=2)
    except ImportError as error:  # uvicorn is the 'web' extra
        metrics.close()
        print(f"inference-metrics demo: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        metrics.close()
        taken = error.errno == errno.EADDRINUSE
        reason = "is already in use" if taken else f"cannot be served ({error})"
        print(
            f"inference-metrics demo: port {port} on {_HOST} {reason}; "
            "pass --port N for another port, or --port 0 for a free one",
            file=sys.stderr,
        )
        return 2
    try:
        exported = _export_to_file(metrics, export_file)
    except OSError as error:
        server.stop()
        metrics.close()
        print(
            f"inference-metrics demo: cannot write --export-file {export_file}: {error}",
            file=sys.stderr,
        )
        return 2
    workload = SyntheticWorkload(bus, rate=rate, seed=seed)
    interval = refresh if refresh is not None else (1.0 if view.live else 5.0)
    models = len({profile.model_name for profile in DEFAULT_PROFILES})
    print(
        f"inference-metrics demo: {len(DEFAULT_PROFILES)} versions of {models} models, "
        f"~{rate:g} req/s for {duration:g} s (Ctrl-C stops early)\n"
        f"  Prometheus metrics  {server.url}/metrics\n"
        f"  live dashboard      {server.url}/dashboard\n"
        f"  per-version JSON    {server.url}/metrics/versions\n"
        f"  exports (JSON lines every {EXPORT_INTERVAL:g} s and at the stop)  {export_file}\n",
        file=out,
        flush=True,
    )
    run_started = time.monotonic()
    try:
        workload.start()
        elapsed = _run_until_stopped(metrics, workload, view, interrupts, duration, interval)
        view.close()
        reason = "stop requested" if interrupts.requested.is_set() else "duration reached"
        print(
            f"\nstopped after {elapsed:.1f} s ({reason}); shutting down (Ctrl-C again: at once)",
            file=out,
            flush=True,
        )
    finally:
        workload.stop()
        view.close()
        server.stop()
        metrics.close()  # stops auto-export, then the final export to the file
        exported.close()
    # The whole run's window reaches back to the workload's start, shutdown time included.
    _report(metrics, out, elapsed, window=math.ceil(time.monotonic() - run_started) + 1.0)
    with export_file.open(encoding="utf-8") as exported_lines:
        lines = sum(1 for _ in exported_lines)
    print(
        f"exported: {lines:,} series lines in {export_file} (the last export at the stop)",
        file=out,
        flush=True,
    )
    return 0


def _run_until_stopped(
    metrics: Metrics,
    workload: SyntheticWorkload,
    view: LiveView,
    interrupts: _Interrupts,
    duration: float,
    interval: float,
) -> float:
    """Draw a frame at 1 s and every ``interval`` after; return the seconds run."""
    start = time.monotonic()
    next_frame = start + min(1.0, duration)
    while True:
        now = time.monotonic()
        remaining = start + duration - now
        if remaining <= 0 or interrupts.requested.wait(max(0.0, min(next_frame - now, remaining))):
            break
        if time.monotonic() >= next_frame:
            elapsed = time.monotonic() - start
            view.show(_frame(metrics, elapsed, duration, workload.started))
            next_frame += interval
    return min(time.monotonic() - start, duration)


def _report(metrics: Metrics, out: TextIO, elapsed: float, window: float) -> None:
    """The whole run's table, the canary verdicts and the totals over ``window`` seconds."""
    window = min(window, 3600.0)
    rows = list(metrics.get_all_metrics(window=window).values())
    print(f"\nwhole run ({elapsed:.1f} s):", file=out)
    print("\n".join(render_table(rows)), file=out)
    print("\ncanary verdicts (candidate vs baseline, whole run):", file=out)
    for model_name, baseline, candidate in canary_pairs(DEFAULT_PROFILES):
        result = metrics.compare(model_name, baseline, candidate, window=window)
        print(
            f"  {model_name}: {candidate} vs {baseline}: {result.verdict.value} "
            f"(p95 {result.p95_latency_delta_ms:+.1f} ms, "
            f"error rate {result.error_rate_delta * 100:+.2f} pts, "
            f"latency p={result.latency_test.p_value:.2g}, "
            f"errors p={result.error_test.p_value:.2g})",
            file=out,
        )
    print(render_totals(rows, elapsed), file=out, flush=True)


def run_bench(
    *, quick: bool = False, root: Path | None = None, stream: TextIO | None = None
) -> int:
    """Run the benchmarks of a source checkout one after the other, streaming their output.

    ``root`` is the checkout (the one this module lives in by default). Returns 2
    when its ``benchmarks/`` folder is missing (an install from a wheel), 1 when a
    benchmark missed a target or failed, 130 when interrupted, else 0.
    """
    out = sys.stdout if stream is None else stream
    folder = (_REPO_ROOT if root is None else root) / "benchmarks"
    scripts = [folder / name for name in _BENCHMARKS]
    if not all(script.is_file() for script in scripts):
        print(
            f"inference-metrics bench: no benchmarks at {folder}; they ship with the source "
            "checkout, not the wheel: clone the repository and run it from there",
            file=sys.stderr,
        )
        return 2
    failed = 0
    for script in scripts:
        args = [sys.executable, str(script), *(["--quick"] if quick else [])]
        print(
            f"== {script.relative_to(folder.parent)} {' '.join(args[2:])}".rstrip(),
            file=out,
            flush=True,
        )
        # Its own session: Ctrl-C reaches us only, and we stop it without its traceback.
        with subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
            text=True,
        ) as process:
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    out.write(line)
                    out.flush()
                failed += process.wait() != 0
            except KeyboardInterrupt:
                process.terminate()
                process.wait()
                print("\ninterrupted", file=out, flush=True)
                return 130
    return 1 if failed else 0


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0: {text!r}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be within 0..65535: {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``inference-metrics`` console script."""
    parser = argparse.ArgumentParser(prog="inference-metrics")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_serve_command(commands)
    demo = commands.add_parser("demo", help="a live synthetic workload: 3 models x 2 versions")
    demo.add_argument("--duration", type=_positive, default=30.0, help="seconds to run (30)")
    demo.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port of /metrics and /dashboard on {_HOST} ({DEFAULT_PORT}; 0: free)",
    )
    demo.add_argument("--rate", type=_positive, default=300.0, help="requests per second (300)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the workload (7)")
    demo.add_argument(
        "--refresh",
        type=_positive,
        default=None,
        help="seconds between tables (1 on a terminal, 5 otherwise)",
    )
    demo.add_argument(
        "--export-file",
        type=Path,
        default=DEFAULT_EXPORT_FILE,
        help=f"JSON-lines file of the periodic and final exports ({DEFAULT_EXPORT_FILE})",
    )
    bench = commands.add_parser("bench", help="run the benchmarks (source checkout only)")
    bench.add_argument("--quick", action="store_true", help="scaled-down sizes")
    report = commands.add_parser("report", help="a per-version table from a history store")
    report.add_argument(
        "--db", required=True, help="a SQLite file, or a postgresql:// URL (needs [postgres])"
    )
    report.add_argument("--since", default="24h", help="how far back: 30m, 24h, 7d (24h)")
    report.add_argument("--until", type=float, default=None, help="the end, a Unix time (now)")
    args = parser.parse_args(argv)
    if args.command == "bench":
        return run_bench(quick=args.quick)
    if args.command == "report":
        return run_report(args.db, args.since, args.until)
    if args.command == "serve":
        return serve_command(args)
    return run_demo(
        duration=args.duration,
        port=args.port,
        rate=args.rate,
        seed=args.seed,
        refresh=args.refresh,
        export_file=args.export_file,
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
