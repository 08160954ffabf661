"""metrics_app over real HTTP: Prometheus text, JSON queries, the SSE stream, errors."""

from __future__ import annotations

import json
import math
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Mount

from collectors import InferenceCollector
from exporters.prometheus import PrometheusExporter
from integrations.asgi import MetricsMiddleware, metrics_app
from integrations.dashboard import DASHBOARD_CONTENT_TYPE, dashboard_html
from integrations.server import RunningServer, serve_app
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.facade import Metrics
from metrics_core.query import VersionMetrics
from metrics_core.registry import AggregatingRegistry

T0 = 1_700_000_000.0


def get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def get_json(url: str) -> tuple[int, Any]:
    status, _, body = get(url)
    return status, json.loads(body)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def metrics(clock: ManualClock) -> Iterator[Metrics]:
    metrics = Metrics(bus=EventBus(), registry=AggregatingRegistry(clock=clock))
    metrics.collect(InferenceCollector())
    yield metrics
    metrics.close()


@pytest.fixture
def server(metrics: Metrics) -> Iterator[RunningServer]:
    app = FastAPI()
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.mount("/observability", metrics_app(metrics, stream_interval=0.5))
    with serve_app(app) as running:
        yield running


def base(server: RunningServer) -> str:
    return server.url + "/observability"


def test_prometheus_text_has_exact_counters(metrics: Metrics, server: RunningServer) -> None:
    for n in range(7):
        metrics.record_inference("bert", "v1", latency_ms=10.0 + n, success=True)
    metrics.record_inference("bert", "v2", latency_ms=5.0, success=False, error_type="Timeout")
    status, headers, body = get(base(server) + "/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }
    requests = "model_inference_requests_total"
    assert samples[(requests, (("model_name", "bert"), ("version", "v1")))] == 7
    assert samples[(requests, (("model_name", "bert"), ("version", "v2")))] == 1
    errors = (("error_type", "Timeout"), ("model_name", "bert"), ("version", "v2"))
    assert samples[("model_inference_errors_total", errors)] == 1
    latency = (("model_name", "bert"), ("version", "v1"))
    assert samples[("model_inference_latency_seconds_count", latency)] == 7
    assert samples[("model_inference_latency_seconds_sum", latency)] == pytest.approx(0.091)


def test_metrics_uses_the_given_exporter_and_gzip(metrics: Metrics) -> None:
    metrics.record_inference("bert", "v1", latency_ms=10.0, success=True)
    exporter = PrometheusExporter(quantiles=())
    with serve_app(metrics_app(metrics, prometheus=exporter)) as running:
        request = urllib.request.Request(
            running.url + "/metrics", headers={"Accept-Encoding": "gzip"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["content-encoding"] == "gzip"
            import gzip

            text = gzip.decompress(response.read()).decode()
    assert text == exporter.render(metrics.snapshot())
    assert "_window_seconds" not in text  # no quantiles: no summaries


def expected_version(vm: VersionMetrics) -> dict[str, Any]:
    fields = {
        field.name: (
            None
            if isinstance(value := getattr(vm, field.name), float) and not math.isfinite(value)
            else dict(value)
            if field.name == "errors_by_type"
            else value
        )
        for field in attrs.fields(VersionMetrics)
    }
    return {**fields, "key": vm.key}


@pytest.mark.parametrize(
    ("window", "seconds"),
    [("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("90", 90.0), (None, 60.0)],
)
def test_versions_equal_get_all_metrics_field_by_field(
    metrics: Metrics, clock: ManualClock, server: RunningServer, window: str | None, seconds: float
) -> None:
    for n in range(20):
        metrics.record_inference(
            "bert",
            "v1",
            latency_ms=float(n),
            success=n % 5 != 0,
            error_type=None if n % 5 else "Oops",
        )
        metrics.record_inference("gpt", "v3", latency_ms=100.0 + n, success=True)
        clock.advance(1.0)
    metrics.record_memory_usage("gpt", "v3", 3 * 1024 * 1024)
    query = "" if window is None else f"?window={window}"
    status, payload = get_json(base(server) + "/metrics/versions" + query)
    assert status == 200
    assert payload["window_seconds"] == seconds
    expected = metrics.get_all_metrics(seconds)
    assert [v["key"] for v in payload["versions"]] == sorted(expected) == ["bert:v1", "gpt:v3"]
    for version in payload["versions"]:
        assert version == expected_version(expected[version["key"]])


@pytest.mark.parametrize("window", ["0", "-5s", "5x", "abc", "1e400", ""])
def test_a_bad_window_is_a_400_naming_it(server: RunningServer, window: str) -> None:
    for path in (
        "/metrics/versions",
        "/metrics/stream",
        "/metrics/compare?model=m&baseline=a&candidate=b&",
    ):
        sep = "&" if path.endswith("&") else "?"
        url = base(server) + path.rstrip("&") + f"{sep}window={window}"
        status, _, body = get(url)
        payload = json.loads(body)
        assert status == 400, (url, payload)
        assert (payload["parameter"], payload["value"]) == ("window", window)
        assert "window" in payload["error"]


def record_canary(metrics: Metrics) -> None:
    for n in range(200):
        metrics.record_inference("ranker", "v1", latency_ms=10.0 + n % 5, success=True)
        failed = n % 4 == 0
        metrics.record_inference(
            "ranker",
            "v2",
            latency_ms=40.0 + n % 5,
            success=not failed,
            error_type="Timeout" if failed else None,
        )


def test_compare_reports_a_clearly_worse_candidate(metrics: Metrics, server: RunningServer) -> None:
    record_canary(metrics)
    status, payload = get_json(
        base(server) + "/metrics/compare?model=ranker&baseline=v1&candidate=v2&window=5m"
    )
    assert status == 200
    comparison = metrics.compare("ranker", "v1", "v2", 300.0)
    assert payload["verdict"] == "worse" == comparison.verdict.value
    assert payload["model_name"] == "ranker"
    assert payload["window_seconds"] == 300.0
    assert payload["error_rate_delta"] == pytest.approx(0.25)
    assert payload["p50_latency_delta_ms"] == comparison.p50_latency_delta_ms
    assert payload["latency_test"]["p_value"] == comparison.latency_test.p_value
    assert payload["error_test"]["p_value"] == comparison.error_test.p_value
    assert payload["latency_test"]["n_candidate"] == 200
    assert payload["baseline"] == expected_version(comparison.baseline)
    assert payload["candidate"]["key"] == "ranker:v2"
    assert payload["candidate"]["errors_by_type"] == {"Timeout": 50}


@pytest.mark.parametrize(
    ("query", "parameter", "value"),
    [
        ("baseline=v1&candidate=v2", "model", None),
        ("model=ranker&candidate=v2", "baseline", None),
        ("model=ranker&baseline=v1", "candidate", None),
        ("model=ranker&baseline=v1&candidate=", "candidate", ""),
        ("model=nope&baseline=v1&candidate=v2", "model", "nope"),
        ("model=ranker&baseline=v9&candidate=v2", "baseline", "v9"),
        ("model=ranker&baseline=v1&candidate=v9", "candidate", "v9"),
    ],
)
def test_compare_names_a_missing_or_unknown_parameter(
    metrics: Metrics, server: RunningServer, query: str, parameter: str, value: str | None
) -> None:
    record_canary(metrics)
    status, _, body = get(base(server) + "/metrics/compare?" + query)
    payload = json.loads(body)
    assert status == 400
    assert (payload["parameter"], payload["value"]) == (parameter, value)
    assert f"'{parameter}'" in payload["error"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 404),
        ("GET", "/metrics/", 404),
        ("GET", "/metrics/nope", 404),
        ("GET", "/dashboardx", 404),
        ("POST", "/metrics", 405),
        ("PUT", "/metrics/versions", 405),
        ("DELETE", "/metrics/compare", 405),
        ("HEAD", "/metrics/stream", 405),
        ("POST", "/nope", 404),
    ],
)
def test_unknown_paths_404_and_other_methods_405(
    server: RunningServer, method: str, path: str, status: int
) -> None:
    got, headers, _ = get(base(server) + path, method=method)
    assert got == status
    if status == 405:
        assert headers["allow"] == "GET"


def test_served_alone_and_mounted_in_starlette(metrics: Metrics) -> None:
    metrics.record_inference("bert", "v1", latency_ms=1.0, success=True)
    app = metrics_app(metrics)
    with serve_app(app) as alone:
        assert get_json(alone.url + "/metrics/versions")[1]["versions"][0]["key"] == "bert:v1"
    starlette = Starlette(routes=[Mount("/deep/er", app=app)])
    with serve_app(starlette) as mounted:
        assert get_json(mounted.url + "/deep/er/metrics/versions")[0] == 200
        assert get(mounted.url + "/metrics/versions")[0] == 404


def test_dashboard_serves_the_dashboard_module_page(server: RunningServer) -> None:
    status, headers, body = get(base(server) + "/dashboard")
    assert status == 200
    assert headers["content-type"] == DASHBOARD_CONTENT_TYPE
    assert body == dashboard_html()


class EventStream:
    """A raw-socket SSE client: reads whole events, parses their data."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        self.buffer = b""
        head = self._until(b"\r\n\r\n")
        self.status_line, *lines = head.decode().split("\r\n")
        self.headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines)}

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buffer)
            self.buffer += chunk
        found, self.buffer = self.buffer.split(marker, 1)
        return found

    def event(self) -> tuple[str, dict[str, Any]]:
        # Chunked transfer: strip chunk-size lines, keep the SSE fields.
        text = self._until(b"\n\n").decode()
        fields = [line for line in text.split("\n") if ":" in line and not line.startswith("\r")]
        fields = [line.split("\r\n")[-1] for line in fields]
        values = dict(line.split(": ", 1) for line in fields if not line.startswith("retry"))
        return values["event"], json.loads(values["data"])

    def close(self) -> None:
        self.sock.close()


def test_the_stream_sends_at_once_then_every_interval(
    metrics: Metrics, clock: ManualClock, server: RunningServer
) -> None:
    metrics.record_inference("bert", "v1", latency_ms=3.0, success=True)
    started = time.monotonic()
    stream = EventStream(server.port, "/observability/metrics/stream?window=5m")
    try:
        assert stream.status_line == "HTTP/1.1 200 OK"
        assert stream.headers["content-type"] == "text/event-stream"
        assert stream.headers["cache-control"] == "no-cache"
        name, first = stream.event()
        first_at = time.monotonic() - started
        assert name == "metrics"
        assert first["window_seconds"] == 300.0
        assert [(v["key"], v["request_count"]) for v in first["versions"]] == [("bert:v1", 1)]
        for _ in range(4):
            metrics.record_inference("bert", "v1", latency_ms=3.0, success=True)
        metrics.record_inference("gpt", "v2", latency_ms=3.0, success=True)
        name, second = stream.event()
        second_at = time.monotonic() - started
        assert name == "metrics"
        assert [(v["key"], v["request_count"]) for v in second["versions"]] == [
            ("bert:v1", 5),
            ("gpt:v2", 1),
        ]
        assert second_at - first_at >= 0.4  # the interval is 0.5 s
    finally:
        stream.close()


def test_disconnecting_clients_release_the_server(metrics: Metrics) -> None:
    server = serve_app(metrics_app(metrics, stream_interval=0.2), shutdown_timeout=30)
    try:
        streams = [EventStream(server.port, "/metrics/stream") for _ in range(3)]
        for stream in streams:
            assert stream.event()[0] == "metrics"
        for stream in streams[:2]:
            stream.close()
        assert streams[2].event()[0] == "metrics"  # the others do not disturb it
    finally:
        started = time.monotonic()
        server.stop()
        took = time.monotonic() - started
    assert not server.running
    assert took < 10, f"stop() waited {took:.1f}s"  # not the 30 s shutdown timeout
    with pytest.raises(EOFError):  # the open stream was ended by the server
        while True:
            streams[2].event()
    streams[2].close()


def test_bad_settings_raise_naming_them(metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="'stream_interval' must be > 0 seconds: 0"):
        metrics_app(metrics, stream_interval=0)
    with pytest.raises(ValueError, match="'stream_window' must be > 0 seconds: -1"):
        metrics_app(metrics, stream_window=-1)


def test_stream_clients_share_one_query_per_interval(metrics: Metrics) -> None:
    app = metrics_app(metrics, stream_interval=0.2)
    queries: list[float] = []
    versions = app.versions

    def counted(window: float) -> dict[str, Any]:
        queries.append(window)
        return versions(window)

    app.versions = counted  # type: ignore[method-assign]
    metrics.record_inference("bert", "v1", latency_ms=3.0, success=True)
    with serve_app(app) as server:
        started = time.monotonic()
        streams = [EventStream(server.port, "/metrics/stream") for _ in range(8)]
        streams.append(EventStream(server.port, "/metrics/stream?window=5m"))
        try:
            received = 0
            for _ in range(5):
                for stream in streams:
                    name, payload = stream.event()
                    assert name == "metrics"
                    assert [v["key"] for v in payload["versions"]] == ["bert:v1"]
                    received += 1
        finally:
            elapsed = time.monotonic() - started
            for stream in streams:
                stream.close()
    assert received == 45
    assert set(queries) == {60.0, 300.0}
    # A query serves every client of its window for half an interval: at most two per
    # interval whatever the number of clients (one per message would be 40 here).
    shared = queries.count(60.0)
    assert shared <= 2 * elapsed / 0.2 + 2, (shared, elapsed)
    assert shared < 40


def test_stream_cache_is_fresh_for_half_an_interval_and_bounded(metrics: Metrics) -> None:
    app = metrics_app(metrics, stream_interval=0.2)
    metrics.record_inference("bert", "v1", latency_ms=3.0, success=True)
    first = app.stream_data(60.0)
    metrics.record_inference("bert", "v1", latency_ms=3.0, success=True)
    assert app.stream_data(60.0) is first  # within 0.1 s: the same bytes
    time.sleep(0.15)
    fresh = json.loads(app.stream_data(60.0))
    assert fresh["versions"][0]["request_count"] == 2
    for window in range(1, 20):
        app.stream_data(float(window))
    assert len(app._stream_cache) == 8


def test_versions_whose_names_hold_colons_are_two_entries(
    metrics: Metrics, server: RunningServer
) -> None:
    metrics.record_inference("a:b", "c", 10.0, success=True)
    for _ in range(2):
        metrics.record_inference("a", "b:c", 20.0, success=True)
    status, payload = get_json(base(server) + "/metrics/versions")
    assert status == 200
    assert [
        (v["key"], v["model_name"], v["version"], v["request_count"]) for v in payload["versions"]
    ] == [("a:b\\:c", "a", "b:c", 2), ("a\\:b:c", "a:b", "c", 1)]
