"""The WebSocket stream, with a real client (``websockets``) against a real uvicorn."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from collectors import InferenceCollector
from integrations import metrics_app, serve_app
from integrations.server import RunningServer
from metrics_core.bus import EventBus
from metrics_core.facade import Metrics


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    metrics = Metrics(bus=EventBus()).collect(InferenceCollector())
    yield metrics
    metrics.close()


@pytest.fixture
def server(metrics: Metrics) -> Iterator[RunningServer]:
    with serve_app(metrics_app(metrics, stream_interval=0.2)) as running:
        yield running


def ws_url(server: RunningServer, path: str) -> str:
    return server.url.replace("http://", "ws://", 1) + path


def message(raw: str | bytes) -> dict[str, Any]:
    assert isinstance(raw, str), "messages are text frames"
    parsed: dict[str, Any] = json.loads(raw)
    return parsed


@pytest.mark.parametrize("path", ["/metrics/stream", "/metrics/ws"])
def test_updates_arrive_at_once_then_every_interval(
    metrics: Metrics, server: RunningServer, path: str
) -> None:
    for n in range(3):
        metrics.record_inference("bert", "v1", latency_ms=10.0 + n, success=True)
    with connect(ws_url(server, path + "?window=5m"), open_timeout=5) as socket:
        first = message(socket.recv(timeout=5))
        metrics.record_inference("bert", "v2", latency_ms=7.0, success=False, error_type="E")
        started = time.monotonic()
        second = message(socket.recv(timeout=5))
        waited = time.monotonic() - started

    assert first["type"] == second["type"] == "metrics.update"
    assert first["data"]["window_seconds"] == 300.0
    assert [(v["key"], v["request_count"]) for v in first["data"]["versions"]] == [("bert:v1", 3)]
    by_key = {v["key"]: v for v in second["data"]["versions"]}
    assert by_key["bert:v2"]["errors_by_type"] == {"E": 1}
    assert by_key["bert:v1"]["request_count"] == 3
    assert waited < 2.0  # the next message comes about one interval (0.2 s) later


def test_a_bad_window_closes_with_a_policy_violation(server: RunningServer) -> None:
    url = ws_url(server, "/metrics/stream?window=soon")
    with connect(url, open_timeout=5) as socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=5)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason.startswith("'window' must be a duration")


def test_other_paths_refuse_the_handshake(server: RunningServer) -> None:
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(ws_url(server, "/metrics/versions"), open_timeout=5),
    ):
        pass

    assert refused.value.response.status_code == 403


def test_many_clients_each_get_every_update(metrics: Metrics, server: RunningServer) -> None:
    metrics.record_inference("bert", "v1", latency_ms=1.0, success=True)
    with contextlib.ExitStack() as stack:
        sockets = [
            stack.enter_context(connect(ws_url(server, "/metrics/stream"), open_timeout=5))
            for _ in range(8)
        ]
        firsts = [message(s.recv(timeout=5)) for s in sockets]

    assert {json.dumps(m, sort_keys=True) for m in firsts} == {
        json.dumps(firsts[0], sort_keys=True)
    }
    assert firsts[0]["data"]["versions"][0]["request_count"] == 1
