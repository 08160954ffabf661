from __future__ import annotations

import gzip
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any

import prometheus_client
import pytest
import structlog
from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from collectors import InferenceCollector
from exporters import PrometheusExporter
from exporters.prometheus import DEFAULT_ADDRESS, PushgatewayTarget, summary_name
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.facade import Metrics
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, DistributionSeries, Snapshot
from metrics_core.values import MetricKind

BERT = {names.MODEL_NAME: "bert", names.VERSION: "v1"}

EXACT = """\
# HELP gen_ai_client_token_usage Tokens per request by token type.
# TYPE gen_ai_client_token_usage histogram
gen_ai_client_token_usage_bucket{gen_ai_token_type="output",le="10.0",model_name="bert",version="v1"} 0.0
gen_ai_client_token_usage_bucket{gen_ai_token_type="output",le="100.0",model_name="bert",version="v1"} 1.0
gen_ai_client_token_usage_bucket{gen_ai_token_type="output",le="+Inf",model_name="bert",version="v1"} 1.0
gen_ai_client_token_usage_count{gen_ai_token_type="output",model_name="bert",version="v1"} 1.0
gen_ai_client_token_usage_sum{gen_ai_token_type="output",model_name="bert",version="v1"} 64.0
# HELP gen_ai_client_token_usage_window Tokens per request by token type. Quantiles over a sliding 60 s window.
# TYPE gen_ai_client_token_usage_window summary
gen_ai_client_token_usage_window{gen_ai_token_type="output",model_name="bert",quantile="0.0",version="v1"} 64.0
gen_ai_client_token_usage_window{gen_ai_token_type="output",model_name="bert",quantile="1.0",version="v1"} 64.0
gen_ai_client_token_usage_window_count{gen_ai_token_type="output",model_name="bert",version="v1"} 1.0
gen_ai_client_token_usage_window_sum{gen_ai_token_type="output",model_name="bert",version="v1"} 64.0
# HELP model_inference_errors_total Failed requests by error type.
# TYPE model_inference_errors_total counter
model_inference_errors_total{error_type="timeout",model_name="bert",version="v1"} 1.0
# HELP model_inference_latency_seconds End-to-end latency of finished requests.
# TYPE model_inference_latency_seconds histogram
model_inference_latency_seconds_bucket{le="0.005",model_name="bert",version="v1"} 1.0
model_inference_latency_seconds_bucket{le="0.01",model_name="bert",version="v1"} 2.0
model_inference_latency_seconds_bucket{le="0.05",model_name="bert",version="v1"} 3.0
model_inference_latency_seconds_bucket{le="+Inf",model_name="bert",version="v1"} 3.0
model_inference_latency_seconds_count{model_name="bert",version="v1"} 3.0
model_inference_latency_seconds_sum{model_name="bert",version="v1"} 0.042
# HELP model_inference_latency_window_seconds End-to-end latency of finished requests. Quantiles over a sliding 60 s window.
# TYPE model_inference_latency_window_seconds summary
model_inference_latency_window_seconds{model_name="bert",quantile="0.0",version="v1"} 0.004
model_inference_latency_window_seconds{model_name="bert",quantile="1.0",version="v1"} 0.03
model_inference_latency_window_seconds_count{model_name="bert",version="v1"} 3.0
model_inference_latency_window_seconds_sum{model_name="bert",version="v1"} 0.042
# HELP model_inference_requests_total Requests finished (completed or failed).
# TYPE model_inference_requests_total counter
model_inference_requests_total{model_name="bert",version="v1"} 3.0
# HELP model_memory_usage_bytes Memory used by a model version as last reported.
# TYPE model_memory_usage_bytes gauge
model_memory_usage_bytes{model_name="bert",version="v1"} 2048.0
"""  # noqa: E501


@pytest.fixture
def small_registry(clock: ManualClock) -> AggregatingRegistry:
    """A registry with few buckets, so that the exact text stays short."""
    return AggregatingRegistry(
        clock=clock, buckets={names.LATENCY: [5, 10, 50], names.TOKEN_USAGE: [10, 100]}
    )


def record_every_kind(registry: AggregatingRegistry) -> None:
    for _ in range(3):
        registry.counter(names.REQUESTS_TOTAL, BERT)
    registry.counter(names.ERRORS_TOTAL, {**BERT, names.ERROR_TYPE: "timeout"})
    registry.gauge(names.MEMORY_USAGE, BERT, 2048)
    for latency_ms in (4, 8, 30):
        registry.timer(names.LATENCY, BERT, latency_ms)
    registry.histogram(names.TOKEN_USAGE, {**BERT, names.TOKEN_TYPE: "output"}, 64)


class FixedCollector:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of an exposition text."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, tuple(sorted(labels.items())))]


# -- the text ------------------------------------------------------------------------------


def test_render_writes_every_kind_exactly(small_registry: AggregatingRegistry) -> None:
    record_every_kind(small_registry)
    exporter = PrometheusExporter(quantiles=(0.0, 1.0))

    assert exporter.render(small_registry.snapshot()) == EXACT


def test_render_is_the_text_generate_latest_writes(small_registry: AggregatingRegistry) -> None:
    record_every_kind(small_registry)
    small_registry.gauge("custom.gauge", {"path": 'C:\\dir "x"\nnext', "le": "a"}, -1.5)
    small_registry.timer(names.LATENCY, {**BERT, names.VERSION: "v2"}, 2_000_000)
    snapshot = small_registry.snapshot()
    exporter = PrometheusExporter()
    exporter.export(snapshot)

    expected = generate_latest(FixedCollector(exporter.families(snapshot))).decode()
    assert exporter.render(snapshot) == expected
    assert exporter.render() == expected
    assert generate_latest(exporter.registry).decode() == expected


def test_timers_are_seconds_with_the_registry_s_inference_buckets(
    registry: AggregatingRegistry,
) -> None:
    registry.timer(names.LATENCY, BERT, 30)
    text = PrometheusExporter().render(registry.snapshot())

    les = [
        dict(labels)["le"]
        for (name, labels) in samples(text)
        if name == "model_inference_latency_seconds_bucket"
    ]
    assert les == [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0",
        "30.0", "60.0", "+Inf",
    ]  # fmt: skip
    assert value(text, "model_inference_latency_seconds_bucket", le="0.025", **BERT) == 0.0
    assert value(text, "model_inference_latency_seconds_bucket", le="0.05", **BERT) == 1.0
    assert value(text, "model_inference_latency_seconds_sum", **BERT) == 0.03


def test_default_summary_is_p50_p95_p99_of_the_last_minute(
    registry: AggregatingRegistry, clock: ManualClock
) -> None:
    for i in range(1, 101):
        registry.timer(names.LATENCY, BERT, float(i))
    snapshot = registry.snapshot()
    series = snapshot.get(names.LATENCY, BERT)
    assert isinstance(series, DistributionSeries)
    expected = series.window_summary(60, clock()).quantiles(0.5, 0.95, 0.99)

    text = PrometheusExporter().render(snapshot)

    name = "model_inference_latency_window_seconds"
    assert [value(text, name, quantile=q, **BERT) for q in ("0.5", "0.95", "0.99")] == [
        q / 1000 for q in expected
    ]
    assert value(text, name + "_count", **BERT) == 100.0
    assert value(text, name + "_sum", **BERT) == 5.05


def test_summary_quantiles_slide_while_count_and_sum_accumulate(
    registry: AggregatingRegistry, clock: ManualClock
) -> None:
    registry.timer(names.LATENCY, BERT, 1024)
    clock.advance(120)
    registry.timer(names.LATENCY, BERT, 16)
    registry.timer(names.LATENCY, BERT, 16)
    snapshot = registry.snapshot()
    series = snapshot.get(names.LATENCY, BERT)
    assert isinstance(series, DistributionSeries)
    top = series.window_summary(300, clock()).quantile(1.0)

    minute = PrometheusExporter(quantiles=(1.0,)).render(snapshot)
    five_minutes = PrometheusExporter(quantiles=(1.0,), summary_window=300).render(snapshot)

    name = "model_inference_latency_window_seconds"
    assert value(minute, name, quantile="1.0", **BERT) == 0.016
    assert value(five_minutes, name, quantile="1.0", **BERT) == top / 1000
    assert top == pytest.approx(1024, rel=0.02)  # the old request is inside 5 minutes
    assert value(minute, name + "_count", **BERT) == 3.0
    assert value(minute, name + "_sum", **BERT) == 1.056
    assert "Quantiles over a sliding 300 s window." in five_minutes


def test_an_empty_window_shows_nan_quantiles(
    registry: AggregatingRegistry, clock: ManualClock
) -> None:
    registry.timer(names.LATENCY, BERT, 10)
    clock.advance(600)
    text = PrometheusExporter(quantiles=(0.5,)).render(registry.snapshot())

    assert (
        'model_inference_latency_window_seconds{model_name="bert",quantile="0.5",version="v1"} NaN'
        in text
    )
    assert value(text, "model_inference_latency_window_seconds_count", **BERT) == 1.0


def test_no_quantiles_means_no_summaries(small_registry: AggregatingRegistry) -> None:
    record_every_kind(small_registry)
    text = PrometheusExporter(quantiles=()).render(small_registry.snapshot())

    assert "summary" not in text
    assert "_window" not in text
    assert "# TYPE model_inference_latency_seconds histogram" in text


def test_names_follow_the_naming_rules(registry: AggregatingRegistry) -> None:
    registry.counter("jobs.done", {})
    registry.counter("bytes_read_total", {}, 10)
    registry.histogram("payload_bytes", {}, 100)
    registry.timer("queue.wait", {}, 250)
    text = PrometheusExporter().render(registry.snapshot())

    types = [line.split(" ", 2)[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert types == [
        "bytes_read_total counter",
        "jobs_done_total counter",
        "payload_bytes histogram",
        "payload_window_bytes summary",
        "queue_wait_seconds histogram",
        "queue_wait_window_seconds summary",
    ]
    assert "# HELP jobs_done_total jobs.done\n" in text  # unknown metrics: the name as help
    assert value(text, "queue_wait_seconds_sum") == 0.25


def test_summary_name_goes_before_a_unit() -> None:
    assert summary_name(names.LATENCY, MetricKind.TIMER) == "model_inference_latency_window_seconds"
    assert (
        summary_name(names.TOKEN_USAGE, MetricKind.HISTOGRAM) == "gen_ai_client_token_usage_window"
    )
    assert summary_name("payload_bytes", MetricKind.HISTOGRAM) == "payload_window_bytes"
    assert summary_name("wait_seconds", MetricKind.TIMER) == "wait_window_seconds"


def test_tag_keys_become_valid_label_names_and_values_are_escaped(
    registry: AggregatingRegistry,
) -> None:
    tags = {"gen_ai.token.type": "input", "le": "a", "quantile": "b", "k": 'a\\b"c\nd'}
    registry.gauge("g", tags, 1)
    with pytest.raises(ValueError, match="tag key 'le' is reserved on histograms"):
        registry.histogram("h", {"le": "tag"}, 1)
    registry.histogram("h", {"exported_le": "tag"}, 1)
    text = PrometheusExporter(quantiles=(0.5,)).render(registry.snapshot())

    assert (
        'g{exported_le="a",exported_quantile="b",gen_ai_token_type="input",'
        'k="a\\\\b\\"c\\nd"} 1.0\n' in text
    )
    assert 'h_bucket{exported_le="tag",le="1.0"} 1.0\n' in text
    assert 'h_window{exported_le="tag",quantile="0.5"} 1.0\n' in text
    assert value(text, "g", exported_le="a", exported_quantile="b",
                 gen_ai_token_type="input", k='a\\b"c\nd') == 1.0  # fmt: skip


def test_series_of_one_metric_may_carry_different_tags(registry: AggregatingRegistry) -> None:
    registry.counter(names.REQUESTS_TOTAL, BERT)
    registry.counter(names.REQUESTS_TOTAL, {"overflow": "true"}, 4)
    text = PrometheusExporter().render(registry.snapshot())

    assert value(text, "model_inference_requests_total", **BERT) == 1.0
    assert value(text, "model_inference_requests_total", overflow="true") == 4.0


def test_a_name_clash_drops_the_later_family_and_warns_once(
    registry: AggregatingRegistry,
) -> None:
    registry.timer(names.LATENCY, BERT, 10)
    registry.gauge("model_inference_latency_window_seconds", BERT, 7)
    exporter = PrometheusExporter()
    snapshot = registry.snapshot()

    with structlog.testing.capture_logs() as logs:
        first = exporter.render(snapshot)
        exporter.render(snapshot)

    assert "# TYPE model_inference_latency_window_seconds summary" in first
    assert "gauge" not in first
    assert [(log["event"], log["metric"]) for log in logs] == [
        ("prometheus_name_clash", "model_inference_latency_window_seconds")
    ]


# -- buckets ---------------------------------------------------------------------------


def histogram_buckets(text: str, name: str) -> dict[str, float]:
    return {
        dict(labels)["le"]: v
        for (sample, labels), v in samples(text).items()
        if sample == name + "_bucket"
    }


def test_buckets_on_recorded_bounds_are_exact(registry: AggregatingRegistry) -> None:
    for latency_ms in (10.0, 10.0, 99.0, 100.0, 100.5):
        registry.timer(names.LATENCY, BERT, latency_ms)
    exporter = PrometheusExporter(buckets={names.LATENCY: [0.01, 0.1]})

    text = exporter.render(registry.snapshot())

    assert histogram_buckets(text, "model_inference_latency_seconds") == {
        "0.01": 2.0,
        "0.1": 4.0,
        "+Inf": 5.0,
    }


def test_buckets_off_the_recorded_bounds_come_from_the_sketch(
    registry: AggregatingRegistry,
) -> None:
    for latency_ms in (4.0, 6.0, 8.0, 150.0, 300.0):
        registry.timer(names.LATENCY, BERT, latency_ms)
    for delta in (-5.0, -1.0, 0.0, 2.0, 9.0):
        registry.histogram("temperature.delta", {}, delta)
    exporter = PrometheusExporter(
        buckets={
            names.LATENCY: [0.001, 0.007, 0.2, 0.3, 1.0],
            "temperature.delta": [-9.0, -2.0, 0.0, 5.0, 9.0],
        }
    )

    text = exporter.render(registry.snapshot())

    assert histogram_buckets(text, "model_inference_latency_seconds") == {
        "0.001": 0.0,
        "0.007": 2.0,
        "0.2": 4.0,
        "0.3": 5.0,
        "1.0": 5.0,
        "+Inf": 5.0,
    }
    assert histogram_buckets(text, "temperature_delta") == {
        "-9.0": 0.0,
        "-2.0": 1.0,
        "0.0": 3.0,
        "5.0": 4.0,
        "9.0": 5.0,
        "+Inf": 5.0,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"buckets": {"x": []}}, "'buckets['x']' must be a non-empty increasing sequence: []"),
        ({"buckets": {"x": [2, 1]}}, "'buckets['x']' must be a non-empty increasing sequence"),
        (
            {"buckets": {"x": [1, 10**400]}},
            "'buckets['x']' must be a non-empty increasing sequence",
        ),
        ({"buckets": {"x": [float("nan")]}}, "'buckets['x']' must be a non-empty increasing"),
        ({"quantiles": (0.5, 1.5)}, "'quantiles' must be within [0, 1]: 1.5"),
        ({"summary_window": 0}, "'window' must be > 0 seconds and finite: 0"),
    ],
)
def test_bad_options_raise(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        PrometheusExporter(**kwargs)
    assert str(error.value).startswith(message)


def test_a_pushgateway_target_needs_a_positive_timeout() -> None:
    with pytest.raises(ValueError, match=r"^'timeout' must be > 0 seconds and finite: 0$"):
        PushgatewayTarget("http://127.0.0.1:9091", "job", timeout=0)
    target = PushgatewayTarget("http://127.0.0.1:9091", "job", {"instance": "a"})
    assert dict(target.grouping_key) == {"instance": "a"}
    assert target.timeout == 5.0


# -- where scrapes read from ---------------------------------------------------------------


def test_without_a_source_a_scrape_shows_the_last_exported_snapshot(
    registry: AggregatingRegistry,
) -> None:
    exporter = PrometheusExporter()
    assert exporter.render() == ""

    registry.counter(names.REQUESTS_TOTAL, BERT)
    first = registry.snapshot()
    exporter.export(first)
    registry.counter(names.REQUESTS_TOTAL, BERT)

    assert exporter.render() == exporter.render(first)
    assert value(exporter.render(), "model_inference_requests_total", **BERT) == 1.0


def test_attached_to_metrics_a_scrape_shows_current_values_without_export(
    registry: AggregatingRegistry,
) -> None:
    metrics = Metrics(bus=EventBus(), registry=registry).collect(InferenceCollector())
    exporter = PrometheusExporter()
    metrics.export_to(exporter)

    metrics.record_inference("bert", "v1", 12.0, success=True)
    assert value(exporter.render(), "model_inference_requests_total", **BERT) == 1.0
    metrics.record_inference("bert", "v1", 14.0, success=False, error_type="oom")
    assert value(exporter.render(), "model_inference_requests_total", **BERT) == 2.0
    assert exporter.snapshot().get(names.REQUESTS_TOTAL, BERT) is not None
    metrics.close()


def global_names() -> set[str]:
    return {metric.name for metric in prometheus_client.REGISTRY.collect()}


def test_the_global_registry_is_never_touched(registry: AggregatingRegistry) -> None:
    before = global_names()
    registry.counter(names.REQUESTS_TOTAL, BERT)
    exporter = PrometheusExporter()
    exporter.export(registry.snapshot())
    server = exporter.serve(port=0)
    exporter.render()
    urllib.request.urlopen(server.url, timeout=5).read()
    exporter.close()

    assert exporter.registry is not prometheus_client.REGISTRY
    assert global_names() == before
    assert "model_inference_requests" not in before


# -- serving ---------------------------------------------------------------------------


@pytest.fixture
def served(registry: AggregatingRegistry) -> Iterator[tuple[PrometheusExporter, str]]:
    registry.counter(names.REQUESTS_TOTAL, BERT, 5)
    registry.timer(names.LATENCY, BERT, 12)
    exporter = PrometheusExporter()
    exporter.attach(registry.snapshot)
    server = exporter.serve(port=0)
    yield exporter, server.url
    exporter.close()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_serve_binds_loopback_and_serves_the_rendered_text(
    served: tuple[PrometheusExporter, str],
) -> None:
    exporter, url = served
    status, headers, body = get(url)

    assert DEFAULT_ADDRESS == "127.0.0.1"
    assert url.startswith("http://127.0.0.1:")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert body.decode() == exporter.render()


def test_serve_compresses_when_asked_and_answers_only_metrics(
    served: tuple[PrometheusExporter, str],
) -> None:
    exporter, url = served
    status, headers, body = get(url, {"Accept-Encoding": "gzip"})
    missing, _, _ = get(url.replace("/metrics", "/other"))

    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body).decode() == exporter.render()
    assert missing == 404


def test_a_failing_source_fails_the_scrape_not_the_server(registry: AggregatingRegistry) -> None:
    exporter = PrometheusExporter()
    broken = [True]

    def source() -> Snapshot:
        if broken[0]:
            raise RuntimeError("registry gone")
        return registry.snapshot()

    exporter.attach(source)
    server = exporter.serve(port=0)
    status, _, body = get(server.url)
    broken[0] = False
    recovered, _, _ = get(server.url)
    exporter.close()

    assert (status, body) == (500, b"scrape failed: RuntimeError('registry gone')\n")
    assert recovered == 200


def test_close_stops_the_server(registry: AggregatingRegistry) -> None:
    exporter = PrometheusExporter()
    server = exporter.serve(port=0)
    assert get(server.url)[0] == 200

    exporter.close()
    server.stop()  # idempotent

    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url, timeout=5)


def test_concurrent_scrapes_see_consistent_snapshots(registry: AggregatingRegistry) -> None:
    metrics = Metrics(bus=EventBus(), registry=registry).collect(InferenceCollector())
    exporter = PrometheusExporter()
    metrics.export_to(exporter)
    server = exporter.serve(port=0)
    seen: list[list[tuple[float, float, float]]] = [[] for _ in range(6)]
    errors: list[BaseException] = []
    recording_done = threading.Event()

    def scrape(into: list[tuple[float, float, float]]) -> None:
        try:
            while True:
                done = recording_done.is_set()
                text = get(server.url)[2].decode()
                if "model_inference_requests_total" in text:
                    into.append(
                        (
                            value(text, "model_inference_requests_total", **BERT),
                            value(text, "model_inference_latency_seconds_count", **BERT),
                            value(
                                text, "model_inference_latency_seconds_bucket", le="+Inf", **BERT
                            ),
                        )
                    )
                if done:
                    return
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=scrape, args=(into,)) for into in seen]
    for thread in threads:
        thread.start()
    for i in range(2000):
        metrics.record_inference("bert", "v1", float(i % 300), success=True)
    recording_done.set()
    for thread in threads:
        thread.join(30)
    exporter.close()
    metrics.close()

    assert errors == []
    for scrapes in seen:
        requests = [r for r, _, _ in scrapes]
        assert requests == sorted(requests)  # never goes back
        # One series is read at one instant (a request's counter and timer are two
        # records, so those two may differ by the request in flight).
        assert all(count == inf for _, count, inf in scrapes)
        assert scrapes[-1] == (2000.0, 2000.0, 2000.0)


# -- pushing ---------------------------------------------------------------------------


def pushed(pushgateway: str, job: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples the Pushgateway holds for ``job``, without its own bookkeeping."""
    with urllib.request.urlopen(f"{pushgateway}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        key: v
        for key, v in samples(text).items()
        if ("job", job) in key[1] and not key[0].startswith(("push_", "pushgateway_"))
    }


def test_push_replaces_the_group_on_a_real_pushgateway(
    registry: AggregatingRegistry, pushgateway: str
) -> None:
    exporter = PrometheusExporter(quantiles=())
    exporter.attach(registry.snapshot)
    registry.counter(names.REQUESTS_TOTAL, BERT, 3)
    exporter.push(pushgateway, "unit_push", {"instance": "i-1"})
    registry.counter(names.REQUESTS_TOTAL, BERT, 2)
    exporter.push(pushgateway, "unit_push", {"instance": "i-1"})

    key = (("instance", "i-1"), ("job", "unit_push"), *sorted(BERT.items()))
    assert pushed(pushgateway, "unit_push") == {("model_inference_requests_total", key): 5.0}


def test_export_pushes_when_a_pushgateway_is_configured(
    registry: AggregatingRegistry, pushgateway: str
) -> None:
    target = PushgatewayTarget(pushgateway, "unit_export", {"instance": "w-2"})
    metrics = Metrics(bus=EventBus(), registry=registry).collect(InferenceCollector())
    metrics.export_to(PrometheusExporter(pushgateway=target))
    metrics.record_inference("bert", "v1", 12.0, success=True)

    outcomes = metrics.export()

    labels = (("instance", "w-2"), ("job", "unit_export"), *sorted(BERT.items()))
    group = pushed(pushgateway, "unit_export")
    assert [outcome.status for outcome in outcomes] == ["ok"]
    assert group[("model_inference_requests_total", labels)] == 1.0
    assert group[("model_inference_latency_seconds_sum", labels)] == 0.012
    metrics.close()


def test_a_failed_push_raises_from_export_and_is_counted(registry: AggregatingRegistry) -> None:
    closed_port = PushgatewayTarget("http://127.0.0.1:9", "nobody", timeout=1)
    exporter = PrometheusExporter(pushgateway=closed_port)
    metrics = Metrics(bus=EventBus(), registry=registry).export_to(exporter)

    with pytest.raises(OSError):
        exporter.export(registry.snapshot())
    outcomes = metrics.export()

    errors = registry.snapshot().get(
        names.EXPORT_ERRORS_TOTAL, {"exporter": "PrometheusExporter", "reason": "error"}
    )
    assert [outcome.status for outcome in outcomes] == ["error"]
    assert isinstance(errors, CounterSeries)
    assert errors.total == 1.0
