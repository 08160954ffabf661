"""Canonical metric names, shared by collectors, queries and exporters.

Names follow the per-version spec (``model_inference_requests_total`` ...) and
the OpenTelemetry GenAI semantic conventions for LLM metrics (``gen_ai.*``).
Tag keys: ``model_name`` and ``version`` on every per-model series.
docs/metrics.md has the full table.
"""

from __future__ import annotations

from metrics_core.values import MetricKind

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
STREAM_CHUNKS = "model_inference_stream_chunks"
"""Histogram: chunks yielded per streamed response (completed requests that reported
``stream_chunks``)."""
TOTAL_TOKENS = "model_inference_total_tokens"
"""Histogram: input plus output tokens of one request (``LlmCollector``)."""
STREAM_CHARS = "model_inference_stream_chars"
"""Histogram: characters one streamed response yielded (``LlmCollector``)."""
STREAM_CHUNKS_PER_SECOND = "model_inference_stream_chunks_per_second"
"""Histogram: chunks per second of a streamed response, from its first chunk (``LlmCollector``)."""

EXPORT_ERRORS_TOTAL = "metrics_export_errors_total"
"""Counter: failed, timed-out or skipped exports, tagged with ``exporter`` and ``reason``
(``error``, ``timeout`` or ``busy``)."""
LISTENER_ERRORS_TOTAL = "metrics_listener_errors_total"
"""Counter: event listeners that raised, tagged with ``event`` and ``listener``."""
OVERFLOW_TOTAL = "metrics_cardinality_overflow_total"
"""Counter: values folded into an ``overflow`` series, tagged with ``metric``."""
WORKER_GROUP_SKIPPED_FILES_TOTAL = "metrics_worker_group_skipped_files_total"
"""Counter: files of a worker group's directory that reads skipped, tagged with ``reason``
(``corrupt``, ``foreign`` or ``stale``)."""

# -- controlling what is recorded (metrics_core.control) ----------------------------------

SAMPLING_KIND = "kind"
"""Tag key of the sampled traffic kind: ``requests``, ``streams`` or ``errors``."""
SAMPLING_RATE = "model_inference_sampling_rate"
"""Gauge (0..1): share of a version's requests of one ``kind`` whose distributions
(latency, TTFT, time per output token, batch size, stream chunks) are recorded."""
DIMENSION_OVERFLOW_TOTAL = "metrics_dimension_overflow_total"
"""Counter: attribute values recorded as ``_other`` past a kept key's value limit,
tagged with ``dimension``."""
FILTER_ERRORS_TOTAL = "metrics_filter_errors_total"
"""Counter: event filters that raised or returned something else than an event of the
same class, tagged with ``filter``."""
RECORDING_ENABLED = "metrics_recording_enabled"
"""Gauge: 1 while the ``Metrics`` facade records, 0 while it is switched off."""
SHEDDING_LEVEL = "metrics_load_shedding_level"
"""Gauge: the load-shedding step in force: 0 normal, 1 distributions thinned, 2 counters only."""
SHEDDING_CHANGES_TOTAL = "metrics_load_shedding_changes_total"
"""Counter: load-shedding step changes, tagged with the ``level`` entered."""

# -- host and process (SystemCollector) ---------------------------------------------------

DIRECTION = "direction"
"""Tag key of the I/O direction: ``read``/``write`` for disks, ``transmit``/``receive`` for
networks, as OpenTelemetry's system conventions."""
SYSTEM_CPU = "system_cpu_percent"
"""Gauge (%): host CPU use over the last sample interval, 0..100."""
PROCESS_CPU = "process_cpu_percent"
"""Gauge (%): this process's CPU use over the last sample interval; above 100 on several cores."""
PROCESS_RSS = "process_memory_rss_bytes"
"""Gauge: resident set size of this process."""
SYSTEM_MEMORY_USED = "system_memory_used_bytes"
"""Gauge: host memory in use."""
SYSTEM_MEMORY_AVAILABLE = "system_memory_available_bytes"
"""Gauge: host memory available to new processes without swapping."""
SYSTEM_DISK_IO = "system_disk_io_bytes_total"
"""Counter: bytes read from and written to the host's disks, tagged ``direction``."""
SYSTEM_NETWORK_IO = "system_network_io_bytes_total"
"""Counter: bytes sent and received by the host's interfaces, tagged ``direction``."""
PROCESS_OPEN_FDS = "process_open_file_descriptors"
"""Gauge: file descriptors this process holds open (POSIX only)."""
PROCESS_THREADS = "process_threads"
"""Gauge: threads of this process."""

# -- GPU (GpuCollector) -------------------------------------------------------------------

GPU = "gpu"
"""Tag key of the GPU index, as NVML numbers them."""
PID = "pid"
"""Tag key of a process id."""
GPU_UTILIZATION = "gpu_utilization_percent"
"""Gauge (%): time a kernel ran on the GPU over NVML's last sample period."""
GPU_MEMORY_USED = "gpu_memory_used_bytes"
"""Gauge: GPU memory in use."""
GPU_MEMORY_TOTAL = "gpu_memory_total_bytes"
"""Gauge: GPU memory installed."""
GPU_TEMPERATURE = "gpu_temperature_celsius"
"""Gauge (Cel): GPU die temperature."""
GPU_POWER = "gpu_power_watts"
"""Gauge (W): GPU power draw."""
GPU_PROCESS_MEMORY = "gpu_process_memory_used_bytes"
"""Gauge: GPU memory used by one compute process, tagged ``gpu`` and ``pid``; 0 once it is gone."""

# -- model quality (QualityCollector) -----------------------------------------------------

DRIFT_KIND = "kind"
"""Tag key of the kind of drift score (``distribution``, ``confidence`` ...)."""
PREDICTED_CLASS = "predicted_class"
"""Tag key of the class a model predicted."""
EXPECTED = "expected"
"""Tag key of the ground-truth class of an evaluated prediction."""
ACTUAL = "actual"
"""Tag key of the class the model predicted, in an evaluated prediction."""
CLASS = "class"
"""Tag key of the class a per-class score is about."""
AVERAGE = "average"
"""Tag key of how a score averages over classes: ``binary``, ``macro`` or ``per_class``
(scikit-learn's ``average``)."""
DRIFT_SCORE = "model_drift_score"
"""Gauge: the last drift score measured, tagged ``kind``."""
DRIFT_ALERTS_TOTAL = "model_drift_alerts_total"
"""Counter: drift measurements whose score was strictly above their threshold, tagged ``kind``."""
PREDICTION_CONFIDENCE = "model_prediction_confidence"
"""Histogram: confidence (0..1) of completed requests that reported one."""
PREDICTIONS_TOTAL = "model_predictions_total"
"""Counter: completed requests by ``predicted_class``."""
EVALUATIONS_TOTAL = "model_prediction_evaluations_total"
"""Counter: evaluated predictions by ``expected`` and ``actual`` class, the confusion matrix;
any window's precision, recall and F1 are computed from it."""
PRECISION = "model_prediction_precision"
"""Gauge: precision over the quality collector's window, tagged ``average`` (and ``class``)."""
RECALL = "model_prediction_recall"
"""Gauge: recall over the quality collector's window, tagged ``average`` (and ``class``)."""
F1 = "model_prediction_f1"
"""Gauge: F1 over the quality collector's window, tagged ``average`` (and ``class``)."""
ACCURACY = "model_prediction_accuracy"
"""Gauge: evaluated predictions that were correct over the quality collector's window."""

# -- reliability (ReliabilityCollector) ---------------------------------------------------

BREAKER = "breaker"
"""Tag key of the circuit breaker's name."""
FROM_STATE = "from"
"""Tag key of the state a circuit breaker left."""
TO_STATE = "to"
"""Tag key of the state a circuit breaker entered."""
RETRIES_TOTAL = "model_inference_retries_total"
"""Counter: retries, tagged with the ``error_type`` that caused them."""
RETRY_DELAY = "model_inference_retry_delay"
"""Timer (ms): the back-off before each retry."""
ERROR_CATEGORY = "error_category"
"""Tag key of an error's category (``metrics_core.errors``): ``timeout``, ``rate_limit``, ..."""
OUTCOME = "outcome"
"""Tag key of how a retried request ended: ``succeeded`` or ``failed``."""
RETRIED_REQUESTS_TOTAL = "model_inference_retried_requests_total"
"""Counter: requests that were retried, by ``outcome`` (``succeeded`` after retries, ``failed``)."""
RETRY_TOTAL_DELAY = "model_inference_retry_total_delay"
"""Timer (ms): the back-off of one retried request, all its retries together."""
RETRIES_PER_REQUEST = "model_inference_retries_per_request"
"""Histogram: retries of one retried request."""
CIRCUIT_BREAKER_STATE = "model_circuit_breaker_state"
"""Gauge: circuit breaker state, 0 closed, 1 half-open, 2 open; tagged ``breaker``."""
CIRCUIT_BREAKER_TRANSITIONS_TOTAL = "model_circuit_breaker_transitions_total"
"""Counter: circuit breaker state changes, tagged ``breaker``, ``from`` and ``to``."""

# -- HTTP server (HttpCollector), the OpenTelemetry HTTP semantic conventions --------------

HTTP_ROUTE = "http.route"
"""Tag key of the matched route template (``/items/{item_id}``), never the raw path."""
HTTP_METHOD = "http.request.method"
"""Tag key of the request method: a known method, else ``_OTHER``."""
HTTP_STATUS_CODE = "http.response.status_code"
"""Tag key of the response status code."""
URL_SCHEME = "url.scheme"
"""Tag key of the URL scheme, ``http`` or ``https``."""
HTTP_ERROR_TYPE = "error.type"
"""Tag key of the exception class name of requests whose app raised (OpenTelemetry's)."""
HTTP_SERVER_DURATION = "http.server.request.duration"
"""Timer (ms): request start to the last response body byte, tagged ``http.route``,
``http.request.method``, ``http.response.status_code``, ``url.scheme`` (and ``error.type``)."""
HTTP_SERVER_ACTIVE_REQUESTS = "http.server.active_requests"
"""Gauge: requests in flight, tagged ``http.request.method`` and ``url.scheme``."""

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
    STREAM_CHUNKS: "Chunks yielded per streamed response.",
    TOTAL_TOKENS: "Input plus output tokens per request.",
    STREAM_CHARS: "Characters yielded per streamed response.",
    STREAM_CHUNKS_PER_SECOND: "Chunks per second of a streamed response, from its first chunk.",
    EXPORT_ERRORS_TOTAL: "Failed, timed-out or skipped exports by exporter and reason.",
    LISTENER_ERRORS_TOTAL: "Event listeners that raised, by event and listener.",
    OVERFLOW_TOTAL: "Values folded into an overflow series by the cardinality limit.",
    WORKER_GROUP_SKIPPED_FILES_TOTAL: "Files of the worker group's directory that reads skipped.",
    SAMPLING_RATE: "Share of requests whose distributions are recorded, by kind.",
    DIMENSION_OVERFLOW_TOTAL: "Attribute values folded into _other past a dimension's limit.",
    FILTER_ERRORS_TOTAL: "Event filters that failed, by filter.",
    RECORDING_ENABLED: "Whether recording is switched on (1) or off (0).",
    SHEDDING_LEVEL: "Load-shedding step: 0 normal, 1 distributions thinned, 2 counters only.",
    SHEDDING_CHANGES_TOTAL: "Load-shedding step changes, by level entered.",
    SYSTEM_CPU: "Host CPU use over the last sample interval.",
    PROCESS_CPU: "CPU use of this process over the last sample interval (per core, summed).",
    PROCESS_RSS: "Resident set size of this process.",
    SYSTEM_MEMORY_USED: "Host memory in use.",
    SYSTEM_MEMORY_AVAILABLE: "Host memory available without swapping.",
    SYSTEM_DISK_IO: "Bytes read from and written to the host's disks.",
    SYSTEM_NETWORK_IO: "Bytes sent and received by the host's network interfaces.",
    PROCESS_OPEN_FDS: "File descriptors open in this process.",
    PROCESS_THREADS: "Threads of this process.",
    GPU_UTILIZATION: "Time a kernel ran on the GPU over NVML's sample period.",
    GPU_MEMORY_USED: "GPU memory in use.",
    GPU_MEMORY_TOTAL: "GPU memory installed.",
    GPU_TEMPERATURE: "GPU temperature.",
    GPU_POWER: "GPU power draw.",
    GPU_PROCESS_MEMORY: "GPU memory used by one process.",
    DRIFT_SCORE: "Last drift score measured, by kind.",
    DRIFT_ALERTS_TOTAL: "Drift measurements above their threshold, by kind.",
    PREDICTION_CONFIDENCE: "Confidence of predictions.",
    PREDICTIONS_TOTAL: "Predictions by predicted class.",
    EVALUATIONS_TOTAL: "Evaluated predictions by expected and actual class (confusion matrix).",
    PRECISION: "Precision of evaluated predictions over the collector's window.",
    RECALL: "Recall of evaluated predictions over the collector's window.",
    F1: "F1 score of evaluated predictions over the collector's window.",
    ACCURACY: "Share of evaluated predictions that were correct over the collector's window.",
    RETRIES_TOTAL: "Retries by the error type that caused them.",
    RETRY_DELAY: "Back-off delay before each retry.",
    RETRIED_REQUESTS_TOTAL: "Retried requests by outcome: succeeded after retries, or failed.",
    RETRY_TOTAL_DELAY: "Back-off of one retried request, all its retries together.",
    RETRIES_PER_REQUEST: "Retries of one retried request.",
    CIRCUIT_BREAKER_STATE: "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
    CIRCUIT_BREAKER_TRANSITIONS_TOTAL: "Circuit breaker state changes by from and to state.",
    HTTP_SERVER_DURATION: "Duration of HTTP server requests, to the end of the response body.",
    HTTP_SERVER_ACTIVE_REQUESTS: "HTTP server requests in flight.",
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
    STREAM_CHUNKS: "{chunk}",
    TOTAL_TOKENS: "{token}",
    STREAM_CHARS: "{character}",
    STREAM_CHUNKS_PER_SECOND: "{chunk}/s",
    EXPORT_ERRORS_TOTAL: "{export}",
    LISTENER_ERRORS_TOTAL: "{error}",
    OVERFLOW_TOTAL: "{value}",
    WORKER_GROUP_SKIPPED_FILES_TOTAL: "{file}",
    SAMPLING_RATE: "1",
    DIMENSION_OVERFLOW_TOTAL: "{value}",
    FILTER_ERRORS_TOTAL: "{error}",
    RECORDING_ENABLED: "1",
    SHEDDING_LEVEL: "1",
    SHEDDING_CHANGES_TOTAL: "{change}",
    SYSTEM_CPU: "%",
    PROCESS_CPU: "%",
    PROCESS_RSS: "By",
    SYSTEM_MEMORY_USED: "By",
    SYSTEM_MEMORY_AVAILABLE: "By",
    SYSTEM_DISK_IO: "By",
    SYSTEM_NETWORK_IO: "By",
    PROCESS_OPEN_FDS: "{file_descriptor}",
    PROCESS_THREADS: "{thread}",
    GPU_UTILIZATION: "%",
    GPU_MEMORY_USED: "By",
    GPU_MEMORY_TOTAL: "By",
    GPU_TEMPERATURE: "Cel",
    GPU_POWER: "W",
    GPU_PROCESS_MEMORY: "By",
    DRIFT_SCORE: "1",
    DRIFT_ALERTS_TOTAL: "{alert}",
    PREDICTION_CONFIDENCE: "1",
    PREDICTIONS_TOTAL: "{prediction}",
    EVALUATIONS_TOTAL: "{prediction}",
    PRECISION: "1",
    RECALL: "1",
    F1: "1",
    ACCURACY: "1",
    RETRIES_TOTAL: "{retry}",
    RETRY_DELAY: "ms",
    RETRIED_REQUESTS_TOTAL: "{request}",
    RETRY_TOTAL_DELAY: "ms",
    RETRIES_PER_REQUEST: "{retry}",
    CIRCUIT_BREAKER_STATE: "1",
    CIRCUIT_BREAKER_TRANSITIONS_TOTAL: "{transition}",
    HTTP_SERVER_DURATION: "ms",
    HTTP_SERVER_ACTIVE_REQUESTS: "{request}",
}
"""The UCUM unit of each metric as recorded (timers in ``ms``; exporters send seconds)."""

KINDS: dict[str, MetricKind] = {
    REQUESTS_TOTAL: MetricKind.COUNTER,
    ERRORS_TOTAL: MetricKind.COUNTER,
    LATENCY: MetricKind.TIMER,
    IN_FLIGHT: MetricKind.GAUGE,
    ACTIVE_CONNECTIONS: MetricKind.GAUGE,
    MEMORY_USAGE: MetricKind.GAUGE,
    TIME_TO_FIRST_TOKEN: MetricKind.TIMER,
    TOKEN_USAGE: MetricKind.HISTOGRAM,
    TIME_PER_OUTPUT_TOKEN: MetricKind.TIMER,
    COST_TOTAL: MetricKind.COUNTER,
    BATCH_SIZE: MetricKind.HISTOGRAM,
    STREAM_CHUNKS: MetricKind.HISTOGRAM,
    TOTAL_TOKENS: MetricKind.HISTOGRAM,
    STREAM_CHARS: MetricKind.HISTOGRAM,
    STREAM_CHUNKS_PER_SECOND: MetricKind.HISTOGRAM,
    EXPORT_ERRORS_TOTAL: MetricKind.COUNTER,
    LISTENER_ERRORS_TOTAL: MetricKind.COUNTER,
    OVERFLOW_TOTAL: MetricKind.COUNTER,
    WORKER_GROUP_SKIPPED_FILES_TOTAL: MetricKind.COUNTER,
    SAMPLING_RATE: MetricKind.GAUGE,
    DIMENSION_OVERFLOW_TOTAL: MetricKind.COUNTER,
    FILTER_ERRORS_TOTAL: MetricKind.COUNTER,
    RECORDING_ENABLED: MetricKind.GAUGE,
    SHEDDING_LEVEL: MetricKind.GAUGE,
    SHEDDING_CHANGES_TOTAL: MetricKind.COUNTER,
    SYSTEM_CPU: MetricKind.GAUGE,
    PROCESS_CPU: MetricKind.GAUGE,
    PROCESS_RSS: MetricKind.GAUGE,
    SYSTEM_MEMORY_USED: MetricKind.GAUGE,
    SYSTEM_MEMORY_AVAILABLE: MetricKind.GAUGE,
    SYSTEM_DISK_IO: MetricKind.COUNTER,
    SYSTEM_NETWORK_IO: MetricKind.COUNTER,
    PROCESS_OPEN_FDS: MetricKind.GAUGE,
    PROCESS_THREADS: MetricKind.GAUGE,
    GPU_UTILIZATION: MetricKind.GAUGE,
    GPU_MEMORY_USED: MetricKind.GAUGE,
    GPU_MEMORY_TOTAL: MetricKind.GAUGE,
    GPU_TEMPERATURE: MetricKind.GAUGE,
    GPU_POWER: MetricKind.GAUGE,
    GPU_PROCESS_MEMORY: MetricKind.GAUGE,
    DRIFT_SCORE: MetricKind.GAUGE,
    DRIFT_ALERTS_TOTAL: MetricKind.COUNTER,
    PREDICTION_CONFIDENCE: MetricKind.HISTOGRAM,
    PREDICTIONS_TOTAL: MetricKind.COUNTER,
    EVALUATIONS_TOTAL: MetricKind.COUNTER,
    PRECISION: MetricKind.GAUGE,
    RECALL: MetricKind.GAUGE,
    F1: MetricKind.GAUGE,
    ACCURACY: MetricKind.GAUGE,
    RETRIES_TOTAL: MetricKind.COUNTER,
    RETRY_DELAY: MetricKind.TIMER,
    RETRIED_REQUESTS_TOTAL: MetricKind.COUNTER,
    RETRY_TOTAL_DELAY: MetricKind.TIMER,
    RETRIES_PER_REQUEST: MetricKind.HISTOGRAM,
    CIRCUIT_BREAKER_STATE: MetricKind.GAUGE,
    CIRCUIT_BREAKER_TRANSITIONS_TOTAL: MetricKind.COUNTER,
    HTTP_SERVER_DURATION: MetricKind.TIMER,
    HTTP_SERVER_ACTIVE_REQUESTS: MetricKind.GAUGE,
}
"""The kind of each metric the library records; exporters' mapping tables follow from it."""
