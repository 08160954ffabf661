"""The live dashboard in a real browser: headless Chromium reading ``metrics_app`` under uvicorn.

A workload thread emits inference events for three models x two versions (one
of them LLM-style, with tokens and time to first token) on a real ``Metrics``;
``metrics_app`` streams them every 0.25 s through ``serve_app``. The tests wait
for conditions in the page (never for fixed times) and read cells by their
``data-key`` / ``data-field`` hooks. Every request the page makes is recorded,
and any that leaves 127.0.0.1 is refused and fails the test.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Route,
    sync_playwright,
)

from collectors import InferenceCollector
from exporters import SQLiteStore
from integrations.asgi import metrics_app
from integrations.server import RunningServer, serve_app
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import InferenceCompleted, InferenceFailed, InferenceStarted
from metrics_core.facade import Metrics

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard.png"
STREAM_INTERVAL = 0.25
TIMEOUT_MS = 15_000
NULL = "\u2013"

# (model, version, requests, failures, latency ms, LLM-style)
WORKLOAD: tuple[tuple[str, str, int, int, float, bool], ...] = (
    ("fraud-detector", "v1", 12, 0, 12.0, False),
    ("fraud-detector", "v2", 20, 4, 18.0, False),
    ("image-tagger", "2024.1", 1_500, 0, 45.0, False),
    ("image-tagger", "2024.2", 9, 0, 30.0, False),
    ("chat-llm", "7b-q4", 6, 0, 900.0, True),
    ("chat-llm", "7b-q8", 5, 0, 1_300.0, True),
)
FIELDS = (
    "requests_per_second",
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "error_rate",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "output_tokens_per_second",
    "request_count",
)

# One evaluation reads the whole table and the message it shows, so both agree.
READ_TABLE = """() => {
  const rows = {};
  for (const row of document.querySelectorAll("#versions tr[data-key]")) {
    const cells = {};
    for (const td of row.querySelectorAll("td[data-field]")) {
      cells[td.dataset.field] = {
        text: td.textContent, value: td.dataset.value ?? null, level: td.dataset.level ?? null
      };
    }
    rows[row.dataset.key] = cells;
  }
  const order = Array.from(document.querySelectorAll("#versions tr[data-key]"), r => r.dataset.key);
  const last = window.__dashboard.last;
  const message = {};
  for (const v of (last ? last.versions : [])) message[v.key] = v;
  return {rows, order, message};
}"""

COUNTS_SHOWN = """(expected) => Object.entries(expected).every(([key, count]) => {
  const td = document.querySelector(`tr[data-key="${key}"] td[data-field="request_count"]`);
  return td !== null && td.dataset.value === String(count);
})"""

POINTS_AT_LEAST = """([keys, n]) => keys.every(k => (window.__dashboard.points[k] || 0) >= n)"""

# Pixels of the plot area (right of the y-axis labels, above the time labels) that differ
# from the blank canvas, and which version colours appear among them.
INK = """(id) => {
  const canvas = document.getElementById(id);
  const ratio = window.devicePixelRatio || 1;
  const g = canvas.getContext("2d");
  const x = Math.round(56 * ratio);
  const data = g.getImageData(x, 0, canvas.width - x, canvas.height - Math.round(22 * ratio)).data;
  const colours = Object.entries(window.__dashboard.colors).map(([key, hex]) =>
    [key, [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16))]);
  let ink = 0;
  const seen = new Set();
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 0) continue;
    ink++;
    for (const [key, rgb] of colours) {
      if (Math.abs(data[i] - rgb[0]) + Math.abs(data[i + 1] - rgb[1])
          + Math.abs(data[i + 2] - rgb[2]) <= 24 && data[i + 3] > 240) seen.add(key);
    }
  }
  return {ink, colours: Array.from(seen).sort()};
}"""


def emit(
    bus: EventBus,
    model: str,
    version: str,
    requests: int,
    failures: int = 0,
    latency_ms: float = 10.0,
    llm: bool = False,
) -> None:
    """``requests`` requests of ``latency_ms``, the last ``failures`` of them failed."""
    for i in range(requests):
        request_id = f"{model}:{version}:{i}"
        bus.emit(InferenceStarted(model_name=model, version=version, request_id=request_id))
        if i >= requests - failures:
            bus.emit(
                InferenceFailed(
                    model_name=model,
                    version=version,
                    duration_ms=latency_ms,
                    error_type="TimeoutError",
                    request_id=request_id,
                )
            )
        elif llm:
            bus.emit(
                InferenceCompleted(
                    model_name=model,
                    version=version,
                    duration_ms=latency_ms,
                    request_id=request_id,
                    time_to_first_token_ms=latency_ms / 5,
                    input_tokens=300,
                    output_tokens=120,
                    cost_usd=0.0002,
                )
            )
        else:
            bus.emit(
                InferenceCompleted(
                    model_name=model, version=version, duration_ms=latency_ms, request_id=request_id
                )
            )


def emit_from_thread(bus: EventBus, batches: tuple[tuple[Any, ...], ...]) -> None:
    """Emit ``batches`` (``emit`` arguments after the bus) from a workload thread; wait for it."""

    def run() -> None:
        for batch in batches:
            emit(bus, *batch)

    thread = threading.Thread(target=run, name="dashboard-workload")
    thread.start()
    thread.join(30)
    assert not thread.is_alive()


def assert_row_shows(
    shown: dict[str, Any],
    model: str,
    version: str,
    requests: int,
    failures: int,
    latency_ms: float,
    llm: bool,
) -> None:
    """The row of ``model:version`` in ``shown`` (``Visit.table()``) shows what ``emit`` did."""
    key = f"{model}:{version}"
    row, message = shown["rows"][key], shown["message"][key]
    assert row["model"]["text"] == model
    assert row["version"]["text"] == version
    assert row["request_count"]["text"] == f"{requests:,}"
    # Every cell holds the value of the message it shows, and its text rounds that value.
    for field in FIELDS:
        value = message[field]
        if value is None:
            assert (row[field]["text"], row[field]["value"]) == (NULL, "")
        else:
            assert float(row[field]["value"]) == value
    rps = message["requests_per_second"]
    # The query rates a version seen for under a second over one second.
    span = max(message["window_end"] - message["window_start"], 1.0)
    assert rps == pytest.approx(requests / span)
    assert _shown(row["requests_per_second"]["text"]) == pytest.approx(
        rps, abs=0.5 * 10 ** -_decimals(rps) + 1e-9
    )
    assert _shown(row["p50_latency_ms"]["text"]) == pytest.approx(latency_ms, rel=0.01)
    assert _shown(row["p99_latency_ms"]["text"]) == pytest.approx(latency_ms, rel=0.01)
    if llm:
        assert _shown(row["ttft_p50_ms"]["text"]) == pytest.approx(latency_ms / 5, rel=0.01)
        assert float(row["output_tokens_per_second"]["value"]) > 0
    else:
        assert row["ttft_p50_ms"]["text"] == row["ttft_p95_ms"]["text"] == NULL
    error_rate = failures / requests
    assert float(row["error_rate"]["value"]) == error_rate
    assert row["error_rate"]["level"] == ("high" if error_rate >= 0.05 else "ok")


def _decimals(value: float) -> int:
    """How many decimals the page shows of a rate or a latency."""
    size = abs(value)
    return 2 if size < 10 else 1 if size < 1000 else 0


def _shown(text: str) -> float:
    return float(text.replace(",", "").rstrip(" %"))


class Visit:
    """One page of its own browser context, with everything it requested and complained about."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.requests: list[str] = []
        self.foreign: list[str] = []
        self.problems: list[str] = []
        context.route(lambda url: not _is_local(url), self._refuse)
        self.page: Page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("request", self._record)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))

    def _refuse(self, route: Route) -> None:
        self.foreign.append(route.request.url)
        route.abort()

    def _record(self, request: Request) -> None:
        self.requests.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def paths(self) -> set[str]:
        """The paths (with query) of every request, all of which went to 127.0.0.1."""
        assert self.foreign == []
        assert {urlsplit(url).hostname for url in self.requests} == {"127.0.0.1"}
        return {urlsplit(url)._replace(scheme="", netloc="").geturl() for url in self.requests}

    def table(self) -> dict[str, Any]:
        """The rows (cells by field), their order, and the message they show, by key."""
        result: dict[str, Any] = self.page.evaluate(READ_TABLE)
        return result

    def wait_for_counts(self, expected: dict[str, int]) -> None:
        """Until every ``key: count`` of ``expected`` is the row's request count."""
        self.page.wait_for_function(COUNTS_SHOWN, arg=expected)

    def wait_for_points(self, keys: list[str], n: int) -> None:
        """Until the charts hold at least ``n`` points of every version in ``keys``."""
        self.page.wait_for_function(POINTS_AT_LEAST, arg=[keys, n])


def _is_local(url: str) -> bool:
    return urlsplit(url).hostname == "127.0.0.1"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def visit(browser: Browser) -> Iterator[Callable[[str], Visit]]:
    """``visit(url)``: open ``url`` in a fresh 1280x800 context; all closed at teardown."""
    visits: list[Visit] = []

    def open_page(url: str) -> Visit:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
        visits.append(Visit(context))
        visits[-1].page.goto(url)
        return visits[-1]

    yield open_page
    for opened in visits:
        opened.context.close()


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    metrics = Metrics(bus=EventBus()).collect(InferenceCollector())
    yield metrics
    metrics.close()


@pytest.fixture
def server(metrics: Metrics) -> Iterator[RunningServer]:
    with serve_app(metrics_app(metrics, stream_interval=STREAM_INTERVAL)) as running:
        yield running


def test_dashboard_shows_every_version_live(
    metrics: Metrics, server: RunningServer, visit: Callable[[str], Visit]
) -> None:
    emit_from_thread(metrics.bus, WORKLOAD)
    expected = {f"{model}:{version}": n for model, version, n, *_ in WORKLOAD}

    page = visit(server.url + "/dashboard")
    page.wait_for_counts(expected)

    shown = page.table()
    assert shown["order"] == [
        "chat-llm:7b-q4",
        "chat-llm:7b-q8",
        "fraud-detector:v1",
        "fraud-detector:v2",
        "image-tagger:2024.1",
        "image-tagger:2024.2",
    ]
    for batch in WORKLOAD:
        assert_row_shows(shown, *batch)
    assert shown["rows"]["fraud-detector:v2"]["error_rate"]["text"] == "20.0 %"
    assert shown["rows"]["fraud-detector:v1"]["error_rate"]["text"] == "0.00 %"
    assert page.page.text_content("#total-requests") == f"{sum(expected.values()):,}"

    # Values change in place as more events arrive.
    before = page.table()["rows"]["fraud-detector:v1"]["request_count"]["text"]
    emit_from_thread(metrics.bus, (("fraud-detector", "v1", 30, 0, 12.0),))
    expected["fraud-detector:v1"] = 42
    page.wait_for_counts(expected)
    assert (before, page.table()["rows"]["fraud-detector:v1"]["request_count"]["text"]) == (
        "12",
        "42",
    )

    # Versions first seen after the page loaded: a new model group and a tenth version.
    emit_from_thread(
        metrics.bus, (("embedder", "e5-small", 7, 0, 5.0), ("fraud-detector", "v10", 3, 3, 9.0))
    )
    expected |= {"embedder:e5-small": 7, "fraud-detector:v10": 3}
    page.wait_for_counts(expected)
    later = page.table()
    assert later["order"] == [
        "chat-llm:7b-q4",
        "chat-llm:7b-q8",
        "embedder:e5-small",
        "fraud-detector:v1",
        "fraud-detector:v2",
        "fraud-detector:v10",
        "image-tagger:2024.1",
        "image-tagger:2024.2",
    ]
    assert later["rows"]["fraud-detector:v10"]["error_rate"]["text"] == "100.0 %"
    assert (
        page.page.eval_on_selector_all(
            "#legend [data-key]", "items => items.map(i => i.dataset.key)"
        )
        == later["order"]
    )

    # Both charts drew lines in the versions' colours. On the log-scale latency chart every
    # version has its own line; on the linear RPS chart the busiest stands clear of the rest.
    page.wait_for_points(later["order"], 3)
    latency, rps_chart = (
        page.page.evaluate(INK, "chart-latency"),
        page.page.evaluate(INK, "chart-rps"),
    )
    assert latency["ink"] > 500 and rps_chart["ink"] > 500
    assert latency["colours"] == sorted(expected)
    assert "image-tagger:2024.1" in rps_chart["colours"]

    status = page.page.locator("#status")
    assert status.get_attribute("data-state") == "live"
    assert re.fullmatch(r"updated \d\d:\d\d:\d\d", page.page.text_content("#last-update") or "")
    ARTIFACT.parent.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACT), full_page=True)

    assert page.paths() == {"/dashboard", "/metrics/history?since=900&step=60", "/metrics/stream"}
    assert page.problems == []


def test_dashboard_under_a_mount_prefix_passes_its_window_on(
    metrics: Metrics, visit: Callable[[str], Visit]
) -> None:
    app = FastAPI()
    app.mount("/obs", metrics_app(metrics, stream_interval=STREAM_INTERVAL))
    emit_from_thread(metrics.bus, (("fraud-detector", "v1", 4, 1, 12.0),))

    with serve_app(app) as server:
        page = visit(server.url + "/obs/dashboard?window=5m")
        page.wait_for_counts({"fraud-detector:v1": 4})

        row = page.table()["rows"]["fraud-detector:v1"]
        assert (row["error_rate"]["text"], row["error_rate"]["level"]) == ("25.0 %", "high")
        assert page.page.text_content("#window-seconds") == "5 min"
        assert page.paths() == {
            "/obs/dashboard?window=5m",
            "/obs/metrics/history?since=900&step=60",
            "/obs/metrics/stream?window=5m",
        }
        assert page.problems == []


def test_dashboard_reconnects_when_the_server_comes_back(
    metrics: Metrics, visit: Callable[[str], Visit]
) -> None:
    app = metrics_app(metrics, stream_interval=STREAM_INTERVAL)
    emit_from_thread(metrics.bus, (("fraud-detector", "v1", 2, 0, 12.0),))
    first = serve_app(app)
    try:
        page = visit(first.url + "/dashboard")
        page.wait_for_counts({"fraud-detector:v1": 2})
        status = page.page.locator("#status")
    finally:
        first.stop()

    page.page.wait_for_function("() => window.__dashboard.status === 'reconnecting'")
    assert status.get_attribute("data-state") == "reconnecting"
    assert page.page.text_content("#status-text") == "reconnecting…"
    emit_from_thread(metrics.bus, (("fraud-detector", "v1", 3, 0, 12.0),))
    with serve_app(app, port=first.port):
        page.wait_for_counts({"fraud-detector:v1": 5})
        assert status.get_attribute("data-state") == "live"
    # While the server was away the browser may have logged its refused connection.
    assert [p for p in page.problems if "ERR_CONNECTION_REFUSED" not in p] == []


def test_the_guard_refuses_and_records_requests_that_leave_127_0_0_1(
    server: RunningServer, visit: Callable[[str], Visit]
) -> None:
    page = visit(server.url + "/dashboard")
    page.page.wait_for_function("() => window.__dashboard.status === 'live'")

    # 192.0.2.0/24 is reserved for documentation: nothing answers there, and it never leaves.
    refused = page.page.evaluate(
        "() => fetch('http://192.0.2.1/probe').then(() => false, () => true)"
    )

    assert refused is True
    assert page.foreign == ["http://192.0.2.1/probe"]


def test_dashboard_without_data_says_so(
    server: RunningServer, visit: Callable[[str], Visit]
) -> None:
    page = visit(server.url + "/dashboard")
    page.page.wait_for_function("() => window.__dashboard.messages >= 2")

    assert page.page.is_visible("#empty")
    assert page.page.text_content("#empty") == "No inference recorded in the window yet."
    assert page.page.text_content("#total-versions") == "0"
    assert page.page.text_content("#total-error-rate") == NULL
    assert page.table()["order"] == []
    assert page.problems == []


BACKFILLED = "() => window.__dashboard.backfilled !== null"


def test_charts_have_history_on_first_paint_and_follow_the_range(
    tmp_path: Path, visit: Callable[[str], Visit]
) -> None:
    # An earlier process wrote two hours of one version, five hours ago, to the store.
    start = (time.time() // 60 - 5 * 60) * 60
    clock = ManualClock(start)
    earlier = Metrics(bus=EventBus(), clock=clock, history=SQLiteStore(tmp_path / "h.db"))
    earlier.collect(InferenceCollector())
    for minute in range(120):
        clock.set(start + minute * 60 + 1)
        earlier.record_inference("old-model", "v1", 20.0 + minute % 7, success=True)
        if minute % 30 == 29:
            earlier.export()
    clock.set(start + 121 * 60)
    earlier.close()
    # This process has only recorded a moment ago; memory holds that.
    metrics = Metrics(bus=EventBus(), history=SQLiteStore(tmp_path / "h.db"))
    metrics.collect(InferenceCollector())
    emit_from_thread(metrics.bus, (("fraud-detector", "v1", 12, 0, 12.0),))

    with serve_app(metrics_app(metrics, stream_interval=60.0)) as server:
        page = visit(server.url + "/dashboard?range=86400")
        page.page.wait_for_function(BACKFILLED)
        # Before the stream's second message, the charts already hold the store's past.
        state = page.page.evaluate("() => window.__dashboard")
        assert state["messages"] <= 1
        assert state["range"] == 86400
        assert 24 <= state["points"]["old-model:v1"] <= 25  # 120 minutes in 5-minute steps
        assert state["points"]["fraud-detector:v1"] >= 1
        assert page.page.get_attribute("#range [data-seconds='86400']", "aria-pressed") == "true"
        note = page.page.text_content("#latency-note") or ""
        assert note.startswith("per version, last 24 h")
        page.page.wait_for_function("() => window.__dashboard.points['old-model:v1'] > 0")
        rps_chart = page.page.evaluate(INK, "chart-rps")
        assert "old-model:v1" in rps_chart["colours"]

        page.page.click("#range [data-seconds='3600']")
        page.page.wait_for_function(BACKFILLED)
        state = page.page.evaluate("() => window.__dashboard")
        assert state["range"] == 3600
        assert state["points"]["old-model:v1"] == 0  # five hours ago: outside the hour
        assert state["points"]["fraud-detector:v1"] >= 1
        assert page.page.get_attribute("#range [data-seconds='3600']", "aria-pressed") == "true"
        assert page.paths() == {
            "/dashboard?range=86400",
            "/metrics/history?since=86400&step=300",
            "/metrics/history?since=3600&step=60",
            "/metrics/stream",
        }
        assert page.problems == []
    metrics.close()


def test_long_ranges_keep_one_live_point_per_sixth_of_a_step(
    metrics: Metrics, visit: Callable[[str], Visit]
) -> None:
    emit_from_thread(metrics.bus, (("fraud-detector", "v1", 5, 0, 12.0),))
    with serve_app(metrics_app(metrics, stream_interval=STREAM_INTERVAL)) as server:
        page = visit(server.url + "/dashboard?range=86400")
        page.page.wait_for_function(BACKFILLED)
        page.page.wait_for_function("() => window.__dashboard.messages >= 6")
        # One backfilled 5-minute step, then one live point that each message replaces.
        assert page.page.evaluate("() => window.__dashboard.points['fraud-detector:v1']") == 2
        page.page.click("#range [data-seconds='900']")
        page.page.wait_for_function(BACKFILLED)
        seen = page.page.evaluate("() => window.__dashboard.messages")
        page.page.wait_for_function(f"() => window.__dashboard.messages >= {seen + 4}")
        # Fifteen minutes: every message adds a point.
        assert page.page.evaluate("() => window.__dashboard.points['fraud-detector:v1']") >= 5
        assert page.problems == []


def test_dashboard_keeps_versions_whose_names_hold_colons_apart(
    metrics: Metrics, server: RunningServer, visit: Callable[[str], Visit]
) -> None:
    # Joined as "model:version" both were "a:b:c", and one row hid the other (issue #10).
    metrics.record_inference("a:b", "c", 10.0, success=True)
    for _ in range(2):
        metrics.record_inference("a", "b:c", 20.0, success=True)
    page = visit(server.url + "/dashboard")
    page.page.wait_for_function(
        "() => document.querySelectorAll('#versions tr[data-key]').length === 2"
        " && window.__dashboard.messages >= 1"
    )
    rows = page.table()["rows"]
    assert {
        key: (cells["model"]["text"], cells["version"]["text"], cells["request_count"]["text"])
        for key, cells in rows.items()
    } == {"a\\:b:c": ("a:b", "c", "1"), "a:b\\:c": ("a", "b:c", "2")}
    assert page.problems == []


def test_dashboard_splits_by_a_kept_dimension(visit: Callable[[str], Visit]) -> None:
    metrics = Metrics(bus=EventBus()).collect(InferenceCollector(dimensions=("provider",)))
    for provider, count in (("openai", 3), ("anthropic", 2)):
        for _ in range(count):
            metrics.bus.emit(
                InferenceCompleted(
                    model_name="chat",
                    version="v1",
                    duration_ms=9.0,
                    attributes={"provider": provider},
                )
            )
    try:
        with serve_app(metrics_app(metrics, stream_interval=STREAM_INTERVAL)) as server:
            page = visit(server.url + "/dashboard?by=provider")
            page.wait_for_counts({"chat:v1|provider=openai": 3, "chat:v1|provider=anthropic": 2})
            rows = page.table()["rows"]
            assert rows["chat:v1|provider=openai"]["version"]["text"] == "v1 · provider=openai"
            assert page.paths() == {
                "/dashboard?by=provider",
                "/metrics/history?since=900&step=60&by=provider",
                "/metrics/stream?by=provider",
            }
            page.page.wait_for_function(BACKFILLED)
            points = page.page.evaluate("() => window.__dashboard.points")
            assert set(points) == {"chat:v1|provider=openai", "chat:v1|provider=anthropic"}
            assert page.problems == []
    finally:
        metrics.close()
