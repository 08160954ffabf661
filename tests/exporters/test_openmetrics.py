"""``/metrics`` answers OpenMetrics 1.0.0 to a scraper that asks for it, text 0.0.4 otherwise."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from collections.abc import Iterable, Iterator

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from collectors import InferenceCollector
from exporters import PrometheusExporter
from exporters._accept import wants_openmetrics
from integrations import metrics_app, serve_app
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.facade import Metrics
from metrics_core.registry.aggregating import AggregatingRegistry

# What Prometheus 2.x sends by default.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
BERT = {names.MODEL_NAME: "bert", names.VERSION: "v1"}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (PROMETHEUS_ACCEPT, True),
        ("application/openmetrics-text", True),
        ("Application/OpenMetrics-Text; version=1.0.0", True),
        ("application/openmetrics-text;q=0, text/plain", False),
        ("application/openmetrics-text;q=bad", False),
        ("text/plain;version=0.0.4", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_accept_headers_that_ask_for_openmetrics(accept: str, expected: bool) -> None:
    assert wants_openmetrics(accept) is expected


def get(url: str, accept: str | None) -> tuple[str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


def samples_of(families: Iterable[Metric]) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


@pytest.fixture
def served(registry: AggregatingRegistry) -> Iterator[tuple[PrometheusExporter, str]]:
    registry.counter(names.REQUESTS_TOTAL, BERT, 5)
    for latency in (12.0, 30.0, 480.0):
        registry.timer(names.LATENCY, BERT, latency)
    registry.gauge(names.ACTIVE_CONNECTIONS, BERT, 3)
    exporter = PrometheusExporter(quantiles=(0.5,))
    exporter.attach(registry.snapshot)
    server = exporter.serve(port=0)
    yield exporter, server.url
    exporter.close()


def test_serve_negotiates_openmetrics_with_the_same_samples(
    served: tuple[PrometheusExporter, str],
) -> None:
    _, url = served
    om_type, om_text = get(url, PROMETHEUS_ACCEPT)
    plain_type, plain_text = get(url, None)

    assert om_type == OPENMETRICS_TYPE
    assert plain_type == "text/plain; version=0.0.4; charset=utf-8"
    assert om_text.endswith("# EOF\n")
    assert "# UNIT model_inference_latency_seconds seconds\n" in om_text
    parsed = {family.name: family for family in openmetrics_families(om_text)}  # type: ignore[no-untyped-call]
    assert parsed["model_inference_requests"].type == "counter"
    assert parsed["model_inference_latency_seconds"].unit == "seconds"
    om = samples_of(iter(parsed.values()))
    mv = (("model_name", "bert"), ("version", "v1"))
    assert om[("model_inference_requests_total", mv)] == 5.0
    assert om[("model_active_connections", mv)] == 3.0
    assert om[("model_inference_latency_seconds_count", mv)] == 3.0
    assert om[("model_inference_latency_seconds_bucket", (("le", "0.025"), *mv))] == 1.0
    assert om[("model_inference_latency_seconds_bucket", (("le", "0.5"), *mv))] == 3.0
    # Every sample of the text format is in the OpenMetrics answer, with the same value.
    plain = samples_of(text_string_to_metric_families(plain_text))
    assert {key: om.get(key) for key in plain} == plain


def test_promtool_lints_the_text_answer_and_the_families_clean(
    served: tuple[PrometheusExporter, str],
) -> None:
    _, url = served
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is not on PATH: run scripts/install-test-servers.sh"
    _, plain_text = get(url, "text/plain;version=0.0.4")

    done = subprocess.run(
        [promtool, "check", "metrics"],
        input=plain_text,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_metrics_app_negotiates_openmetrics() -> None:
    metrics = Metrics(bus=EventBus()).collect(InferenceCollector())
    for n in range(4):
        error = "E" if n == 3 else None
        metrics.record_inference("bert", "v1", 10.0 + n, success=error is None, error_type=error)
    try:
        with serve_app(metrics_app(metrics)) as running:
            content_type, text = get(running.url + "/metrics", PROMETHEUS_ACCEPT)
            plain_type, _ = get(running.url + "/metrics", "text/plain")
    finally:
        metrics.close()

    assert (content_type, plain_type) == (
        OPENMETRICS_TYPE,
        "text/plain; version=0.0.4; charset=utf-8",
    )
    samples = samples_of(openmetrics_families(text))  # type: ignore[no-untyped-call]
    mv = (("model_name", "bert"), ("version", "v1"))
    assert samples[("model_inference_requests_total", mv)] == 4.0
    assert samples[("model_inference_errors_total", (("error_type", "E"), *mv))] == 1.0
