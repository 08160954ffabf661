"""metrics_app under control: splits by dimension, filters, and the off switch, over real HTTP."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from collectors import InferenceCollector
from integrations import metrics_app, serve_app
from integrations.server import RunningServer
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import InferenceCompleted
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get_json(url: str) -> tuple[int, Any]:
    status, body = get(url)
    return status, json.loads(body)


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
    metrics = Metrics(bus=EventBus(), registry=registry)
    metrics.collect(InferenceCollector(dimensions=("provider",)))
    for provider, count in (("openai", 3), ("anthropic", 2)):
        for _ in range(count):
            metrics.bus.emit(
                InferenceCompleted(
                    model_name="chat",
                    version="v1",
                    duration_ms=5.0,
                    attributes={"provider": provider},
                )
            )
    yield metrics
    metrics.close()


@pytest.fixture
def server(metrics: Metrics) -> Iterator[RunningServer]:
    with serve_app(metrics_app(metrics, stream_interval=0.2)) as running:
        yield running


def test_versions_split_by_and_filtered_where(server: RunningServer) -> None:
    status, whole = get_json(server.url + "/metrics/versions")
    assert status == 200
    assert whole["enabled"] is True
    assert [(v["key"], v["request_count"]) for v in whole["versions"]] == [("chat:v1", 5)]
    _, split = get_json(server.url + "/metrics/versions?by=provider")
    assert [(v["key"], v["request_count"], v["dimensions"]) for v in split["versions"]] == [
        ("chat:v1|provider=anthropic", 2, {"provider": "anthropic"}),
        ("chat:v1|provider=openai", 3, {"provider": "openai"}),
    ]
    _, only = get_json(server.url + "/metrics/versions?where=provider:openai")
    assert [(v["key"], v["request_count"]) for v in only["versions"]] == [("chat:v1", 3)]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("by=model_name", "by"), ("by=a,a", "by"), ("by=no%20space", "by"), ("where=x", "where")],
)
def test_bad_split_parameters_answer_400(server: RunningServer, query: str, parameter: str) -> None:
    status, body = get_json(server.url + "/metrics/versions?" + query)
    assert status == 400
    assert body["parameter"] == parameter


def test_stream_splits_by_dimension(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /metrics/stream?by=provider HTTP/1.1\r\nHost: x\r\n\r\n")
        buffer = b""
        while b"\n\n" not in buffer.split(b"data: ", 1)[-1]:
            buffer += sock.recv(65536)
    data = buffer.split(b"data: ", 1)[1].split(b"\n\n", 1)[0]
    payload = json.loads(data)
    assert [v["key"] for v in payload["versions"]] == [
        "chat:v1|provider=anthropic",
        "chat:v1|provider=openai",
    ]


def test_switched_off_the_endpoints_answer_and_say_so(
    metrics: Metrics, server: RunningServer
) -> None:
    metrics.enabled = False
    status, body = get_json(server.url + "/metrics/versions")
    assert (status, body["enabled"], body["versions"]) == (200, False, [])
    _, split = get_json(server.url + "/metrics/versions?by=provider")
    assert (split["enabled"], split["versions"]) == (False, [])
    status, text = get(server.url + "/metrics")
    assert status == 200
    lines = [line for line in text.decode().splitlines() if not line.startswith("#")]
    assert lines == ["metrics_recording_enabled 0.0"]
    metrics.enabled = True
    _, body = get_json(server.url + "/metrics/versions")
    assert body["enabled"] is True
    assert [v["request_count"] for v in body["versions"]] == [5]


def test_compare_takes_where(metrics: Metrics, server: RunningServer) -> None:
    metrics.bus.emit(
        InferenceCompleted(
            model_name="chat", version="v2", duration_ms=5.0, attributes={"provider": "openai"}
        )
    )
    url = server.url + "/metrics/compare?model=chat&baseline=v1&candidate=v2"
    _, whole = get_json(url)
    assert whole["baseline"]["request_count"] == 5
    status, only = get_json(url + "&where=provider:openai")
    assert status == 200
    assert (only["baseline"]["request_count"], only["candidate"]["request_count"]) == (3, 1)
