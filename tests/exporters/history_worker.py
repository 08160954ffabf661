"""One process writing a history store, for the multi-process and SIGKILL tests.

``python history_worker.py BACKEND TARGET WRITER MINUTES [SERIES]`` records, with a
``ManualClock`` from ``START``, one request per series and second for ``MINUTES``
minutes, exporting after each minute; ``MINUTES`` = 0 loops forever (until killed),
writing ever later minutes. ``BACKEND`` is ``sqlite`` (``TARGET`` a file) or
``postgres`` (``TARGET`` a DSN). Prints ``exported N`` after each export.
"""

from __future__ import annotations

import itertools
import sys

from collectors import InferenceCollector
from exporters import PostgresStore, SQLiteStore
from metrics_core import EventBus, ManualClock, Metrics

START = 1_700_000_040.0  # a whole minute


def main() -> None:
    """Run the worker described in the module docstring."""
    backend, target, writer, minutes = sys.argv[1:5]
    series = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    store = (SQLiteStore if backend == "sqlite" else PostgresStore)(
        target, writer=writer, timeout=30.0
    )
    clock = ManualClock(START)
    metrics = Metrics(bus=EventBus(), clock=clock, history=store, export_timeout=60.0)
    metrics.collect(InferenceCollector())
    count = int(minutes)
    for minute in itertools.count() if count == 0 else range(count):
        for second in range(60):
            clock.set(START + minute * 60 + second)
            for version in range(series):
                metrics.record_inference("bert", f"v{version}", 10.0 + second, success=True)
        clock.set(START + (minute + 1) * 60 + 0.5)
        outcome = metrics.export()[0]
        if outcome.status != "ok":
            print(f"failed {outcome.error}", flush=True)
            sys.exit(1)
        print(f"exported {minute}", flush=True)
    store.close()


if __name__ == "__main__":
    main()
