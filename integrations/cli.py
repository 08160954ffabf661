"""The ``inference-metrics`` command."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from collectors import InferenceCollector
from exporters import ConsoleExporter
from integrations.workload import DEFAULT_PROFILES, SyntheticWorkload
from metrics_core import EventBus, Metrics


def run_demo(duration: float, interval: float, rate: float) -> int:
    """Drive a synthetic 3-model x 2-version workload and print the table every ``interval``."""
    bus = EventBus()
    metrics = Metrics(bus=bus).collect(InferenceCollector())
    metrics.export_to(ConsoleExporter(window=60.0))
    workload = SyntheticWorkload(bus, rate=rate)
    print(
        f"inference-metrics demo: {len(DEFAULT_PROFILES)} versions, ~{rate:.0f} req/s, "
        f"{duration:.0f} s, table every {interval:.0f} s (Ctrl-C stops)",
        flush=True,
    )
    workload.start()
    metrics.start_auto_export(interval)
    try:
        time.sleep(duration)
    except KeyboardInterrupt:
        print("\ninterrupted: final export", flush=True)
    finally:
        workload.stop()
        metrics.close()  # stops auto-export, exports a last time, closes exporters
    print(f"\n{workload.emitted} requests emitted. Canary verdicts (last 5 min):")
    candidates: dict[str, list[str]] = {}
    for profile in DEFAULT_PROFILES:
        candidates.setdefault(profile.model_name, []).append(profile.version)
    for model_name, (baseline, candidate) in candidates.items():
        result = metrics.compare(model_name, baseline, candidate, window=300)
        print(
            f"  {model_name}: {candidate} vs {baseline}: {result.verdict.value} "
            f"(p95 {result.p95_latency_delta_ms:+.1f} ms, "
            f"error rate {result.error_rate_delta * 100:+.2f} pts, "
            f"latency p={result.latency_test.p_value:.2g}, "
            f"errors p={result.error_test.p_value:.2g})"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``inference-metrics`` console script."""
    parser = argparse.ArgumentParser(prog="inference-metrics")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a synthetic multi-version workload")
    demo.add_argument("--duration", type=float, default=20.0, help="seconds to run (20)")
    demo.add_argument("--interval", type=float, default=2.0, help="seconds between tables (2)")
    demo.add_argument("--rate", type=float, default=300.0, help="requests per second (300)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return run_demo(args.duration, args.interval, args.rate)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
