"""A worker process for the worker group tests: ``python group_member.py DIR N ERRORS THEN``.

Records ``N`` requests of bert:v1 (the first ``ERRORS`` failed as ``timeout``) and two
active connections, then ``close`` (stops gracefully), ``exit`` (exits without
closing), ``hold`` (waits to be killed) or ``churn`` (records without end, to be
killed mid-write; 300 versions make each publication take a while).
"""

from __future__ import annotations

import sys
import time

from collectors import InferenceCollector
from metrics_core import EventBus, Metrics
from metrics_core.workers import WorkerGroupOptions


def main() -> None:
    directory, requests, errors, then = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    options = WorkerGroupOptions(directory=directory, interval=0.02 if then == "churn" else 0.05)
    metrics = Metrics(bus=EventBus(), multiproc=options).collect(InferenceCollector())
    metrics.record_active_connections("bert", "v1", 2)
    for i in range(requests):
        failed = i < errors
        metrics.record_inference(
            "bert", "v1", 10.0 + i, success=not failed, error_type="timeout" if failed else None
        )
    print("recorded", flush=True)
    if then == "close":
        metrics.close()
    elif then == "hold":
        time.sleep(120)
    elif then == "churn":
        i = 0
        while True:
            i += 1
            metrics.record_inference("bert", f"v{i % 300}", 12.0, success=True)


if __name__ == "__main__":
    main()
