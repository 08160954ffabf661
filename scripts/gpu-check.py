"""Run GpuCollector against the real NVML of this machine and print what it recorded.

For machines with an NVIDIA GPU and driver (the tests cover the no-driver path and
the data path against a stand-in): ``python scripts/gpu-check.py [--seconds S]``.
Exits 1 when NVML could not be initialized or nothing was recorded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors import GpuCollector
from metrics_core import EventBus, Metrics
from metrics_core.snapshot import GaugeSeries


def main() -> int:
    """Sample for a few seconds, print every GPU series; 1 if nothing was recorded."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to sample")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    args = parser.parse_args()
    collector = GpuCollector(interval=args.interval)
    metrics = Metrics(bus=EventBus()).collect(collector)
    print(f"nvml active: {collector.active}, gpus: {collector.gpu_count}")
    time.sleep(args.seconds)
    snapshot = metrics.snapshot()
    metrics.close()
    series = [s for s in snapshot if s.name.startswith("gpu_") and isinstance(s, GaugeSeries)]
    for s in sorted(series, key=lambda s: (s.name, sorted(s.tags.items()))):
        print(f"{s.name}{dict(s.tags)} = {s.value:g}")
    return 0 if collector.gpu_count and series else 1


if __name__ == "__main__":
    sys.exit(main())
