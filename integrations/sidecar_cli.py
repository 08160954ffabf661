"""The ``serve`` command's arguments and ``--version``, kept out of ``cli.py``."""

from __future__ import annotations

import argparse
import math
from importlib import metadata
from typing import Any

from integrations.sidecar import DEFAULT_SIDECAR_PORT, run_sidecar

__all__ = ["add_serve_command", "package_version", "serve_command"]


def package_version() -> str:
    """The installed distribution's version (``unknown`` when run from a bare checkout)."""
    try:
        return metadata.version("inference-metrics")
    except metadata.PackageNotFoundError:
        return "unknown"


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be within 0..65535: {text!r}")
    return value


def _interval(text: str) -> float:
    value = float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0: {text!r}")
    return value


def add_serve_command(commands: Any) -> None:
    """Add ``serve`` to the ``inference-metrics`` subcommands."""
    serve = commands.add_parser(
        "serve", help="a sidecar serving host and GPU metrics, /metrics and the dashboard"
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_SIDECAR_PORT,
        help=f"port to serve on ({DEFAULT_SIDECAR_PORT}; 0: a free one)",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (127.0.0.1; 0.0.0.0: every one)"
    )
    serve.add_argument("--system", action="store_true", help="host and process metrics (psutil)")
    serve.add_argument("--gpu", action="store_true", help="GPU metrics (NVML)")
    serve.add_argument(
        "--interval", type=_interval, default=5.0, help="seconds between samples (5)"
    )


def serve_command(args: argparse.Namespace) -> int:
    """Run ``serve`` with its parsed arguments."""
    return run_sidecar(
        port=args.port, host=args.host, gpu=args.gpu, system=args.system, interval=args.interval
    )
