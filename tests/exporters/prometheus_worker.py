"""One worker of a service: records a seeded workload and serves it to Prometheus.

``python prometheus_worker.py PORT SEED`` builds ``Metrics`` with an
``InferenceCollector`` and a ``PrometheusExporter`` serving on ``127.0.0.1:PORT``,
records ``workload(SEED)`` once, then once more for every ``emit`` line read on
stdin; it exits at the end of stdin or when terminated. Tests import
``workload`` to know exactly what every worker recorded.
"""

from __future__ import annotations

import random
import sys

MODEL = "llama"
VERSIONS = ("v1", "v2")
ERROR_TYPES = ("timeout", "oom")

Request = tuple[str, float, str | None]
"""(version, latency in ms, error type or None for a success)."""


def workload(seed: int, size: int = 400) -> list[Request]:
    """The requests one worker records per batch: the same for the same seed."""
    rng = random.Random(seed)
    requests: list[Request] = []
    for _ in range(size):
        version = rng.choice(VERSIONS)
        # Log-normal around 40 ms (v2 slower), spanning several default buckets.
        latency = round(rng.lognormvariate(3.7 if version == "v1" else 4.2, 0.6), 3)
        error = rng.choice(ERROR_TYPES) if rng.random() < 0.05 else None
        requests.append((version, latency, error))
    return requests


def main(port: int, seed: int) -> None:
    """Serve on ``port`` and record ``workload(seed)`` now and on every ``emit`` line."""
    from collectors import InferenceCollector
    from exporters.prometheus import PrometheusExporter
    from metrics_core.bus import EventBus
    from metrics_core.facade import Metrics

    metrics = Metrics(bus=EventBus()).collect(InferenceCollector())
    prometheus = PrometheusExporter()
    metrics.export_to(prometheus)
    prometheus.serve(port=port)

    def record() -> None:
        for version, latency, error in workload(seed):
            metrics.record_inference(MODEL, version, latency, error is None, error)
        print("emitted", flush=True)

    record()
    for line in sys.stdin:
        if line.strip() == "emit":
            record()
    prometheus.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
