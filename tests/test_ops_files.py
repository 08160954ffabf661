"""docs/prometheus/alerts.yml and docs/grafana/inference-metrics.json work with the library.

``promtool`` checks and unit-tests the alerting rules (it must be installed:
``scripts/install-test-servers.sh``; a missing binary fails, never skips). The
dashboard must load, hold the panels a serving team looks for, and give every
panel a data source and a query. Every metric name in every PromQL expression of
both files must be one that ``PrometheusExporter`` really serves: the set is
built by running every built-in collector on one registry and parsing the
rendered text with prometheus_client's parser, so a renamed metric fails here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from metrics_core.events import (
    ActiveConnectionsChanged,
    CircuitBreakerChanged,
    DriftMeasured,
    Event,
    FirstTokenReceived,
    HttpRequestFinished,
    HttpRequestStarted,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
    MemoryUsageReported,
    PredictionEvaluated,
    RetryAttempted,
)

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "docs" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "docs" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "docs" / "grafana" / "inference-metrics.json"

# Words of PromQL that read like metric names: operators, modifiers, aggregations.
_KEYWORDS = frozenset(
    {
        *("and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"),
        *("offset", "bool", "atan2", "inf", "nan"),
        *("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values"),
        *("bottomk", "topk", "quantile", "limitk", "limit_ratio"),
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_LIST = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_TOKEN = re.compile(
    r"(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?[a-zA-Z]*|\.\d+)"
    r"|(?P<variable>\$\{?\w+\}?)"
    r"|(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<call>\s*\()?"
)
_MATCHERS = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{(?P<matchers>[^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
# Labels Prometheus attaches to every scraped series; the exposition never has them.
_TARGET_LABELS = frozenset({"instance", "job"})


def metric_names(promql: str) -> set[str]:
    """The metric names an expression selects: identifiers that are not function calls,
    keywords, label names (in ``{}`` or ``by (...)``), durations or template variables."""
    text = _STRING.sub('""', promql)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _LABEL_LIST.sub(" ", text)
    found: set[str] = set()
    for token in _TOKEN.finditer(text):
        name = token["name"]
        if name is None or token["call"] is not None or name.lower() in _KEYWORDS:
            continue
        found.add(name)
    return found


def matcher_labels(promql: str) -> dict[str, set[str]]:
    """``{metric name: label names its {} matchers use}``."""
    labels: dict[str, set[str]] = {}
    for selector in _MATCHERS.finditer(_STRING.sub('""', promql)):
        labels.setdefault(selector["name"], set()).update(
            _MATCHER_LABEL.findall(selector["matchers"])
        )
    # The string values were blanked above, so label names are read off the original.
    for selector in _MATCHERS.finditer(promql):
        labels.setdefault(selector["name"], set()).update(
            _MATCHER_LABEL.findall(selector["matchers"])
        )
    return labels


def test_metric_names_skips_functions_keywords_labels_and_durations() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, model_name) (rate("
        'model_inference_latency_seconds_bucket{version=~"$version", le!="x"}'
        "[$__rate_interval] offset 15m)))"
        " / on (model_name) group_left sum without (instance) (up) > bool 1e3"
        ' and label_replace(process_threads, "dst", "$1", "src", "(.*)") unless absent(nan)'
    )
    assert metric_names(expr) == {"model_inference_latency_seconds_bucket", "up", "process_threads"}
    assert matcher_labels(expr) == {"model_inference_latency_seconds_bucket": {"version", "le"}}


# -- what the library exports -------------------------------------------------------------


def every_event() -> list[Event]:
    """One event of each built-in class that a per-model collector records."""
    return [
        InferenceStarted(model_name="bert", version="v1", request_id="r1"),
        InferenceCompleted(
            model_name="bert",
            version="v1",
            duration_ms=120.0,
            request_id="r1",
            time_to_first_token_ms=30.0,
            input_tokens=50,
            output_tokens=20,
            cached_tokens=10,
            cost_usd=0.002,
            batch_size=4,
            confidence=0.9,
            predicted_class="fraud",
        ),
        InferenceStarted(model_name="bert", version="v1", request_id="r2"),
        InferenceFailed(
            model_name="bert",
            version="v1",
            duration_ms=40.0,
            error_type="TimeoutError",
            request_id="r2",
        ),
        FirstTokenReceived(
            model_name="bert", version="v1", time_to_first_token_ms=25.0, request_id="r3"
        ),
        ActiveConnectionsChanged(model_name="bert", version="v1", count=3),
        MemoryUsageReported(model_name="bert", version="v1", memory_bytes=2 * 1024**3),
        RetryAttempted(
            model_name="bert", version="v1", attempt=1, error_type="TimeoutError", delay_ms=100.0
        ),
        CircuitBreakerChanged(
            model_name="bert",
            version="v1",
            previous="closed",
            state="open",
            breaker="feature-store",
        ),
        DriftMeasured(model_name="bert", version="v1", kind="psi", score=0.3, threshold=0.2),
        PredictionEvaluated(model_name="bert", version="v1", expected="fraud", actual="fraud"),
        PredictionEvaluated(model_name="bert", version="v1", expected="legit", actual="fraud"),
        HttpRequestStarted(method="POST"),
        HttpRequestFinished(method="POST", route="/predict", status_code=200, duration_ms=130.0),
    ]


def exported_text(every_collector: Callable[..., Any]) -> str:
    """What a scrape of a process running every built-in collector shows."""
    every = every_collector(positive_class="fraud")
    try:

        def broken_listener(event: Event) -> None:
            raise RuntimeError("a bug in a user's collector")

        every.bus.subscribe(MemoryUsageReported, broken_listener)
        for event in every_event():
            every.bus.emit(event)
        every.sample_resources()
        every.overflow()
        outcomes = every.metrics.export()
        assert [outcome.status for outcome in outcomes] == ["ok", "error"]
        text: str = every.prometheus.render()
        return text
    finally:
        every.metrics.close(deadline=2.0)


@pytest.fixture(scope="module")
def exported(every_collector: Callable[..., Any]) -> dict[str, set[str]]:
    """``{sample name: label names}`` of every sample the library serves to Prometheus."""
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exported_text(every_collector)):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    return samples


def test_the_workload_reaches_every_collector(exported: dict[str, set[str]]) -> None:
    for name in (
        "model_inference_latency_seconds_bucket",
        "gen_ai_client_token_usage_sum",
        "gpu_process_memory_used_bytes",
        "system_cpu_percent",
        "model_prediction_f1",
        "model_circuit_breaker_state",
        "metrics_export_errors_total",
        "metrics_listener_errors_total",
        "metrics_cardinality_overflow_total",
        "http_server_request_duration_seconds_bucket",
        "http_server_active_requests",
    ):
        assert name in exported, name


# -- alerting rules -----------------------------------------------------------------------


def promtool() -> str:
    path = shutil.which("promtool")
    assert path is not None, (
        "promtool is not on PATH: run scripts/install-test-servers.sh (Debian package prometheus)"
    )
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_checks_the_rules() -> None:
    result = run_promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def alert_rules() -> list[dict[str, Any]]:
    """Each alerting rule of alerts.yml (``alert``, ``expr``, ``for``, labels, annotations)."""
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def test_every_alert_has_for_severity_summary_and_description() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {
        "ModelVersionHighLatencyP95",
        "ModelVersionHighErrorRate",
        "ModelDriftAboveThreshold",
        "MetricsExportFailing",
        "ModelVersionRequestsStuck",
        "ModelVersionStoppedReporting",
    }
    for rule in rules:
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "")), rule
        assert rule["labels"].get("severity") in ("warning", "critical"), rule
        assert set(rule["annotations"]) == {"summary", "description"}, rule
        assert "$labels." in rule["annotations"]["summary"], rule


def test_every_alert_is_unit_tested() -> None:
    tested = set(re.findall(r"alertname:\s*(\w+)", ALERTS_TEST.read_text(encoding="utf-8")))
    assert tested == {rule["alert"] for rule in alert_rules()}


# -- the dashboard ------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels() -> Iterator[dict[str, Any]]:
    """Every panel that draws something (rows only group them)."""
    for panel in dashboard()["panels"]:
        if panel["type"] != "row":
            yield panel
        yield from panel.get("panels", [])


def test_the_dashboard_has_the_panels_a_serving_team_needs() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 36 and board["uid"] and board["title"]
    titles = [panel["title"] for panel in panels()]
    assert len(titles) == len(set(titles)), titles
    for wanted in (
        "Requests per second",
        "Latency p50",
        "Latency p95",
        "Latency p99",
        "Error rate",
        "Time to first token p95",
        "Output tokens per second",
        "Host CPU",
        "Memory",
        "GPU utilization",
        "GPU memory",
        "HTTP latency p95",
        "Export errors",
    ):
        assert wanted in titles, wanted
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))


def test_every_panel_has_a_datasource_and_a_query() -> None:
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and target["refId"], panel["title"]
            assert target["datasource"] == panel["datasource"], panel["title"]


def test_the_template_variables() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["model_name"]["query"] == (
        "label_values(model_inference_requests_total, model_name)"
    )
    assert variables["version"]["query"].startswith("label_values(")
    assert variables["version"]["query"].endswith(", version)")
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert (variable["includeAll"], variable["allValue"]) == (True, ".*")


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard, template variable queries included."""
    queries = [target["expr"] for panel in panels() for target in panel["targets"]]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.*),\s*\w+\)", variable["query"])
            assert match is not None, variable["query"]
            queries.append(match[1])
    return queries


def test_model_quantiles_sum_buckets_per_version_by_le() -> None:
    quantiles = [
        q for q in dashboard_queries() if "histogram_quantile" in q and "http_server" not in q
    ]
    assert len(quantiles) >= 6
    for query in quantiles:
        assert "sum by (le, model_name, version)" in query, query
        assert "[$__rate_interval]" in query, query


# -- every name is one the library exports ------------------------------------------------


def all_expressions() -> list[tuple[str, str]]:
    """``(where, PromQL)`` of every expression of the dashboard and the alerting rules."""
    return [("dashboard", q) for q in dashboard_queries()] + [
        (f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()
    ]


def test_every_metric_name_is_one_the_library_exports(exported: dict[str, set[str]]) -> None:
    used: set[str] = set()
    for where, expr in all_expressions():
        names = metric_names(expr)
        assert names, f"{where}: no metric name found in {expr!r}"
        unknown = names - set(exported)
        assert not unknown, f"{where}: {sorted(unknown)} not exported; expression {expr!r}"
        used |= names
    # Most of what the library exports is on the dashboard or alerted on.
    assert len(used) >= 30, sorted(used)


def test_every_matched_label_is_one_the_metric_has(exported: dict[str, set[str]]) -> None:
    for where, expr in all_expressions():
        for name, labels in matcher_labels(expr).items():
            missing = labels - exported.get(name, set()) - _TARGET_LABELS
            assert not missing, f"{where}: {name} has no label {sorted(missing)}"
