"""Every query of the Grafana dashboard answers, and every alerting rule evaluates, on a
real Prometheus scraping a process that runs every built-in collector.

The process records one batch before the first scrape and another after it, so
``rate()`` and ``increase()`` see a change in every counter and histogram. Grafana's
``$__rate_interval`` becomes ``1m`` and each template variable ``.*`` (its "All").
The same Prometheus loads docs/prometheus/alerts.yml: every rule must evaluate
without error, and the error-rate alert must go pending for the failing version only.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from metrics_core.events import (
    ActiveConnectionsChanged,
    CircuitBreakerChanged,
    DriftMeasured,
    Event,
    HttpRequestFinished,
    HttpRequestStarted,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
    MemoryUsageReported,
    PredictionEvaluated,
    RetryAttempted,
)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "inference-metrics.json"
ALERTS = ROOT / "docs" / "prometheus" / "alerts.yml"
VERSIONS = {"v1": 1, "v2": 20}
"""Failed requests per batch of 100, per version of ``chat``."""


def batch(version: str, failures: int) -> Iterator[Event]:
    """100 streamed requests to ``chat:version``, ``failures`` of them failing."""
    for i in range(100):
        yield InferenceStarted(model_name="chat", version=version)
        latency = 20.0 + 9.0 * i
        if i < failures:
            yield InferenceFailed(
                model_name="chat", version=version, duration_ms=latency, error_type="Timeout"
            )
            continue
        yield InferenceCompleted(
            model_name="chat",
            version=version,
            duration_ms=latency,
            time_to_first_token_ms=latency / 4,
            input_tokens=200 + i,
            output_tokens=40 + i % 7,
            cost_usd=0.001,
            confidence=0.5 + i / 250,
            predicted_class="yes" if i % 3 else "no",
        )
    yield RetryAttempted(model_name="chat", version=version, attempt=1, error_type="Timeout")
    yield PredictionEvaluated(model_name="chat", version=version, expected="yes", actual="yes")
    yield PredictionEvaluated(model_name="chat", version=version, expected="no", actual="yes")
    yield DriftMeasured(model_name="chat", version=version, kind="psi", score=0.3, threshold=0.2)
    yield ActiveConnectionsChanged(model_name="chat", version=version, count=4)
    yield MemoryUsageReported(model_name="chat", version=version, memory_bytes=6 * 1024**3)
    for i in range(10):
        yield HttpRequestStarted(method="POST")
        yield HttpRequestFinished(
            method="POST", route="/chat", status_code=200 if i else 503, duration_ms=30.0 + i
        )
    yield CircuitBreakerChanged(
        model_name="chat", version=version, previous="closed", state="open", breaker="search"
    )


class Prometheus:
    """A running Prometheus server and its HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str, at: float) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=promql, time=f"{at:.3f}")[
            "result"
        ]
        return result


@dataclass
class Scraped:
    prometheus: Prometheus
    at: float
    """Unix time at which both batches are scraped: queries evaluate there."""


@pytest.fixture(scope="module")
def scraped(
    processes: Any,
    prometheus_binary: str,
    wait_until: Callable[..., Any],
    every_collector: Callable[..., Any],
) -> Iterator[Scraped]:
    every = every_collector(positive_class="yes", refresh_interval=0.0)
    bus, metrics, exporter = every.bus, every.metrics, every.prometheus

    def broken_listener(event: Event) -> None:
        raise RuntimeError("a bug in a user's listener")

    bus.subscribe(DriftMeasured, broken_listener)

    def record() -> None:
        for version, failures in VERSIONS.items():
            for event in batch(version, failures):
                bus.emit(event)
        every.sample_resources()
        every.overflow()
        metrics.export()  # counts one more FailingExporter error

    server = exporter.serve(port=0)
    record()
    config = processes.directory / "prometheus-grafana.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: [{json.dumps(str(ALERTS))}]\n"
        "scrape_configs:\n  - job_name: inprocess\n    static_configs:\n"
        f'      - targets: ["127.0.0.1:{server.port}"]\n'
    )
    port = processes.free_port()
    processes.start(
        prometheus_binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={processes.directory / 'tsdb-grafana'}",
        f"--web.listen-address=127.0.0.1:{port}",
        name="prometheus-grafana",
    )
    prometheus = Prometheus(f"http://127.0.0.1:{port}")
    requests = 'sum(model_inference_requests_total{job="inprocess"})'

    def requests_seen(n: float) -> bool:
        result = prometheus.query(requests, time.time())
        return bool(result) and float(result[0]["value"][1]) == n

    try:
        wait_until(lambda: requests_seen(200.0), timeout=30, what="the first batch scraped")
        record()
        wait_until(lambda: requests_seen(400.0), timeout=30, what="the second batch scraped")
        yield Scraped(prometheus, time.time())
    finally:
        metrics.close(deadline=2.0)
        exporter.close()


def dashboard_queries() -> list[tuple[str, str]]:
    """``(panel title, PromQL)`` of every dashboard target, Grafana's variables filled in."""
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", "1m")
            queries.append((panel["title"], re.sub(r"\$\{?(\w+)\}?", ".*", expr)))
    return queries


def test_every_dashboard_query_returns_data(scraped: Scraped) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 25
    empty = []
    for title, promql in queries:
        values = [float(r["value"][1]) for r in scraped.prometheus.query(promql, scraped.at)]
        if not any(math.isfinite(v) for v in values):
            empty.append(f"{title}: {promql} -> {values}")
    assert empty == [], "\n".join(empty)


def test_the_dashboard_shows_the_numbers_recorded(scraped: Scraped) -> None:
    by_title = dict(dashboard_queries())
    error_rate = {
        r["metric"]["version"]: float(r["value"][1])
        for r in scraped.prometheus.query(by_title["Error rate"], scraped.at)
    }
    assert error_rate == {"v1": pytest.approx(0.01), "v2": pytest.approx(0.2)}


def test_every_alerting_rule_evaluates_and_the_error_rate_alert_goes_pending(
    scraped: Scraped, wait_until: Callable[..., Any]
) -> None:
    def evaluated() -> list[dict[str, Any]]:
        groups = scraped.prometheus.get("/api/v1/rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        if not rules or any(rule["lastEvaluation"].startswith("0001") for rule in rules):
            return []
        return rules

    rules = wait_until(evaluated, timeout=15, what="every rule evaluated")
    assert [(r["name"], r["health"], r["lastError"]) for r in rules if r["health"] != "ok"] == []
    assert len(rules) == 12

    def error_rate_alerts() -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = scraped.prometheus.get("/api/v1/alerts")["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "ModelVersionHighErrorRate"]

    (alert,) = wait_until(error_rate_alerts, timeout=15, what="the error-rate alert")
    assert (alert["state"], alert["labels"]["version"]) == ("pending", "v2")
    assert alert["annotations"]["summary"] == "chat:v2 fails 20% of requests"
