"""OTLPExporter against a real OTLP/HTTP receiver.

The receiver (below) is an ``http.server`` that decodes ``ExportMetricsServiceRequest``
bodies, gzip or plain, with ``opentelemetry-proto``. It is first proven against the
SDK's own pipeline (a ``MeterProvider`` exporting known values), then used to show
that what our exporter sends decodes to exactly what the snapshot holds.
"""

from __future__ import annotations

import gzip
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.exponential_histogram.mapping.logarithm_mapping import (
    LogarithmMapping,
)
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from exporters.otlp import GRACE_SECONDS, SCOPE_NAME, OTLPExporter, OTLPExportError
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.facade import Metrics
from metrics_core.registry.aggregating import DEFAULT_TIMER_BUCKETS_MS, AggregatingRegistry
from metrics_core.sketch import SCALE, BucketData, bucket_index, quantiles
from metrics_core.snapshot import CounterSeries, DistributionSeries, Snapshot

CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
V1 = {"model_name": "bert", "version": "v1"}
V2 = {"model_name": "bert", "version": "v2"}
LATENCIES_MS = (0.0, 3.0, 8.0, 8.5, 64.0, 100.0, 250.0, 1_000.0, 1_000.0, 4_096.0)
# Exact powers of two sit on bucket bounds: they prove the upper-inclusive convention.
SKETCH_VALUES = (-1_000.0, -2.0, -0.75, 0.0, 0.0, 0.001, 1.0, 2.0, 3.0, 1024.0, 1e6, 7e9)


# -- the receiver -------------------------------------------------------------------------


class Received:
    """One request as the receiver got it."""

    def __init__(self, path: str, headers: dict[str, str], body: bytes) -> None:
        self.path = path
        self.headers = headers
        self.body = body
        raw = gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
        self.message = ExportMetricsServiceRequest.FromString(raw)

    def metrics(self) -> dict[str, metrics_pb2.Metric]:
        """Every metric of the request by name (one resource and scope expected)."""
        (resource_metrics,) = self.message.resource_metrics
        (scope_metrics,) = resource_metrics.scope_metrics
        return {metric.name: metric for metric in scope_metrics.metrics}

    def resource(self) -> dict[str, Any]:
        (resource_metrics,) = self.message.resource_metrics
        return attributes(resource_metrics.resource.attributes)


class Receiver:
    """An OTLP/HTTP metrics endpoint on 127.0.0.1 that answers ``status``."""

    def __init__(self, status: int = 200, retry_after: str | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {key.lower(): value for key, value in self.headers.items()}
                receiver.received.append(Received(self.path, headers, body))
                payload = ExportMetricsServiceResponse().SerializeToString()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                if receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/metrics"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def last(self) -> Received:
        assert self.received, "the receiver got no request"
        return self.received[-1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SilentServer:
    """Accepts connections and never answers; or, with ``trickle``, answers one byte at a
    time, slowly enough that no single read ever times out."""

    def __init__(self, trickle: float | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1/metrics"
        self.trickle = trickle
        self.stopped = threading.Event()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed by stop()
                return
            self.connections.append(connection)
            if self.trickle is not None:
                threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        assert self.trickle is not None
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 1_000:
            if self.stopped.wait(self.trickle):
                return
            try:
                connection.sendall(bytes([byte]))
            except OSError:
                return

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    """``receiver(status=200)``: a started receiver, stopped at teardown."""
    started: list[Receiver] = []

    def start(status: int = 200, retry_after: str | None = None) -> Receiver:
        started.append(Receiver(status, retry_after))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def silent_server() -> Iterator[Callable[..., SilentServer]]:
    started: list[SilentServer] = []

    def start(trickle: float | None = None) -> SilentServer:
        started.append(SilentServer(trickle))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def attributes(pairs: Any) -> dict[str, Any]:
    """Decoded ``KeyValue`` pairs as a dict of plain values."""
    decoded: dict[str, Any] = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        decoded[pair.key] = getattr(pair.value, kind)
    return decoded


def points_by_version(metric: metrics_pb2.Metric) -> dict[str, Any]:
    data = getattr(metric, str(metric.WhichOneof("data")))
    return {attributes(point.attributes)["version"]: point for point in data.data_points}


def decoded_sketch(point: metrics_pb2.ExponentialHistogramDataPoint) -> BucketData:
    """The sketch an exponential-histogram point describes, rebuilt from the proto alone."""
    return BucketData(
        point.count,
        point.sum,
        point.min,
        point.max,
        point.zero_count,
        (point.positive.offset, tuple(point.positive.bucket_counts)),
        (point.negative.offset, tuple(point.negative.bucket_counts)),
    )


def nonzero(buckets: metrics_pb2.ExponentialHistogramDataPoint.Buckets) -> dict[int, int]:
    """``{bucket index: count}`` of the non-empty buckets."""
    return {buckets.offset + k: c for k, c in enumerate(buckets.bucket_counts) if c}


def nanos(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


@pytest.fixture
def snapshot(registry: AggregatingRegistry, clock: ManualClock) -> Snapshot:
    registry.counter(names.REQUESTS_TOTAL, V1, 7)
    registry.counter(names.REQUESTS_TOTAL, V2, 2)
    registry.counter(names.COST_TOTAL, V1, 0.125)
    registry.gauge(names.ACTIVE_CONNECTIONS, V1, 4)
    registry.gauge(names.MEMORY_USAGE, V2, 2.5e9)
    for latency in LATENCIES_MS:
        registry.timer(names.LATENCY, V1, latency)
    registry.timer(names.LATENCY, V2, 42.0)
    for tokens in (12.0, 180.0, 180.0, 950.0):
        registry.histogram(names.TOKEN_USAGE, {**V1, names.TOKEN_TYPE: "output"}, tokens)
    clock.advance(5.0)
    return registry.snapshot()


# -- the receiver, proven against the SDK's own pipeline ----------------------------------


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_receiver_decodes_what_the_sdk_sends(
    receiver: Callable[..., Receiver], compression: Compression
) -> None:
    server = receiver()
    sdk_exporter = OTLPMetricExporter(endpoint=server.url, compression=compression, timeout=5)
    reader = PeriodicExportingMetricReader(sdk_exporter, export_interval_millis=math.inf)
    provider = MeterProvider(
        metric_readers=[reader], resource=Resource.create({"service.name": "probe"})
    )
    try:
        meter = provider.get_meter("probe-scope")
        counter = meter.create_counter("probe.requests", unit="{request}")
        histogram = meter.create_histogram("probe.latency", unit="ms")
        counter.add(3, {"route": "a"})
        counter.add(4, {"route": "a"})
        for value in (1.0, 7.0, 30.0, 30.0):
            histogram.record(value, {"route": "a"})
        assert provider.force_flush(timeout_millis=5_000)
    finally:
        provider.shutdown()

    request = server.last()
    assert request.path == "/v1/metrics"
    assert request.headers["content-type"] == "application/x-protobuf"
    expected_encoding = "gzip" if compression is Compression.Gzip else None
    assert request.headers.get("content-encoding") == expected_encoding
    assert request.resource()["service.name"] == "probe"
    metrics = request.metrics()
    requests_sum = metrics["probe.requests"].sum
    assert (requests_sum.is_monotonic, requests_sum.aggregation_temporality) == (True, CUMULATIVE)
    (point,) = requests_sum.data_points
    assert (point.as_int, attributes(point.attributes)) == (7, {"route": "a"})
    (latency,) = metrics["probe.latency"].histogram.data_points
    assert metrics["probe.latency"].unit == "ms"
    assert (latency.count, latency.sum, latency.min, latency.max) == (4, 68.0, 1.0, 30.0)
    # The SDK's default bounds: 0, 5, 10, 25, 50, ...; 1 is in (0, 5], 7 in (5, 10], 30 in (25, 50].
    assert list(latency.explicit_bounds[:4]) == [0.0, 5.0, 10.0, 25.0]
    assert list(latency.bucket_counts[:5]) == [0, 1, 1, 0, 2]
    assert sum(latency.bucket_counts) == 4


# -- what our exporter sends --------------------------------------------------------------


def test_counters_go_out_as_monotonic_cumulative_sums(
    receiver: Callable[..., Receiver], snapshot: Snapshot, clock: ManualClock
) -> None:
    server = receiver()
    OTLPExporter(server.url).export(snapshot)

    requests_total = server.last().metrics()[names.REQUESTS_TOTAL]
    assert requests_total.unit == "{request}"
    assert requests_total.description == "Requests finished (completed or failed)."
    assert requests_total.sum.is_monotonic is True
    assert requests_total.sum.aggregation_temporality == CUMULATIVE
    points = points_by_version(requests_total)
    assert {version: point.as_double for version, point in points.items()} == {
        "v1": 7.0,
        "v2": 2.0,
    }
    assert attributes(points["v2"].attributes) == V2
    assert points["v1"].time_unix_nano == nanos(clock())
    (cost,) = server.last().metrics()[names.COST_TOTAL].sum.data_points
    assert (cost.as_double, server.last().metrics()[names.COST_TOTAL].unit) == (0.125, "USD")


def test_gauges_go_out_as_gauges(receiver: Callable[..., Receiver], snapshot: Snapshot) -> None:
    server = receiver()
    OTLPExporter(server.url).export(snapshot)

    metrics = server.last().metrics()
    (connections,) = metrics[names.ACTIVE_CONNECTIONS].gauge.data_points
    (memory,) = metrics[names.MEMORY_USAGE].gauge.data_points
    assert (connections.as_double, attributes(connections.attributes)) == (4.0, V1)
    assert (memory.as_double, metrics[names.MEMORY_USAGE].unit) == (2.5e9, "By")
    assert connections.time_unix_nano == nanos(snapshot.taken_at)


def test_timers_go_out_as_the_sketch_in_milliseconds(
    receiver: Callable[..., Receiver], snapshot: Snapshot
) -> None:
    server = receiver()
    OTLPExporter(server.url).export(snapshot)

    latency = server.last().metrics()[names.LATENCY]
    assert latency.WhichOneof("data") == "exponential_histogram"
    assert latency.unit == "ms"
    assert latency.exponential_histogram.aggregation_temporality == CUMULATIVE
    point = points_by_version(latency)["v1"]
    series = snapshot.get(names.LATENCY, V1)
    assert isinstance(series, DistributionSeries)
    sketch = series.all_time
    assert (point.scale, point.flags, point.zero_threshold) == (SCALE, 0, 0.0)
    assert (point.count, point.sum, point.min, point.max) == (10, math.fsum(LATENCIES_MS), 0, 4096)
    assert point.zero_count == 1
    assert point.positive.offset == sketch.positive[0]
    assert list(point.positive.bucket_counts) == list(sketch.positive[1])
    assert point.count == point.zero_count + sum(point.positive.bucket_counts)
    assert not point.HasField("negative")


def test_exponential_buckets_decode_to_the_sketchs_buckets_and_quantiles(
    receiver: Callable[..., Receiver], registry: AggregatingRegistry
) -> None:
    for value in SKETCH_VALUES:
        registry.histogram("drift_score", V1, value)
    snapshot = registry.snapshot()
    server = receiver()
    OTLPExporter(server.url).export(snapshot)

    (point,) = server.last().metrics()["drift_score"].exponential_histogram.data_points
    series = snapshot.get("drift_score", V1)
    assert isinstance(series, DistributionSeries)
    decoded = decoded_sketch(point)
    assert decoded.positive_buckets() == series.all_time.positive_buckets()
    assert decoded.negative_buckets() == series.all_time.negative_buckets()
    assert (decoded.count, decoded.zeros, decoded.total) == (12, 2, math.fsum(SKETCH_VALUES))
    assert (decoded.minimum, decoded.maximum) == (-1_000.0, 7e9)
    qs = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)
    assert quantiles(decoded, qs) == quantiles(series.all_time, qs)
    # OTLP's own definition: base = 2**(2**-scale), bucket i holds (base**i, base**(i+1)].
    base = 2.0 ** (2.0**-point.scale)
    for value in SKETCH_VALUES:
        if value == 0:
            continue
        buckets = point.positive if value > 0 else point.negative
        index = LogarithmMapping(point.scale).map_to_index(abs(value))
        assert bucket_index(abs(value)) == index, value
        assert buckets.bucket_counts[index - buckets.offset] >= 1
        assert base**index < abs(value) <= base ** (index + 1) * (1 + 1e-12)


def test_exponential_buckets_equal_the_sdks_own_aggregation(
    receiver: Callable[..., Receiver], registry: AggregatingRegistry
) -> None:
    """The SDK aggregating the same values at scale 6 sends the very same buckets."""
    values = [v for v in SKETCH_VALUES if v >= 0] + [0.37 * 1.07**k for k in range(200)]
    sdk_server = receiver()
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=sdk_server.url, timeout=5), export_interval_millis=math.inf
    )
    aggregation = ExponentialBucketHistogramAggregation(max_size=16_384, max_scale=SCALE)
    provider = MeterProvider(
        metric_readers=[reader], views=[View(instrument_name="*", aggregation=aggregation)]
    )
    try:
        histogram = provider.get_meter("probe").create_histogram("drift_score")
        for value in values:
            histogram.record(value, V1)
        assert provider.force_flush(timeout_millis=5_000)
    finally:
        provider.shutdown()
    for value in values:
        registry.histogram("drift_score", V1, value)
    ours = receiver()
    OTLPExporter(ours.url).export(registry.snapshot())

    metric = sdk_server.last().metrics()["drift_score"]
    (theirs,) = metric.exponential_histogram.data_points
    (mine,) = ours.last().metrics()["drift_score"].exponential_histogram.data_points
    assert theirs.scale == mine.scale == SCALE
    assert (mine.count, mine.zero_count, mine.min, mine.max) == (
        theirs.count,
        theirs.zero_count,
        theirs.min,
        theirs.max,
    )
    assert mine.sum == pytest.approx(theirs.sum, rel=1e-15)  # fsum vs running sum
    # The SDK sends its whole backing array, trailing zeros included; compare the buckets.
    assert nonzero(mine.positive) == nonzero(theirs.positive)
    assert len(nonzero(mine.positive)) > 150
    assert mine.positive.bucket_counts[0] > 0
    assert mine.positive.bucket_counts[-1] > 0


def test_explicit_buckets_send_the_registrys_counts(
    receiver: Callable[..., Receiver], snapshot: Snapshot
) -> None:
    server = receiver()
    OTLPExporter(server.url, explicit_buckets={names.LATENCY: None}).export(snapshot)

    metrics = server.last().metrics()
    latency = metrics[names.LATENCY]
    assert latency.WhichOneof("data") == "histogram"
    assert (latency.unit, latency.histogram.aggregation_temporality) == ("ms", CUMULATIVE)
    point = points_by_version(latency)["v1"]
    assert list(point.explicit_bounds) == list(DEFAULT_TIMER_BUCKETS_MS)
    # 0, 3 <= 5 | 8, 8.5 <= 10 | 64, 100 <= 100 | 250 | 1000 x2 | 4096 <= 5000
    assert list(point.bucket_counts) == [2, 2, 0, 0, 2, 1, 0, 2, 0, 1, 0, 0, 0, 0]
    assert (point.count, point.sum, point.min, point.max) == (10, math.fsum(LATENCIES_MS), 0, 4096)
    # Other distributions stay exponential.
    assert metrics[names.TOKEN_USAGE].WhichOneof("data") == "exponential_histogram"


def test_explicit_buckets_merge_exactly_to_coarser_bounds(
    receiver: Callable[..., Receiver], snapshot: Snapshot
) -> None:
    server = receiver()
    coarse: dict[str, list[float]] = {names.LATENCY: [10, 1_000], names.TOKEN_USAGE: [100, 1e3]}
    OTLPExporter(server.url, explicit_buckets=coarse).export(snapshot)

    metrics = server.last().metrics()
    latency = points_by_version(metrics[names.LATENCY])["v1"]
    assert list(latency.explicit_bounds) == [10.0, 1_000.0]
    assert list(latency.bucket_counts) == [4, 5, 1]
    (tokens,) = metrics[names.TOKEN_USAGE].histogram.data_points
    assert (list(tokens.bucket_counts), tokens.sum) == ([1, 3, 0], 1_322.0)


def test_explicit_bounds_the_registry_does_not_count_are_refused(snapshot: Snapshot) -> None:
    exporter = OTLPExporter("http://127.0.0.1:9/v1/metrics", explicit_buckets={names.LATENCY: [7]})
    with pytest.raises(ValueError, match=r"explicit_buckets\['model_inference_latency'\].*7.0"):
        exporter.export(snapshot)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": 0}, "'timeout' must be > 0 seconds and finite: 0"),
        ({"timeout": math.inf}, "'timeout' must be > 0 seconds and finite: inf"),
        ({"compression": "brotli"}, "'compression' must be one of gzip, deflate, none: 'brotli'"),
        ({"explicit_buckets": {"x": []}}, "'explicit_buckets['x']' must be a non-empty"),
        ({"explicit_buckets": {"x": [5, 1]}}, "'explicit_buckets['x']' must be a non-empty"),
        ({"explicit_buckets": {"x": [1, math.nan]}}, "'explicit_buckets['x']' must be a non-"),
        ({"explicit_buckets": {"x": [1, 10**400]}}, "'explicit_buckets['x']' must be a non-"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        OTLPExporter(**options)
    assert str(error.value).startswith(message)


def test_gzip_bodies_decode_to_the_same_request(
    receiver: Callable[..., Receiver], snapshot: Snapshot
) -> None:
    plain, zipped = receiver(), receiver()
    OTLPExporter(plain.url).export(snapshot)
    OTLPExporter(zipped.url, compression="gzip").export(snapshot)

    assert zipped.last().headers["content-encoding"] == "gzip"
    assert zipped.last().body[:2] == b"\x1f\x8b"
    assert "content-encoding" not in plain.last().headers
    assert zipped.last().message == plain.last().message
    assert len(zipped.last().body) < len(plain.last().body)


def test_resource_scope_and_headers(receiver: Callable[..., Receiver], snapshot: Snapshot) -> None:
    server = receiver()
    exporter = OTLPExporter(
        server.url,
        service_name="ranker",
        resource_attributes={"deployment.environment": "canary", "service.version": "2.1"},
        headers={"Authorization": "Bearer t0ken", "X-Tenant": "ml"},
    )
    exporter.export(snapshot)

    request = server.last()
    resource = request.resource()
    assert resource["service.name"] == "ranker"
    assert resource["deployment.environment"] == "canary"
    assert resource["service.version"] == "2.1"
    assert resource["telemetry.sdk.name"] == "opentelemetry"
    assert (request.headers["authorization"], request.headers["x-tenant"]) == ("Bearer t0ken", "ml")
    (scope_metrics,) = request.message.resource_metrics[0].scope_metrics
    assert scope_metrics.scope.name == SCOPE_NAME


def test_cumulative_start_times_are_stable_and_move_on_reset(
    receiver: Callable[..., Receiver], registry: AggregatingRegistry, clock: ManualClock
) -> None:
    server = receiver()
    exporter = OTLPExporter(server.url)

    def export() -> dict[str, Any]:
        exporter.export(registry.snapshot())
        metrics = server.last().metrics()
        points = {}
        if names.REQUESTS_TOTAL in metrics:
            points.update(points_by_version(metrics[names.REQUESTS_TOTAL]))
        if names.LATENCY in metrics:
            points["latency"] = metrics[names.LATENCY].exponential_histogram.data_points[0]
        return points

    registry.counter(names.REQUESTS_TOTAL, V1, 1)
    registry.timer(names.LATENCY, V1, 5.0)
    t0 = clock()
    first = export()
    # Before the exporter existed, by this clock: the series start at the first snapshot.
    assert first["v1"].start_time_unix_nano == first["v1"].time_unix_nano == nanos(t0)

    clock.advance(10.0)
    registry.counter(names.REQUESTS_TOTAL, V1, 1)
    registry.counter(names.REQUESTS_TOTAL, V2, 5)  # new since the first export
    registry.timer(names.LATENCY, V1, 6.0)
    second = export()
    assert second["v1"].start_time_unix_nano == nanos(t0)
    assert second["latency"].start_time_unix_nano == nanos(t0)
    assert (second["v1"].time_unix_nano, second["v1"].as_double) == (nanos(t0 + 10), 2.0)
    assert second["v2"].start_time_unix_nano == nanos(t0)  # after the last snapshot without it

    clock.advance(10.0)
    third = export()
    assert [third[k].start_time_unix_nano for k in ("v1", "v2", "latency")] == [nanos(t0)] * 3

    # A reset: the registry forgets everything, the counters start again lower.
    registry.clear()
    clock.advance(10.0)
    registry.counter(names.REQUESTS_TOTAL, V1, 1)
    registry.counter(names.REQUESTS_TOTAL, V2, 9)
    registry.timer(names.LATENCY, V1, 7.0)
    fourth = export()
    assert fourth["v1"].start_time_unix_nano == nanos(t0 + 20)  # total fell: 2 -> 1
    assert fourth["latency"].start_time_unix_nano == nanos(t0 + 20)  # count fell: 2 -> 1
    # v2 grew (5 -> 9) across the reset: undetectable from totals alone, so it keeps its start.
    assert fourth["v2"].start_time_unix_nano == nanos(t0)

    # A series missing from a snapshot (expired, cleared) restarts when it comes back.
    registry.clear()
    clock.advance(10.0)
    registry.timer(names.LATENCY, V1, 1.0)
    assert set(export()) == {"latency"}
    clock.advance(10.0)
    registry.counter(names.REQUESTS_TOTAL, V1, 50)
    sixth = export()
    assert sixth["v1"].start_time_unix_nano == nanos(t0 + 40)
    # The latency count went 1 -> 1 across the clear: as undetectable as v2 above.
    assert sixth["latency"].start_time_unix_nano == nanos(t0 + 20)


def test_every_version_decodes_exactly_at_scale(
    receiver: Callable[..., Receiver], registry: AggregatingRegistry
) -> None:
    for n in range(1_000):
        tags = {"model_name": "ranker", "version": f"v{n}"}
        registry.counter(names.REQUESTS_TOTAL, tags, n)
        registry.timer(names.LATENCY, tags, 1.0 + n)
        registry.timer(names.LATENCY, tags, 2.0 * (1.0 + n))
    snapshot = registry.snapshot()
    server = receiver()
    OTLPExporter(server.url, compression="gzip").export(snapshot)

    metrics = server.last().metrics()
    totals = {k: p.as_double for k, p in points_by_version(metrics[names.REQUESTS_TOTAL]).items()}
    assert totals == {f"v{n}": float(n) for n in range(1_000)}
    latencies = points_by_version(metrics[names.LATENCY])
    for series in snapshot.distributions():
        point = latencies[series.tags["version"]]
        assert decoded_sketch(point) == BucketData(
            series.all_time.count,
            series.all_time.total,
            series.all_time.minimum,
            series.all_time.maximum,
            0,
            (series.all_time.positive[0], tuple(series.all_time.positive[1])),
            (0, ()),
        )


def test_an_empty_snapshot_sends_nothing(receiver: Callable[..., Receiver]) -> None:
    server = receiver()
    OTLPExporter(server.url).export(Snapshot(1.0, ()))
    assert server.received == []


# -- failures -----------------------------------------------------------------------------


def test_a_refused_export_raises_naming_the_status(
    receiver: Callable[..., Receiver], snapshot: Snapshot
) -> None:
    server = receiver(status=HTTPStatus.INTERNAL_SERVER_ERROR)
    with pytest.raises(OTLPExportError, match=r"failed: HTTP 500 Internal Server Error$"):
        OTLPExporter(server.url).export(snapshot)
    assert len(server.received) == 1  # a 500 is not retried


def test_no_collector_listening_raises(free_port: Callable[[], int], snapshot: Snapshot) -> None:
    exporter = OTLPExporter(f"http://127.0.0.1:{free_port()}/v1/metrics", timeout=0.2)
    with pytest.raises(OTLPExportError, match="Connection refused"):
        exporter.export(snapshot)


def test_close_shuts_down_and_later_exports_raise(
    receiver: Callable[..., Receiver], snapshot: Snapshot
) -> None:
    server = receiver()
    exporter = OTLPExporter(server.url)
    exporter.close()
    exporter.close()
    with pytest.raises(OTLPExportError, match="closed"):
        exporter.export(snapshot)
    assert server.received == []


def counted_errors(metrics: Metrics) -> dict[str, float]:
    return {
        series.tags["reason"]: series.total
        for series in metrics.snapshot().find(names.EXPORT_ERRORS_TOTAL)
        if isinstance(series, CounterSeries)
    }


# The one timed test: a bound, not a speed. Each case must give up within the exporter's
# timeout (plus its grace and some scheduling slack) and be counted by Metrics.export().
TIMEOUT = 0.5
SLACK = 0.5


@pytest.mark.parametrize("endpoint", ["500", "503", "503-retry-after-0", "hang", "trickle"])
def test_failing_endpoints_raise_within_the_timeout_and_are_counted(
    endpoint: str,
    receiver: Callable[..., Receiver],
    silent_server: Callable[..., SilentServer],
    registry: AggregatingRegistry,
) -> None:
    if endpoint == "hang":
        url = silent_server().url
    elif endpoint == "trickle":
        url = silent_server(trickle=0.05).url  # each read gets a byte well within the timeout
    else:
        status, _, retry_after = endpoint.partition("-retry-after-")
        url = receiver(status=int(status), retry_after=retry_after or None).url
    exporter = OTLPExporter(url, timeout=TIMEOUT)
    registry.counter(names.REQUESTS_TOTAL, V1, 1)

    began = time.monotonic()
    with pytest.raises(OTLPExportError):
        exporter.export(registry.snapshot())
    elapsed = time.monotonic() - began
    assert elapsed < TIMEOUT + GRACE_SECONDS + SLACK, elapsed

    if endpoint == "trickle":
        # The SDK is still reading: later exports fail at once instead of piling up.
        with pytest.raises(OTLPExportError, match=r"previous export .* still running"):
            exporter.export(registry.snapshot())
        return
    metrics = Metrics(bus=EventBus(), registry=registry, export_timeout=10.0)
    metrics.export_to(exporter)
    began = time.monotonic()
    (outcome,) = metrics.export()
    elapsed = time.monotonic() - began
    assert (outcome.exporter, outcome.status) == ("OTLPExporter", "error")
    assert elapsed < TIMEOUT + GRACE_SECONDS + SLACK, elapsed
    assert counted_errors(metrics) == {"error": 1.0}


# -- OpenTelemetry's environment variables -------------------------------------------------


OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
)


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in OTEL_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_environment_variables_configure_the_exporter(
    otel_env: pytest.MonkeyPatch, receiver: Callable[..., Receiver], snapshot: Snapshot
) -> None:
    server = receiver()
    base = server.url.removesuffix("/v1/metrics")
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base)
    otel_env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20t0ken, x-tenant=ml")
    otel_env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")
    otel_env.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    otel_env.setenv("OTEL_SERVICE_NAME", "ranker")
    otel_env.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=canary,team=ml")

    exporter = OTLPExporter()
    exporter.export(snapshot)

    assert (exporter.endpoint, exporter.timeout, exporter.compression) == (
        f"{base}/v1/metrics",
        2.5,
        "gzip",
    )
    request = server.last()
    assert request.path == "/v1/metrics"
    assert request.headers["authorization"] == "Bearer t0ken"
    assert request.headers["x-tenant"] == "ml"
    assert request.headers["content-encoding"] == "gzip"
    resource = request.resource()
    assert (resource["service.name"], resource["deployment.environment"], resource["team"]) == (
        "ranker",
        "canary",
        "ml",
    )


def test_metrics_specific_variables_win_and_explicit_arguments_win_over_both(
    otel_env: pytest.MonkeyPatch,
) -> None:
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318/")
    otel_env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
    otel_env.setenv("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "3000")
    otel_env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=generic")
    otel_env.setenv("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "a=metrics,b=2")
    otel_env.setenv("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "GZIP")
    otel_env.setenv("OTEL_SERVICE_NAME", "from-env")

    from_env = OTLPExporter()
    assert from_env.endpoint == "http://generic:4318/v1/metrics"
    assert (from_env.timeout, from_env.compression) == (3.0, "gzip")
    assert from_env.headers == {"a": "metrics", "b": "2"}

    otel_env.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:9000/custom")
    assert OTLPExporter().endpoint == "http://metrics:9000/custom"

    explicit = OTLPExporter(
        "http://explicit:4318/v1/metrics",
        timeout=7.0,
        compression="none",
        headers={"b": "mine"},
        service_name="explicit",
    )
    assert (explicit.endpoint, explicit.timeout, explicit.compression) == (
        "http://explicit:4318/v1/metrics",
        7.0,
        "none",
    )
    assert explicit.headers == {"a": "metrics", "b": "mine"}
    assert explicit.resource.attributes["service.name"] == "explicit"


def test_without_variables_the_defaults_hold(otel_env: pytest.MonkeyPatch) -> None:
    exporter = OTLPExporter()

    assert (exporter.endpoint, exporter.timeout, exporter.compression) == (
        "http://127.0.0.1:4318/v1/metrics",
        10.0,
        "none",
    )
    assert exporter.headers == {}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon", "'OTEL_EXPORTER_OTLP_TIMEOUT' must be a positive"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "-1", "'OTEL_EXPORTER_OTLP_METRICS_TIMEOUT'"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli", "'OTEL_EXPORTER_OTLP_COMPRESSION' must be"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "novalue", "'OTEL_EXPORTER_OTLP_HEADERS' must be key=value"),
    ],
)
def test_bad_variables_are_refused_naming_the_variable(
    otel_env: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    otel_env.setenv(variable, value)
    with pytest.raises(ValueError) as error:
        OTLPExporter()
    assert str(error.value).startswith(message)
    assert repr(value) in str(error.value)
