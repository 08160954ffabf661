"""A worker group under real servers: uvicorn --workers 3, gunicorn recycling its workers, and a
real Prometheus scraping it. Every answer is the whole group's, whichever worker gives it."""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metrics_core.sketch import BucketData
from tests.conftest import FreePort, ServerBinary, Spawn, WaitUntil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[0]
LABELS = re.compile(r'(\w+)="([^"]*)"')
REQUESTS = "model_inference_requests_total"
ERRORS = "model_inference_errors_total"


def get(url: str) -> bytes:
    """The body at ``url``; a connection reset is tried again (twice at most).

    A gunicorn worker that reaches ``--max-requests`` exits, and the kernel resets the
    connections it had accepted but not read yet: never served, so sent again, as a load
    balancer would.
    """
    last: OSError | None = None
    for attempt in range(3):
        try:
            with urllib.request.urlopen(url, timeout=30) as response:  # workers may reboot
                body: bytes = response.read()
                return body
        except (ConnectionResetError, http.client.RemoteDisconnected) as error:
            if attempt == 2:
                raise
            last = error
        except urllib.error.URLError as error:
            if attempt == 2 or not isinstance(error.reason, ConnectionResetError):
                raise
            last = error
        time.sleep(0.05)
    raise AssertionError(f"unreachable: {last!r}")


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name{labels...}`` (labels compared as a whole) in ``text``."""
    for line in text.splitlines():
        if line.startswith(name + "{"):
            head, value = line.rsplit(" ", 1)
            if dict(LABELS.findall(head)) == labels:
                return float(value)
    return None


def scrape(base: str) -> tuple[float | None, float | None]:
    """(requests, timeouts) of bert v1 on one scrape of ``/obs/metrics``."""
    text = get(f"{base}/obs/metrics").decode()
    bert = {"model_name": "bert", "version": "v1"}
    return sample(text, REQUESTS, **bert), sample(text, ERRORS, error_type="timeout", **bert)


def send(base: str, count: int, fail_every: int, version: str = "v1") -> set[int]:
    """``count`` requests, every ``fail_every``-th one failed; the pids that answered."""
    pids = set()
    for i in range(count):
        fail = int(i % fail_every == 0)
        answer = json.loads(
            get(f"{base}/predict?fail={fail}&version={version}&latency={5 + i % 40}")
        )
        pids.add(answer["pid"])
    return pids


def environment(directory: Path) -> dict[str, str]:
    return {
        "PYTHONPATH": f"{ROOT}:{HERE}",
        "INFERENCE_METRICS_MULTIPROC_DIR": str(directory),
        "INFERENCE_METRICS_MULTIPROC_INTERVAL": "0.5",
    }


@pytest.fixture
def uvicorn_group(spawn: Spawn, free_port: FreePort, wait_until: WaitUntil, tmp_path: Path) -> str:
    port = free_port()
    spawn(
        sys.executable, "-m", "uvicorn", "worker_group_app:app", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "3", "--timeout-graceful-shutdown", "3",
        name="uvicorn", env=environment(tmp_path / "group"),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: get(f"{base}/obs/metrics"), what="uvicorn --workers 3")
    return base


def test_uvicorn_workers_answer_every_endpoint_for_the_whole_group(
    uvicorn_group: str, wait_until: WaitUntil
) -> None:
    base = uvicorn_group
    pids = send(base, 300, 10) | send(base, 60, 1_000, version="v2")
    assert len(pids) >= 2, f"one worker answered every request: {pids}"
    expected = {"bert:v1": (300, {"timeout": 30}), "bert:v2": (60, {"timeout": 1})}

    def versions() -> dict[str, tuple[int, dict[str, int]]]:
        payload = json.loads(get(f"{base}/obs/metrics/versions?window=5m"))
        return {v["key"]: (v["request_count"], v["errors_by_type"]) for v in payload["versions"]}

    # Within the freshness interval (0.5 s here) of the last request, every worker knows.
    wait_until(lambda: versions() == expected, timeout=10, what="the group's totals")
    for _ in range(12):  # new connections: whichever worker accepts answers
        assert scrape(base) == (300.0, 30.0)
        assert versions() == expected
    # The merged sketches of three workers give the p95 of one sketch of all 300 latencies.
    one_process = BucketData.of(5.0 + i % 40 for i in range(300))
    payload = json.loads(get(f"{base}/obs/metrics/versions?window=5m"))["versions"]
    (v1,) = [v for v in payload if v["key"] == "bert:v1"]
    assert [v1["p50_latency_ms"], v1["p95_latency_ms"], v1["p99_latency_ms"]] == [
        one_process.quantile(0.5),
        one_process.quantile(0.95),
        one_process.quantile(0.99),
    ]
    query = "model=bert&baseline=v1&candidate=v2&window=5m"
    comparison = json.loads(get(f"{base}/obs/metrics/compare?{query}"))
    assert comparison["baseline"]["request_count"] == 300
    assert comparison["candidate"]["request_count"] == 60
    with urllib.request.urlopen(f"{base}/obs/metrics/stream?window=5m", timeout=10) as stream:
        while not (line := stream.readline().decode()).startswith("data: "):
            pass
    counts = {v["key"]: v["request_count"] for v in json.loads(line[6:])["versions"]}
    assert counts == {"bert:v1": 300, "bert:v2": 60}


class Scraper(threading.Thread):
    """Scrapes ``/obs/metrics`` without pause, keeping every requests total it saw."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.seen: list[float] = []
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                total, _ = scrape(self.base)
            except OSError as error:  # a worker stopping mid-answer: retried
                self.errors.append(error)
                continue
            if total is not None:
                self.seen.append(total)
            time.sleep(0.02)


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": promql} | ({} if at is None else {"time": f"{at:.3f}"})
        body = json.loads(get(f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"))
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


@pytest.fixture
def gunicorn_group(
    spawn: Spawn,
    free_port: FreePort,
    wait_until: WaitUntil,
    server_binary: ServerBinary,
    tmp_path: Path,
) -> Iterator[tuple[str, Prometheus]]:
    port = free_port()
    spawn(
        sys.executable, "-m", "gunicorn", "worker_group_app:app", "-b", f"127.0.0.1:{port}",
        "-w", "3", "-k", "uvicorn.workers.UvicornWorker", "--max-requests", "40",
        "--graceful-timeout", "3",
        name="gunicorn", env=environment(tmp_path / "group"),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: get(f"{base}/obs/metrics"), what="gunicorn -w 3")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
        f"  - job_name: group\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        "    metrics_path: /obs/metrics\n"
    )
    prometheus_port = free_port()
    spawn(
        server_binary("prometheus"), f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}", name="prometheus",
    )  # fmt: skip
    prometheus = Prometheus(f"http://127.0.0.1:{prometheus_port}")
    wait_until(lambda: get(f"{prometheus.url}/-/ready"), what="Prometheus")
    wait_until(
        lambda: prometheus.query(f'{REQUESTS}{{job="group"}}'), timeout=30, what="a first scrape"
    )
    yield base, prometheus


def test_gunicorn_recycling_workers_never_lowers_a_counter_and_prometheus_sees_no_reset(
    gunicorn_group: tuple[str, Prometheus], wait_until: WaitUntil
) -> None:
    base, prometheus = gunicorn_group
    scraper = Scraper(base)
    scraper.start()
    try:
        pids = send(base, 240, 8)
        wait_until(lambda: scrape(base) == (240.0, 30.0), timeout=15, what="the group's totals")
        time.sleep(1.0)
    finally:
        scraper.stop.set()
        scraper.join(10)
    assert len(pids) > 3, f"gunicorn recycled no worker: {pids}"
    assert scraper.seen == sorted(scraper.seen), "a scrape saw the counter go down"
    assert scraper.seen[-1] == 240.0
    for _ in range(6):
        assert scrape(base) == (240.0, 30.0)
        payload = json.loads(get(f"{base}/obs/metrics/versions?window=5m"))["versions"]
        assert [(v["key"], v["request_count"], v["errors_by_type"]) for v in payload] == [
            ("bert:v1", 240, {"timeout": 30})
        ]
    series = f'{REQUESTS}{{job="group",model_name="bert",version="v1"}}'

    def last_sample() -> float | None:
        (result,) = prometheus.query(f"timestamp({series})")
        value = prometheus.query(series)[0]["value"][1]
        return float(result["value"][1]) if value == "240" else None

    at = wait_until(last_sample, timeout=15, what="Prometheus scraping the final total")
    (resets,) = prometheus.query(f"resets({series}[5m])", at)
    (increase,) = prometheus.query(f"increase({series}[5m])", at)
    assert float(resets["value"][1]) == 0.0
    # The first sample is 0 (the app creates the series at start) and the query runs at the
    # last sample: Prometheus extrapolates neither end, so the increase is exactly N.
    assert float(increase["value"][1]) == pytest.approx(240.0, rel=1e-9)
