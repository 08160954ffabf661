"""Integrations: tracking decorators, the ASGI middleware and metrics app, the dashboard, the demo.

Nothing optional is imported here: ``uvicorn`` is loaded by ``serve_app`` when called, and
``prometheus_client`` by the metrics app on its first ``/metrics`` request.
"""

from integrations.asgi import UNMATCHED_ROUTE, MetricsMiddleware, RouteOf
from integrations.dashboard import DASHBOARD_CONTENT_TYPE, dashboard_html
from integrations.metrics_app import MetricsApp, metrics_app
from integrations.server import RunningServer, serve_app
from integrations.tracking import InferenceSpan, current_span, inference_span, track_inference
from integrations.workload import DEFAULT_PROFILES, SyntheticWorkload, VersionProfile, canary_pairs

__all__ = [
    "DASHBOARD_CONTENT_TYPE",
    "DEFAULT_PROFILES",
    "UNMATCHED_ROUTE",
    "InferenceSpan",
    "MetricsApp",
    "MetricsMiddleware",
    "RouteOf",
    "RunningServer",
    "SyntheticWorkload",
    "VersionProfile",
    "canary_pairs",
    "current_span",
    "dashboard_html",
    "inference_span",
    "metrics_app",
    "serve_app",
    "track_inference",
]
