"""``OTLPExporter``: snapshots as OpenTelemetry metrics over OTLP/HTTP (protobuf).

Each export builds one ``MetricsData`` (one resource, one instrumentation scope)
and sends it with the OpenTelemetry SDK's ``OTLPMetricExporter``. Every point
is cumulative: counters are monotonic sums of their all-time total, gauges are
gauges, histograms and timers are exponential histograms holding the registry's
sketch exactly as it is (or explicit-bucket histograms for the metrics named in
``explicit_buckets``). Attributes are the series' tags.

The sketch is base-2 exponential at scale 6 and, like OTLP, its bucket ``i``
holds ``(2**(i/64), 2**((i+1)/64)]``: offsets, counts, exact zeros, negative
buckets, count, sum, min and max go out unchanged. Timers therefore stay in
milliseconds (unit ``ms``): seconds would shift every bucket bound by
``log2(1000) * 64`` buckets, not a whole number, so no exact re-bucketing exists.

``start_time_unix_nano`` of a cumulative series is stable from export to export.
A series' start is the time of the last snapshot this exporter saw without it
(for the first export: the exporter's creation, or the snapshot's time if that
is earlier). A series that vanished from a snapshot (expired) or whose total or
count fell has been reset, and gets a new start.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from itertools import accumulate, pairwise
from typing import Any, Literal

import requests
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from exporters._naming import description, otlp_unit
from exporters._otel_env import (
    DEFAULT_ENDPOINT,
    resolve_compression,
    resolve_endpoint,
    resolve_headers,
    resolve_timeout,
)
from exporters._settings import check_http_url
from metrics_core._validation import check_seconds
from metrics_core.sketch import SCALE
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries, Snapshot
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

__all__ = ["DEFAULT_ENDPOINT", "GRACE_SECONDS", "SCOPE_NAME", "OTLPExportError", "OTLPExporter"]

SCOPE_NAME = "inference-metrics"
"""The instrumentation scope every metric is sent under."""

GRACE_SECONDS = 0.5
"""How long past ``timeout`` an export waits for the SDK before giving up on it."""

CompressionName = Literal["gzip", "deflate", "none"]
"""A request body compression the exporter accepts."""

_COMPRESSIONS: dict[str, Compression] = {
    "gzip": Compression.Gzip,
    "deflate": Compression.Deflate,
    "none": Compression.NoCompression,
}
_CUMULATIVE = AggregationTemporality.CUMULATIVE
_NO_FLAGS = 0
_NO_REQUEST = "no request was made"
_SeriesKey = tuple[MetricKind, str, Tags]


class OTLPExportError(RuntimeError):
    """An export the OTLP endpoint did not accept, or that ran out of time."""


class OTLPExporter:
    """Send snapshots as OpenTelemetry metrics to an OTLP/HTTP endpoint.

    Unset arguments come from OpenTelemetry's standard environment variables
    (``OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT``, ``_HEADERS``, ``_TIMEOUT`` in ms,
    ``_COMPRESSION``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``) as the
    specification defines them, then the defaults below; explicit arguments win.

    :param endpoint: the full URL of the metrics endpoint, path included
        (``DEFAULT_ENDPOINT`` when neither given nor set in the environment).
    :param service_name: the ``service.name`` resource attribute; when ``None``,
        ``OTEL_SERVICE_NAME`` or the SDK's ``unknown_service`` default.
    :param resource_attributes: more resource attributes (``deployment.environment``,
        ...); merged over the SDK's defaults and ``OTEL_RESOURCE_ATTRIBUTES``.
    :param timeout: seconds one request may take, retries included (10 by default);
        ``export`` returns or raises ``OTLPExportError`` within ``timeout`` plus
        ``GRACE_SECONDS``.
    :param headers: HTTP headers of every request (authentication, tenant, ...),
        merged over the environment's.
    :param compression: ``"gzip"``, ``"deflate"`` or ``"none"`` (the default).
    :param explicit_buckets: metrics sent as explicit-bucket histograms instead of
        exponential ones, by name. ``None`` sends the bounds the registry counts for
        that metric (``AggregatingRegistry(buckets=...)``); a sequence must hold only
        such bounds, so that merging adjacent buckets gives exact counts (timers in ms).

    >>> exporter = OTLPExporter("http://collector:4318/v1/metrics", service_name="ranker")
    >>> exporter.endpoint, exporter.timeout
    ('http://collector:4318/v1/metrics', 10.0)
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        service_name: str | None = None,
        resource_attributes: Mapping[str, str | bool | int | float] | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        compression: CompressionName | None = None,
        explicit_buckets: Mapping[str, Sequence[float] | None] | None = None,
    ) -> None:
        endpoint = resolve_endpoint(endpoint)
        timeout = check_seconds(resolve_timeout(timeout), "timeout")
        compression_name = resolve_compression(compression)
        headers = resolve_headers(headers)
        if compression_name not in _COMPRESSIONS:
            raise ValueError(f"'compression' must be one of gzip, deflate, none: {compression!r}")
        self.endpoint = check_http_url(endpoint, "endpoint")
        self.timeout = float(timeout)
        self.compression = compression_name
        self.headers: Mapping[str, str] = headers
        self._explicit = {
            name: None if bounds is None else _checked_bounds(name, bounds)
            for name, bounds in (explicit_buckets or {}).items()
        }
        attributes = dict(resource_attributes or {})
        if service_name is not None:
            attributes[SERVICE_NAME] = service_name
        self.resource: Resource = Resource.create(attributes)
        self._scope = InstrumentationScope(SCOPE_NAME, _package_version())
        # A session of our own, to name the HTTP status or connection error in our error:
        # the SDK only returns FAILURE.
        self._session = _RecordingSession()
        self._sdk = OTLPMetricExporter(
            endpoint=endpoint,
            headers=dict(headers),
            timeout=self.timeout,
            compression=_COMPRESSIONS[compression_name],
            session=self._session,
        )
        self._lock = threading.Lock()
        self._created_ns = time.time_ns()
        self._last_ns: int | None = None
        self._starts: dict[_SeriesKey, tuple[int, float]] = {}
        self._running: threading.Thread | None = None
        self._closed = False

    def export(self, snapshot: Snapshot) -> None:
        """Send ``snapshot``; raises ``OTLPExportError`` if it was not accepted in time."""
        deadline = time.monotonic() + self.timeout + GRACE_SECONDS
        if self._closed:
            raise OTLPExportError("the exporter is closed")
        data = self._metrics_data(snapshot)
        if data.resource_metrics[0].scope_metrics[0].metrics:
            self._send(data, deadline)

    def close(self) -> None:
        """Shut the SDK exporter down: a retry waiting out its backoff stops at once."""
        if self._closed:
            return
        self._closed = True
        self._sdk.shutdown()

    def __repr__(self) -> str:
        return (
            f"OTLPExporter(endpoint={self.endpoint!r}, timeout={self.timeout!r}, "
            f"compression={self.compression!r})"
        )

    # -- sending -------------------------------------------------------------------------

    def _send(self, data: MetricsData, deadline: float) -> None:
        # The SDK bounds its requests and retries by ``timeout`` since 1.35; before that
        # it retried 5xx answers for about a minute. It cannot bound a DNS lookup or a
        # server that trickles its answer either. So the call runs in a thread of its
        # own that is abandoned past the deadline; while it still runs, exports fail fast.
        with self._lock:
            if self._running is not None and self._running.is_alive():
                raise OTLPExportError(f"the previous export to {self.endpoint} is still running")
            outcome: list[MetricExportResult | Exception] = []
            thread = threading.Thread(
                target=self._call_sdk, args=(data, outcome), name="otlp-export", daemon=True
            )
            self._running = thread
            self._session.last = _NO_REQUEST
            thread.start()
        thread.join(max(0.0, deadline - time.monotonic()))
        if not outcome:
            raise OTLPExportError(f"no answer from {self.endpoint} within {self.timeout}s")
        result = outcome[0]
        if isinstance(result, Exception):
            raise OTLPExportError(f"export to {self.endpoint} failed: {result!r}") from result
        if result is not MetricExportResult.SUCCESS:
            raise OTLPExportError(f"export to {self.endpoint} failed: {self._session.last}")

    def _call_sdk(self, data: MetricsData, outcome: list[MetricExportResult | Exception]) -> None:
        try:
            outcome.append(self._sdk.export(data, timeout_millis=self.timeout * 1000.0))
        except Exception as error:  # reported to the caller, never lost in the thread
            outcome.append(error)

    # -- conversion ----------------------------------------------------------------------

    def _metrics_data(self, snapshot: Snapshot) -> MetricsData:
        now = _nanos(snapshot.taken_at)
        starts = self._advance_starts(snapshot, now)
        grouped: dict[tuple[str, MetricKind], list[Any]] = {}
        for series in snapshot.series:
            attributes = dict(series.tags.items_tuple())
            key = (series.name, series.kind)
            # Numbers as doubles: an int would go out as ``as_int`` and mix types in a metric.
            if isinstance(series, GaugeSeries):
                point: Any = NumberDataPoint(attributes, 0, now, float(series.value))
            elif isinstance(series, CounterSeries):
                start = starts[(series.kind, series.name, series.tags)][0]
                point = NumberDataPoint(attributes, start, now, float(series.total))
            else:
                if series.count == 0:  # no observation: min and max are undefined
                    continue
                start = starts[(series.kind, series.name, series.tags)][0]
                point = self._distribution_point(series, attributes, start, now)
            grouped.setdefault(key, []).append(point)
        metrics = [self._metric(name, kind, points) for (name, kind), points in grouped.items()]
        scope = ScopeMetrics(self._scope, metrics, "")
        return MetricsData([ResourceMetrics(self.resource, [scope], "")])

    def _advance_starts(self, snapshot: Snapshot, now: int) -> dict[_SeriesKey, tuple[int, float]]:
        """The start of every cumulative series of ``snapshot``; kept for the next export.

        Only the series of this snapshot are kept, so the memory follows the registry's.
        """
        with self._lock:
            fresh = self._last_ns if self._last_ns is not None else min(self._created_ns, now)
            starts: dict[_SeriesKey, tuple[int, float]] = {}
            for series in snapshot.series:
                if isinstance(series, GaugeSeries):
                    continue
                key = (series.kind, series.name, series.tags)
                level = series.total if isinstance(series, CounterSeries) else series.count
                known = self._starts.get(key)
                start = known[0] if known is not None and level >= known[1] else fresh
                starts[key] = (start, level)
            self._starts = starts
            self._last_ns = now if self._last_ns is None else max(self._last_ns, now)
            return starts

    def _distribution_point(
        self, series: DistributionSeries, attributes: dict[str, str], start: int, now: int
    ) -> ExponentialHistogramDataPoint | HistogramDataPoint:
        data = series.all_time
        if series.name in self._explicit:
            bounds, counts = _coarsened(series, self._explicit[series.name])
            return HistogramDataPoint(
                attributes, start, now, data.count, data.total, counts, bounds,
                data.minimum, data.maximum,
            )  # fmt: skip
        positive_offset, positive = data.positive
        negative_offset, negative = data.negative
        return ExponentialHistogramDataPoint(
            attributes=attributes,
            start_time_unix_nano=start,
            time_unix_nano=now,
            count=data.count,
            sum=data.total,
            scale=SCALE,
            zero_count=data.zeros,
            positive=Buckets(positive_offset, list(positive)),
            negative=Buckets(negative_offset, list(negative)),
            flags=_NO_FLAGS,
            min=data.minimum,
            max=data.maximum,
        )

    def _metric(self, name: str, kind: MetricKind, points: list[Any]) -> Metric:
        data: Sum | Gauge | Histogram | ExponentialHistogram
        if kind is MetricKind.COUNTER:
            data = Sum(points, _CUMULATIVE, is_monotonic=True)
        elif kind is MetricKind.GAUGE:
            data = Gauge(points)
        elif name in self._explicit:
            data = Histogram(points, _CUMULATIVE)
        else:
            data = ExponentialHistogram(points, _CUMULATIVE)
        return Metric(name, description(name), otlp_unit(name, kind), data)


class _RecordingSession(requests.Session):
    """A ``requests`` session that remembers how its last request ended."""

    def __init__(self) -> None:
        super().__init__()
        self.last = _NO_REQUEST

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            response = super().request(*args, **kwargs)
        except Exception as error:
            self.last = f"{type(error).__name__}: {error}"
            raise
        self.last = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
        return response


def _coarsened(
    series: DistributionSeries, wanted: tuple[float, ...] | None
) -> tuple[list[float], list[int]]:
    """The series' explicit buckets, merged down to the ``wanted`` bounds."""
    bounds, counts = series.bucket_bounds, series.bucket_counts
    if wanted is None or wanted == bounds:
        return list(bounds), list(counts)
    position = {bound: i for i, bound in enumerate(bounds)}
    missing = [bound for bound in wanted if bound not in position]
    if missing:
        raise ValueError(
            f"explicit_buckets[{series.name!r}] has bounds the registry does not count, "
            f"{missing!r}; it counts {list(bounds)!r}"
        )
    # Bucket i of the registry counts values in (bounds[i-1], bounds[i]], as OTLP's do, so
    # a coarser bucket is the difference of two cumulative counts.
    cumulative = list(accumulate(counts))
    merged: list[int] = []
    below = 0
    for bound in wanted:
        upto = cumulative[position[bound]]
        merged.append(upto - below)
        below = upto
    merged.append(cumulative[-1] - below)
    return list(wanted), merged


def _checked_bounds(name: str, bounds: Sequence[float]) -> tuple[float, ...]:
    try:
        values = tuple(float(bound) for bound in bounds)
    except (TypeError, ValueError, OverflowError):  # "x", None, 10**400
        values = ()
    increasing = all(low < high for low, high in pairwise(values))
    if not values or not increasing or not all(math.isfinite(v) for v in values):
        raise ValueError(
            f"'explicit_buckets[{name!r}]' must be a non-empty increasing sequence of "
            f"finite numbers, or None: {bounds!r}"
        )
    return values


def _nanos(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


def _package_version() -> str | None:
    try:
        return metadata.version("inference-metrics")
    except metadata.PackageNotFoundError:  # running from a source tree
        return None
