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

DESCRIPTIONS: dict[str, str] = {
    REQUESTS_TOTAL: "Requests finished (completed or failed).",
    ERRORS_TOTAL: "Failed requests by error type.",
    LATENCY: "End-to-end latency of finished requests.",
    IN_FLIGHT: "Requests started and not yet finished.",
    ACTIVE_CONNECTIONS: "Active connections as last reported.",
    MEMORY_USAGE: "Memory used by a model version as last reported.",
    TIME_TO_FIRST_TOKEN: "Time to the first streamed token.",
    TOKEN_USAGE: "Tokens per request by token type.",
    TIME_PER_OUTPUT_TOKEN: "Decode time per output token after the first.",
    COST_TOTAL: "Cost of requests in US dollars.",
    BATCH_SIZE: "Batch size of batched requests.",
    EXPORT_ERRORS_TOTAL: "Failed, timed-out or skipped exports by exporter and reason.",
    LISTENER_ERRORS_TOTAL: "Event listeners that raised, by event and listener.",
    OVERFLOW_TOTAL: "Values folded into an overflow series by the cardinality limit.",
}
"""One line on each metric the library records; exporters use it as help text."""

UNITS: dict[str, str] = {
    REQUESTS_TOTAL: "{request}",
    ERRORS_TOTAL: "{request}",
    LATENCY: "ms",
    IN_FLIGHT: "{request}",
    ACTIVE_CONNECTIONS: "{connection}",
    MEMORY_USAGE: "By",
    TIME_TO_FIRST_TOKEN: "ms",
    TOKEN_USAGE: "{token}",
    TIME_PER_OUTPUT_TOKEN: "ms",
    COST_TOTAL: "USD",
    BATCH_SIZE: "{request}",
    EXPORT_ERRORS_TOTAL: "{export}",
    LISTENER_ERRORS_TOTAL: "{error}",
    OVERFLOW_TOTAL: "{value}",
}
"""The UCUM unit of each metric as recorded (timers in ``ms``; exporters send seconds)."""
