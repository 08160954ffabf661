"""Canonical metric names, shared by collectors, queries and exporters.

Names follow the per-version spec (``model_inference_requests_total`` ...) and
the OpenTelemetry GenAI semantic conventions for LLM metrics (``gen_ai.*``).
Tag keys: ``model_name`` and ``version`` on every per-model series.
docs/metrics.md has the full table.
"""

from __future__ import annotations

MODEL_NAME = "model_name"
"""Tag key of the model name."""
VERSION = "version"
"""Tag key of the model version."""
ERROR_TYPE = "error_type"
"""Tag key of the error type on error counters."""
TOKEN_TYPE = "gen_ai.token.type"
"""Tag key of the token type (``input``, ``output``, ``cached``), as OpenTelemetry GenAI."""

REQUESTS_TOTAL = "model_inference_requests_total"
"""Counter: requests finished (completed or failed)."""
ERRORS_TOTAL = "model_inference_errors_total"
"""Counter: failed requests, tagged with ``error_type``."""
LATENCY = "model_inference_latency"
"""Timer (ms): end-to-end latency of every finished request."""
IN_FLIGHT = "model_inference_in_flight"
"""Gauge: requests started and not yet finished."""
ACTIVE_CONNECTIONS = "model_active_connections"
"""Gauge: active connections as last reported."""
MEMORY_USAGE = "model_memory_usage_bytes"
"""Gauge: memory used by a version, as last reported."""
TIME_TO_FIRST_TOKEN = "gen_ai.server.time_to_first_token"
"""Timer (ms): time to the first streamed token."""
TOKEN_USAGE = "gen_ai.client.token.usage"
"""Histogram: tokens per request, tagged with ``gen_ai.token.type``; its sum is the token total."""
TIME_PER_OUTPUT_TOKEN = "gen_ai.server.time_per_output_token"
"""Timer (ms): decode time per output token after the first, of streamed requests."""
COST_TOTAL = "model_inference_cost_usd_total"
"""Counter: cost in US dollars."""
BATCH_SIZE = "model_inference_batch_size"
"""Histogram: batch size of requests that reported ``batch_size > 1``; the unbatched
ones are ``requests_total`` minus its count."""

EXPORT_ERRORS_TOTAL = "metrics_export_errors_total"
"""Counter: failed, timed-out or skipped exports, tagged with ``exporter`` and ``reason``
(``error``, ``timeout`` or ``busy``)."""
LISTENER_ERRORS_TOTAL = "metrics_listener_errors_total"
"""Counter: event listeners that raised, tagged with ``event`` and ``listener``."""
OVERFLOW_TOTAL = "metrics_cardinality_overflow_total"
"""Counter: values folded into an ``overflow`` series, tagged with ``metric``."""
