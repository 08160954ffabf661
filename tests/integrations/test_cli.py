"""The ``inference-metrics`` command: the demo as a real process over real HTTP, the
terminal renderer on fixed values, and the benchmark runner."""

from __future__ import annotations

import io
import json
import math
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors import InferenceCollector
from integrations._terminal import (
    HIDE_CURSOR,
    SHOW_CURSOR,
    LiveView,
    render_progress,
    render_table,
    render_totals,
)
from integrations.cli import run_bench
from integrations.workload import DEFAULT_PROFILES, SyntheticWorkload, canary_pairs
from metrics_core import EventBus, Metrics
from metrics_core.query import VersionMetrics

REPO_ROOT = Path(__file__).resolve().parents[2]
URL = re.compile(r"Prometheus metrics\s+(http://127\.0\.0\.1:\d+)/metrics")
HEADER = "MODEL           VERSION"
VERDICTS = (
    "  fraud-detector: v2 vs v1: worse (",
    "  image-tagger: 2024.2 vs 2024.1: no_difference (",
    "  chat-llm: 7b-q4 vs 7b-q8: better (",
)


class Command:
    """``python -m integrations.cli ...`` with its output read line by line as it comes."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "integrations.cli", *args],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """The first match of ``pattern`` in a line, waiting for it to be printed."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.lines):
                found = re.search(pattern, line)
                if found:
                    return found
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        pytest.fail(f"no line matching {pattern!r}; output:\n{self.output}")

    def finish(self, timeout: float = 20.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5.0)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5.0)
        self._reader.join(5.0)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def command() -> Iterator[type[Command]]:
    started: list[Command] = []

    class Tracked(Command):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for each in started:
        each.kill()


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers["content-type"], response.read().decode()


# -- the demo, end to end -----------------------------------------------------------------


def final_requests(export_file: Path) -> int:
    """The requests of every version in the file's last export (the one at the stop)."""
    last: dict[str, float] = {}
    for line in export_file.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["metric"] == "model_inference_requests_total":
            last[json.dumps(record["tags"], sort_keys=True)] = record["value"]
    assert len(last) == len(DEFAULT_PROFILES), last
    return int(sum(last.values()))


def totals_requests(line: str) -> int:
    found = re.match(r"totals: ([\d,]+) requests", line)
    assert found, line
    return int(found.group(1).replace(",", ""))


def test_demo_serves_metrics_and_dashboard_then_prints_verdicts(
    command: type[Command], wait_until: Callable[..., Any], tmp_path: Path
) -> None:
    export_file = tmp_path / "demo.jsonl"
    demo = command("demo", "--duration", "5", "--port", "0", "--export-file", str(export_file))
    base = demo.wait_for(URL.pattern).group(1)
    demo.wait_for("exports")
    assert demo.lines[:6] == [
        "inference-metrics demo: 6 versions of 3 models, ~300 req/s for 5 s (Ctrl-C stops early)",
        f"  Prometheus metrics  {base}/metrics",
        f"  live dashboard      {base}/dashboard",
        f"  per-version JSON    {base}/metrics/versions",
        f"  exports (JSON lines every 10 s and at the stop)  {export_file}",
        "",
    ]
    expected = {f'model_name="{p.model_name}",version="{p.version}"' for p in DEFAULT_PROFILES}

    def scraped_versions() -> set[str]:
        status, content_type, body = get(base + "/metrics")
        assert (status, content_type) == (200, "text/plain; version=0.0.4; charset=utf-8")
        found = re.findall(r"^model_inference_requests_total\{(.*)\} \d", body, re.MULTILINE)
        return set(found)

    wait_until(lambda: scraped_versions() == expected, timeout=4.0, what="all 6 versions")
    status, content_type, page = get(base + "/dashboard")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert "<html" in page.lower()
    assert demo.finish() == 0
    output = demo.output
    assert "Traceback" not in output
    assert "stopped after 5.0 s (duration reached)" in output
    # The first plain table at 1 s, then the whole run's table.
    assert output.count(HEADER) == 2
    assert demo.wait_for(r"^\[#+-*\]\s+1\.\d/5 s").group(0)
    for verdict in VERDICTS:
        assert sum(line.startswith(verdict) for line in demo.lines) == 1, verdict
    # The final export happened after the last request: it holds every one of them.
    assert demo.lines[-2].startswith("totals: ")
    assert final_requests(export_file) == totals_requests(demo.lines[-2])
    assert demo.lines[-1].startswith("exported: ")
    assert f" series lines in {export_file} " in demo.lines[-1]


def test_sigint_stops_cleanly_with_the_final_report(command: type[Command], tmp_path: Path) -> None:
    export_file = tmp_path / "demo.jsonl"
    demo = command("demo", "--duration", "60", "--port", "0", "--export-file", str(export_file))
    demo.wait_for(HEADER)
    demo.process.send_signal(signal.SIGINT)
    assert demo.finish() == 0
    output = demo.output
    assert "Traceback" not in output
    assert "(stop requested); shutting down" in output
    # Stopped after about a second: a version may have had too few requests for a verdict.
    for verdict in VERDICTS:
        model_line = verdict.rsplit(": ", 1)[0]
        assert re.search(
            rf"^{re.escape(model_line)}: (worse|no_difference|better|insufficient_data) \(",
            output,
            re.MULTILINE,
        ), model_line
    assert final_requests(export_file) == totals_requests(demo.lines[-2])
    assert demo.lines[-1].startswith("exported: ")


def test_second_sigint_during_shutdown_exits_at_once(command: type[Command]) -> None:
    demo = command("demo", "--duration", "60", "--port", "0")
    base = demo.wait_for(URL.pattern).group(1)
    port = int(base.rsplit(":", 1)[1])
    # A client that never sends its announced body holds the server's shutdown.
    with socket.create_connection(("127.0.0.1", port)) as stuck:
        stuck.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        demo.wait_for(HEADER)
        demo.process.send_signal(signal.SIGINT)
        demo.wait_for("shutting down")
        demo.process.send_signal(signal.SIGINT)
        assert demo.finish(timeout=3.0) == 130
    assert demo.lines[-1] == "interrupted again: exiting without the final report"
    assert "Traceback" not in demo.output


def test_a_taken_port_is_named(command: type[Command]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        demo = command("demo", "--duration", "5", "--port", str(port))
        assert demo.finish() == 2
    assert demo.lines == [
        f"inference-metrics demo: port {port} on 127.0.0.1 is already in use; "
        "pass --port N for another port, or --port 0 for a free one"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "0"], "argument --duration: must be a finite number > 0: '0'"),
        (["--rate", "-1"], "argument --rate: must be a finite number > 0: '-1'"),
        (["--port", "70000"], "argument --port: must be within 0..65535: '70000'"),
    ],
)
def test_bad_arguments_are_named(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "integrations.cli", "demo", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"inference-metrics demo: error: {message}"


# -- the workload -------------------------------------------------------------------------


def test_default_profiles_give_the_three_verdicts_in_virtual_time() -> None:
    bus = EventBus()
    metrics = Metrics(bus=bus).collect(InferenceCollector())
    workload = SyntheticWorkload(bus, seed=7)
    workload.advance(10.0)
    verdicts = {
        model: metrics.compare(model, baseline, candidate).verdict.value
        for model, baseline, candidate in canary_pairs(DEFAULT_PROFILES)
    }
    assert verdicts == {
        "fraud-detector": "worse",
        "image-tagger": "no_difference",
        "chat-llm": "better",
    }
    assert workload.started - workload.finished == workload.in_flight > 0
    metrics.close()


def test_workload_rejects_a_bad_rate() -> None:
    with pytest.raises(ValueError, match=r"^'rate' must be > 0: 0$"):
        SyntheticWorkload(EventBus(), rate=0)


# -- the terminal renderer ----------------------------------------------------------------

_NAN = math.nan


def _llm_row() -> VersionMetrics:
    return VersionMetrics(
        model_name="chat-llm",
        version="7b-q4",
        window_start=0.0,
        window_end=10.0,
        request_count=250,
        requests_per_second=25.0,
        average_latency_ms=600.0,
        p50_latency_ms=550.3,
        p95_latency_ms=1145.5,
        p99_latency_ms=1213.7,
        error_rate=0.016,
        errors_by_type={"RateLimitError": 4},
        active_connections=20,
        memory_usage_mb=6144.0,
        ttft_p50_ms=150.0,
        ttft_p95_ms=315.9,
        output_tokens_per_second=4806.7,
        cost_usd=0.05,
    )


def _empty_row() -> VersionMetrics:
    return VersionMetrics(
        model_name="fraud-detector",
        version="v1",
        window_start=5.0,
        window_end=10.0,
        request_count=0,
        requests_per_second=0.0,
        average_latency_ms=_NAN,
        p50_latency_ms=_NAN,
        p95_latency_ms=_NAN,
        p99_latency_ms=_NAN,
        error_rate=0.0,
        errors_by_type={},
        active_connections=0,
        memory_usage_mb=0.0,
        ttft_p50_ms=_NAN,
        ttft_p95_ms=_NAN,
        output_tokens_per_second=0.0,
        cost_usd=0.0,
        evaluation_count=12,
        macro_f1=0.8333,
    )


def test_table_cells_are_exact_and_nan_shows_as_a_dash() -> None:
    assert render_table([_llm_row(), _empty_row()]) == [
        "MODEL           VERSION   RPS  P50 ms   P95 ms   P99 ms  ERR %  TTFT P95    TOK/S  IN-FLIGHT    F1",  # noqa: E501
        "chat-llm        7b-q4    25.0   550.3  1,145.5  1,213.7   1.60     315.9  4,806.7         20     -",  # noqa: E501
        "fraud-detector  v1        0.0       -        -        -   0.00         -        -          0  0.83",  # noqa: E501
    ]  # fmt: skip


def test_table_without_versions_says_so() -> None:
    assert render_table([]) == ["(no model versions yet)"]


def test_progress_and_totals_lines() -> None:
    assert render_progress(12.0, 30, 3612) == (
        "[##########--------------]  12.0/30 s   40%  3,612 requests"
    )
    assert render_progress(31.0, 30, 0, width=4) == "[####]  30.0/30 s  100%  0 requests"
    assert render_totals([_llm_row(), _empty_row()], 10.0) == (
        "totals: 250 requests in 10.0 s (25.0/s), 4 errors (1.60 %), 48,067 output tokens, $0.0500"
    )
    with pytest.raises(ValueError, match=r"^'duration' must be > 0: 0$"):
        render_progress(1.0, 0, 0)


def test_plain_view_appends_blocks() -> None:
    stream = io.StringIO()
    view = LiveView(stream)  # a StringIO is not a TTY
    assert not view.live
    view.show(["a", "b"])
    view.show(["c"])
    view.close()
    assert stream.getvalue() == "a\nb\n\nc\n"


def test_live_view_redraws_in_place() -> None:
    stream = io.StringIO()
    view = LiveView(stream, live=True, width=6)
    view.show(["first line", "b"])
    view.show(["c"])
    view.close()
    assert stream.getvalue() == (
        f"{HIDE_CURSOR}first\x1b[K\nb\x1b[K\n\x1b[J"  # cut to width - 1: no line wraps
        "\x1b[2A\rc\x1b[K\n\x1b[J"  # up over the two lines drawn, erase what is left
        f"{SHOW_CURSOR}"
    )


# -- bench --------------------------------------------------------------------------------


def test_bench_without_the_benchmarks_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_bench(quick=True, root=tmp_path) == 2
    assert capsys.readouterr().err == (
        f"inference-metrics bench: no benchmarks at {tmp_path / 'benchmarks'}; they ship with "
        "the source checkout, not the wheel: clone the repository and run it from there\n"
    )


def test_bench_runs_each_script_with_the_flags_and_streams_its_output(tmp_path: Path) -> None:
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    names = [
        "hot_path",
        "production",
        "backends",
        "integrations",
        "control",
        "worker_group",
        "history",
    ]
    for name in names:
        (folder / f"{name}.py").write_text(f"import sys\nprint({name!r}, sys.argv[1:])\n")
    (folder / "backends.py").write_text("import sys\nprint('back', sys.argv[1:])\nsys.exit(1)\n")
    out = io.StringIO()
    assert run_bench(quick=True, root=tmp_path, stream=out) == 1  # a missed target
    assert out.getvalue() == "".join(
        f"== benchmarks/{name}.py --quick\n"
        + ("back ['--quick']\n" if name == "backends" else f"{name} ['--quick']\n")
        for name in names
    )
    out = io.StringIO()
    (folder / "backends.py").write_text("print('back')\n")
    assert run_bench(root=tmp_path, stream=out) == 0
    assert out.getvalue() == "".join(
        f"== benchmarks/{name}.py\n" + ("back\n" if name == "backends" else f"{name} []\n")
        for name in names
    )


def test_bench_quick_starts_the_real_benchmarks_and_stops_on_sigint(
    command: type[Command],
) -> None:
    # The quick run takes about a minute: watch it start, then interrupt it.
    bench = command("bench", "--quick")
    bench.wait_for(r"^== benchmarks/hot_path\.py --quick$")
    bench.wait_for(r"^mode: quick; ")
    bench.process.send_signal(signal.SIGINT)
    assert bench.finish() == 130
    assert bench.lines[-1] == "interrupted"
    assert "Traceback" not in bench.output
