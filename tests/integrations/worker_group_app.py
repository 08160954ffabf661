"""The FastAPI app of the worker group tests, served by real uvicorn and gunicorn workers.

``INFERENCE_METRICS_MULTIPROC_DIR`` makes every worker's ``Metrics`` join one group:
the app itself is the one of docs/integrations.md, unchanged.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from collectors import InferenceCollector
from integrations import metrics_app
from metrics_core import EventBus, Metrics, names

metrics = Metrics(bus=EventBus()).collect(InferenceCollector())
# The series exists at 0 before the first request: Prometheus's first sample is 0.
metrics.registry.counter(names.REQUESTS_TOTAL, {"model_name": "bert", "version": "v1"}, 0.0)
app = FastAPI()


@app.get("/predict")
def predict(fail: int = 0, version: str = "v1", latency: float = 5.0) -> dict[str, int]:
    """One request of bert ``version``; ``fail=1`` records a timeout."""
    error = "timeout" if fail else None
    metrics.record_inference("bert", version, latency, success=not fail, error_type=error)
    return {"pid": os.getpid()}


app.mount("/obs", metrics_app(metrics))
