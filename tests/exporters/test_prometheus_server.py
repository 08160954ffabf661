"""``PrometheusExporter`` read by a real Prometheus 2.x, the way a service scales past one process.

One Prometheus (scraping every second) serves the whole module: it scrapes this
process's endpoint (job ``inprocess``), two worker processes of one service
(job ``workers``, see ``prometheus_worker.py``) and a Pushgateway (``honor_labels``).

Every source records one batch before the first scrape and the same batch again
after it, so ``rate()`` over the range sees exactly the second batch in every
bucket: Prometheus extrapolates each bucket by the same factor, which keeps
``histogram_quantile`` exact.
"""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from collectors import InferenceCollector
from exporters.prometheus import PrometheusExporter
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.facade import Metrics
from metrics_core.registry.aggregating import DEFAULT_TIMER_BUCKETS_MS
from metrics_core.sketch import BucketData

WORKER = Path(__file__).resolve().parent / "prometheus_worker.py"
"""A worker process: ``python prometheus_worker.py PORT SEED``."""
REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDS = (11, 12)
"""One seed per worker process."""

BUCKETS_S = [bound / 1000 for bound in DEFAULT_TIMER_BUCKETS_MS]
P95_IN_PROCESS = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(model_inference_latency_seconds_bucket{job="inprocess"}[1m])))'
)
P95_WORKERS = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(model_inference_latency_seconds_bucket{job="workers"}[1m])))'
)


def load_worker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("prometheus_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = load_worker()


def in_process_batch() -> list[tuple[float, str | None]]:
    """(latency ms, error type) of this process's batch, all for bert v1."""
    rng = random.Random(7)
    return [
        (round(rng.lognormvariate(4.5, 0.7), 3), "timeout" if i % 25 == 0 else None)
        for i in range(300)
    ]


def bucket_of(seconds: float) -> int:
    """The index of the explicit bucket holding ``seconds``."""
    return bisect_left(BUCKETS_S, seconds)


class Prometheus:
    """A running Prometheus server and its HTTP query API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """The instant vector of ``promql`` (at unix time ``at``, now by default)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def values(self, promql: str, by: str, at: float | None = None) -> dict[str, float]:
        """``{label value: sample value}`` of ``promql``'s vector, keyed by label ``by``."""
        return {r["metric"].get(by, ""): float(r["value"][1]) for r in self.query(promql, at)}

    def value(self, promql: str, at: float | None = None) -> float:
        """The one sample of ``promql``; fails unless there is exactly one."""
        result = self.query(promql, at)
        assert len(result) == 1, result
        return float(result[0]["value"][1])


def start_prometheus(
    processes: Any,
    binary: str,
    poll: Callable[..., Any],
    jobs: Mapping[str, Sequence[str]],
    honor_labels: Sequence[str],
) -> Prometheus:
    """One Prometheus scraping ``{job: [host:port, ...]}`` every second; the jobs in
    ``honor_labels`` keep the scraped ``job`` and ``instance`` (as a Pushgateway needs)."""
    lines = ["global:", "  scrape_interval: 1s", "  scrape_timeout: 1s", "scrape_configs:"]
    for job, targets in jobs.items():
        lines.append(f"  - job_name: {job}")
        if job in honor_labels:
            lines.append("    honor_labels: true")
        lines += ["    static_configs:", f"      - targets: {json.dumps(list(targets))}"]
    config = processes.directory / "prometheus.yml"
    config.write_text("\n".join(lines) + "\n")
    port = processes.free_port()
    processes.start(
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={processes.directory / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        name="prometheus",
    )
    prometheus = Prometheus(f"http://127.0.0.1:{port}")
    poll(lambda: urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=1), what="Prometheus")
    return prometheus


def start_worker(processes: Any, port: int, seed: int) -> subprocess.Popen[bytes]:
    process: subprocess.Popen[bytes] = processes.start(
        sys.executable,
        str(WORKER),
        str(port),
        str(seed),
        name=f"worker-{seed}",
        stdin=subprocess.PIPE,
        env={"PYTHONPATH": str(REPO_ROOT)},
    )
    return process


@dataclass
class Cluster:
    prometheus: Prometheus
    metrics: Metrics
    at: float
    """Unix time at which both batches are scraped everywhere: queries evaluate there."""


def record_batch(metrics: Metrics) -> None:
    for latency, error in in_process_batch():
        metrics.record_inference("bert", "v1", latency, error is None, error)


def requests_by_job(prometheus: Prometheus) -> dict[str, float]:
    return prometheus.values("sum by (job) (model_inference_requests_total)", by="job")


@pytest.fixture(scope="module")
def cluster(
    processes: Any, pushgateway: str, prometheus_binary: str, wait_until: Callable[..., Any]
) -> Iterator[Cluster]:
    metrics = Metrics(bus=EventBus()).collect(InferenceCollector())
    exporter = PrometheusExporter()
    metrics.export_to(exporter)
    server = exporter.serve(port=0)
    record_batch(metrics)
    ports = [processes.free_port() for _ in SEEDS]
    workers = [start_worker(processes, port, seed) for port, seed in zip(ports, SEEDS, strict=True)]
    prometheus = start_prometheus(
        processes,
        prometheus_binary,
        wait_until,
        {
            "inprocess": [f"127.0.0.1:{server.port}"],
            "workers": [f"127.0.0.1:{port}" for port in ports],
            "pushgateway": [pushgateway.removeprefix("http://")],
        },
        ["pushgateway"],
    )
    batch = {
        "inprocess": len(in_process_batch()),
        "workers": sum(len(worker.workload(s)) for s in SEEDS),
    }

    def scraped(batches: int) -> bool:
        counts = requests_by_job(prometheus)
        return all(counts.get(job) == n * batches for job, n in batch.items())

    wait_until(lambda: scraped(1), timeout=30, what="the first batch in Prometheus")
    record_batch(metrics)
    for process in workers:
        assert process.stdin is not None
        process.stdin.write(b"emit\n")
        process.stdin.flush()
    wait_until(lambda: scraped(2), timeout=30, what="the second batch in Prometheus")
    yield Cluster(prometheus, metrics, time.time())
    metrics.close()
    exporter.close()


def test_request_and_error_counts_are_exact(cluster: Cluster) -> None:
    batch = in_process_batch()
    errors = Counter(error for _, error in batch if error is not None)
    requests = cluster.prometheus.value(
        'model_inference_requests_total{job="inprocess"}', cluster.at
    )
    by_type = cluster.prometheus.values(
        'model_inference_errors_total{job="inprocess"}', by="error_type", at=cluster.at
    )
    assert requests == 2 * len(batch)
    assert by_type == {error: 2.0 * n for error, n in errors.items()}


def test_histogram_quantile_agrees_with_the_in_process_p95(cluster: Cluster) -> None:
    in_process = cluster.metrics.get_metrics("bert", "v1", window=60).p95_latency_ms / 1000
    promql = cluster.prometheus.value(P95_IN_PROCESS, cluster.at)
    assert bucket_of(promql) == bucket_of(in_process), (promql, in_process)


def test_the_summary_shows_the_in_process_p95(cluster: Cluster) -> None:
    in_process = cluster.metrics.get_metrics("bert", "v1", window=60).p95_latency_ms / 1000
    summary = cluster.prometheus.value(
        'model_inference_latency_window_seconds{job="inprocess",quantile="0.95"}', cluster.at
    )
    assert summary == pytest.approx(in_process, rel=1e-12)


def test_two_workers_sum_to_the_requests_emitted(cluster: Cluster) -> None:
    emitted = Counter(
        version for seed in SEEDS for version, _, _ in worker.workload(seed) for _ in range(2)
    )
    by_version = cluster.prometheus.values(
        'sum by (version) (model_inference_requests_total{job="workers"})',
        by="version",
        at=cluster.at,
    )
    instances = cluster.prometheus.value('count(up{job="workers"} == 1)', cluster.at)
    assert by_version == {version: float(n) for version, n in emitted.items()}
    assert instances == 2


def test_cross_instance_p95_agrees_with_one_process(cluster: Cluster) -> None:
    # What one process recording both workers' requests would answer.
    latencies = [latency for seed in SEEDS for _, latency, _ in worker.workload(seed)] * 2
    one_process = BucketData.of(latencies).quantile(0.95) / 1000
    promql = cluster.prometheus.value(P95_WORKERS, cluster.at)
    assert bucket_of(promql) == bucket_of(one_process), (promql, one_process)


def test_a_pushgateway_push_reads_back_through_promql(
    cluster: Cluster, pushgateway: str, wait_until: Callable[..., Any]
) -> None:
    metrics = Metrics(bus=EventBus()).collect(InferenceCollector())
    exporter = PrometheusExporter()
    metrics.export_to(exporter)
    for latency in (120.0, 80.0, 95.0, 130.0, 101.0):
        metrics.record_inference("nightly-eval", "v7", latency, success=True)
    exporter.push(pushgateway, job="batch_eval", grouping_key={"instance": "batch-1"})
    query = 'model_inference_requests_total{job="batch_eval"}'

    result = wait_until(lambda: cluster.prometheus.query(query), what="the pushed counter")
    assert [(r["metric"], float(r["value"][1])) for r in result] == [
        (
            {
                "__name__": "model_inference_requests_total",
                "instance": "batch-1",
                "job": "batch_eval",
                names.MODEL_NAME: "nightly-eval",
                names.VERSION: "v7",
            },
            5.0,
        )
    ]
    metrics.close()


def test_prometheus_negotiates_openmetrics_and_reads_its_units(cluster: Cluster) -> None:
    # Only OpenMetrics carries "# UNIT": Prometheus knowing the unit proves it scraped that.
    query = urllib.parse.urlencode(
        {"metric": "model_inference_latency_seconds", "match_target": '{job="inprocess"}'}
    )
    url = f"{cluster.prometheus.url}/api/v1/targets/metadata?{query}"
    with urllib.request.urlopen(url, timeout=10) as response:
        metadata = json.load(response)["data"]

    assert [(m["type"], m["unit"]) for m in metadata] == [("histogram", "seconds")]
