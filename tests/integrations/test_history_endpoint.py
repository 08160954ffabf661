"""``GET /metrics/history`` under uvicorn: per-step points from memory and a SQLite store."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors import InferenceCollector
from exporters import SQLiteStore
from integrations.asgi import metrics_app
from integrations.server import RunningServer, serve_app
from metrics_core import EventBus, ManualClock, Metrics

T0 = 1_700_000_040.0  # a whole minute
HOUR = 3600.0


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Metrics, RunningServer]]:
    clock = ManualClock(T0)
    metrics = Metrics(bus=EventBus(), clock=clock, history=SQLiteStore(tmp_path / "h.db"))
    metrics.collect(InferenceCollector())
    for minute in range(180):  # 3 h: v1 every minute, v2 every other minute
        clock.set(T0 + minute * 60 + 1)
        metrics.record_inference("bert", "v1", 10.0, success=True)
        if minute % 2:
            metrics.record_inference(
                "bert",
                "v2",
                30.0,
                success=minute % 4 != 1,
                error_type=("oom" if minute % 4 == 1 else None),
            )
        if minute % 20 == 19:
            metrics.export()
    clock.set(T0 + 3 * HOUR)
    with serve_app(metrics_app(metrics)) as server:
        yield metrics, server
    metrics.close()


def test_one_version_per_step_exact(served: tuple[Metrics, RunningServer]) -> None:
    _, server = served
    status, body = get_json(server.url + "/metrics/history?model=bert&version=v1&since=3h&step=1h")
    assert status == 200
    assert (body["since_seconds"], body["step_seconds"], body["until"]) == (3 * HOUR, HOUR, None)
    points = body["versions"]["bert:v1"]
    assert [p["request_count"] for p in points] == [60, 60, 60]
    assert [p["t"] for p in points] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert [p["window_end"] for p in points] == [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    assert points[0]["p99_latency_ms"] == 10.0
    assert points[0]["requests_per_second"] == pytest.approx(60 / HOUR)


def test_every_version_and_until(served: tuple[Metrics, RunningServer]) -> None:
    metrics, server = served
    status, body = get_json(
        server.url + f"/metrics/history?since=2h&step=30m&until={T0 + 2 * HOUR:.0f}"
    )
    assert status == 200
    assert sorted(body["versions"]) == ["bert:v1", "bert:v2"]
    v2 = body["versions"]["bert:v2"]
    assert [p["request_count"] for p in v2] == [15, 15, 15, 15]
    assert [p["errors_by_type"] for p in v2] == [{"oom": 8}, {"oom": 7}, {"oom": 8}, {"oom": 7}]
    # The same numbers as the Python API.
    direct = metrics.history("bert", "v2", since=2 * HOUR, until=T0 + 2 * HOUR, step=1800)
    assert [m.request_count for m in direct] == [15, 15, 15, 15]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("since=abc", "since"),
        ("since=1h&step=90s", "step"),
        ("since=7d&step=1m", "step"),
        ("since=1h&model=bert", "version"),
        ("since=1h&until=nan", "until"),
        (f"since=1h&until={T0 + 10 * HOUR:.0f}", "until"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(
    served: tuple[Metrics, RunningServer], query: str, parameter: str
) -> None:
    _, server = served
    status, body = get_json(server.url + "/metrics/history?" + query)
    assert status == 400
    assert body["parameter"] == parameter


def test_a_version_with_a_colon_keeps_the_escaped_key(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    metrics = Metrics(bus=EventBus(), clock=clock, history=SQLiteStore(tmp_path / "c.db"))
    metrics.collect(InferenceCollector())
    for second in range(0, 120, 10):
        clock.set(T0 + second)
        metrics.record_inference("llm:chat", "v:1", 10.0, success=True)
    clock.set(T0 + 120)
    with serve_app(metrics_app(metrics)) as server:
        one = get_json(server.url + "/metrics/history?model=llm:chat&version=v:1&since=2m")[1]
        every = get_json(server.url + "/metrics/history?since=2m")[1]
    assert list(one["versions"]) == list(every["versions"]) == ["llm\\:chat:v\\:1"]
    assert [p["t"] for p in one["versions"]["llm\\:chat:v\\:1"]] == [T0, T0 + 60]
    assert [p["request_count"] for p in every["versions"]["llm\\:chat:v\\:1"]] == [6, 6]
    metrics.close()
