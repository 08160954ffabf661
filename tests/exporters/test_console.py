from __future__ import annotations

import io
import sys
from datetime import timedelta

import pytest

from exporters import ConsoleExporter
from exporters.console import CLEAR_SCREEN, NO_VERSIONS
from metrics_core import names
from metrics_core.clock import ManualClock
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.snapshot import DistributionSeries, Snapshot

START = 1_700_000_000.0
HEADERS = (
    "MODEL", "VERSION", "REQS", "RPS", "AVG ms", "P50 ms", "P95 ms", "P99 ms",
    "ERR %", "TTFT P95", "TOK/S", "ACTIVE", "MEM MB", "COST $",
)  # fmt: skip

# (model, version) -> latencies in ms of its requests; errors come first.
LATENCIES = {
    ("bert", "v1"): [10.0, 12.0, 14.0, 16.0, 18.0, 20.0, 22.0, 24.0, 26.0, 28.0],
    ("bert", "v2"): [5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0],
    ("llama", "v1"): [100.0, 150.0, 200.0, 250.0, 300.0],
    ("llama", "v2"): [80.0, 90.0, 100.0, 110.0, 120.0, 130.0, 140.0, 150.0],
}
ERRORS = {("bert", "v1"): 2, ("llama", "v2"): 1}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def registry(clock: ManualClock) -> AggregatingRegistry:
    return AggregatingRegistry(clock=clock)


def record(registry: AggregatingRegistry, model: str, version: str, latencies: list[float]) -> None:
    tags = {names.MODEL_NAME: model, names.VERSION: version}
    for i, latency in enumerate(latencies):
        registry.counter(names.REQUESTS_TOTAL, tags)
        registry.timer(names.LATENCY, tags, latency)
        if i < ERRORS.get((model, version), 0):
            registry.counter(names.ERRORS_TOTAL, {**tags, names.ERROR_TYPE: "timeout"})


@pytest.fixture
def snapshot(registry: AggregatingRegistry, clock: ManualClock) -> Snapshot:
    for (model, version), latencies in LATENCIES.items():
        record(registry, model, version, latencies)
    llama = {names.MODEL_NAME: "llama", names.VERSION: "v1"}
    registry.timer(names.TIME_TO_FIRST_TOKEN, llama, 40.0)
    registry.histogram(names.TOKEN_USAGE, {**llama, names.TOKEN_TYPE: "output"}, 500)
    registry.gauge(names.ACTIVE_CONNECTIONS, llama, 3)
    registry.gauge(names.MEMORY_USAGE, llama, 512 * 1024 * 1024)
    registry.counter(names.COST_TOTAL, llama, 0.0123)
    # Only a gauge: no requests in the window, so every latency is NaN.
    registry.gauge(names.ACTIVE_CONNECTIONS, {names.MODEL_NAME: "idle", names.VERSION: "v0"}, 0)
    clock.advance(10.0)
    return registry.snapshot()


def data_rows(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """The table's data rows by (model, version), each as {header: cell}."""
    rows = {}
    for line in text.splitlines()[2:]:
        cells = line.split()
        assert len(cells) == len(HEADERS), line
        rows[cells[0], cells[1]] = dict(zip(HEADERS, cells, strict=True))
    return rows


def p50_cell(snapshot: Snapshot, model: str, version: str) -> str:
    series = snapshot.get(names.LATENCY, {names.MODEL_NAME: model, names.VERSION: version})
    assert isinstance(series, DistributionSeries)
    return f"{series.window_summary(60.0, snapshot.taken_at).quantile(0.5):.1f}"


def test_header_gives_window_and_snapshot_time_in_utc(snapshot: Snapshot) -> None:
    lines = ConsoleExporter(window=60).render(snapshot).splitlines()

    assert lines[0] == "inference metrics | window 60s | at 2023-11-14T22:13:30+00:00"
    assert lines[1].split()[:3] == ["MODEL", "VERSION", "REQS"]
    for header in HEADERS:
        assert header in lines[1]


def test_one_row_per_version_with_exact_counts_and_p50(snapshot: Snapshot) -> None:
    rows = data_rows(ConsoleExporter().render(snapshot))

    assert list(rows) == sorted([*LATENCIES, ("idle", "v0")])
    for (model, version), latencies in LATENCIES.items():
        row = rows[model, version]
        assert row["REQS"] == str(len(latencies))
        assert row["AVG ms"] == f"{sum(latencies) / len(latencies):.1f}"
        assert row["P50 ms"] == p50_cell(snapshot, model, version)


def test_cells_have_fixed_precision(snapshot: Snapshot) -> None:
    rows = data_rows(ConsoleExporter().render(snapshot))

    # 10 s since every series was first seen: rates divide by 10.
    assert rows["bert", "v1"]["RPS"] == "1.0"
    assert rows["bert", "v1"]["ERR %"] == "20.00"
    assert rows["llama", "v2"]["ERR %"] == "12.50"
    assert rows["bert", "v2"]["ERR %"] == "0.00"
    llama = rows["llama", "v1"]
    assert llama["RPS"] == "0.5"
    assert llama["AVG ms"] == "200.0"
    assert llama["TTFT P95"] == "40.0"
    assert llama["TOK/S"] == "50.0"
    assert llama["ACTIVE"] == "3"
    assert llama["MEM MB"] == "512.0"
    assert llama["COST $"] == "0.0123"


def test_nan_shows_as_dash(snapshot: Snapshot) -> None:
    rows = data_rows(ConsoleExporter().render(snapshot))

    idle = rows["idle", "v0"]
    assert [idle[h] for h in ("REQS", "RPS", "ERR %", "ACTIVE")] == ["0", "0.0", "0.00", "0"]
    for header in ("AVG ms", "P50 ms", "P95 ms", "P99 ms"):
        assert idle[header] == "-"
    assert rows["bert", "v1"]["TTFT P95"] == "-"


def test_columns_are_aligned(snapshot: Snapshot) -> None:
    table = ConsoleExporter().render(snapshot).splitlines()[1:]

    assert len({len(line) for line in table}) == 1
    # Numbers are right-aligned under their header: each header ends where its cells end.
    header = table[0]
    for line in table[1:]:
        for name in ("REQS", "P50 ms", "COST $"):
            end = header.index(name) + len(name)
            assert line[end - 1] != " "
            assert end == len(line) or line[end] == " "


def test_window_may_be_a_timedelta() -> None:
    text = ConsoleExporter(window=timedelta(minutes=5)).render(Snapshot(START, ()))

    assert "window 300s" in text.splitlines()[0]


def test_invalid_window_raises() -> None:
    with pytest.raises(ValueError, match="'window'"):
        ConsoleExporter(window=0)


def test_empty_snapshot_says_no_versions_yet() -> None:
    lines = ConsoleExporter().render(Snapshot(START, ())).splitlines()

    assert lines == ["inference metrics | window 60s | at 2023-11-14T22:13:20+00:00", NO_VERSIONS]


def test_clear_prefixes_the_clear_screen_sequence(snapshot: Snapshot) -> None:
    plain = ConsoleExporter().render(snapshot)

    assert ConsoleExporter(clear=True).render(snapshot) == CLEAR_SCREEN + plain
    assert not plain.startswith("\x1b")


def test_export_writes_render_and_flushes(snapshot: Snapshot) -> None:
    class Stream(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1

    stream = Stream()
    exporter = ConsoleExporter(stream)
    exporter.export(snapshot)
    exporter.close()

    assert stream.getvalue() == exporter.render(snapshot)
    assert stream.flushes == 1
    assert not stream.closed


def test_default_stream_is_stdout_at_export_time(
    snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exporter = ConsoleExporter()
    later = io.StringIO()
    monkeypatch.setattr(sys, "stdout", later)

    exporter.export(snapshot)

    assert later.getvalue() == exporter.render(snapshot)
    assert capsys.readouterr().out == ""


def test_renders_a_thousand_versions(registry: AggregatingRegistry) -> None:
    for i in range(1_000):
        tags = {names.MODEL_NAME: f"model{i // 10:03d}", names.VERSION: f"v{i % 10}"}
        registry.counter(names.REQUESTS_TOTAL, tags, i)
        registry.timer(names.LATENCY, tags, float(i))

    lines = ConsoleExporter().render(registry.snapshot()).splitlines()

    assert len(lines) == 2 + 1_000
    assert lines[2].split()[:3] == ["model000", "v0", "0"]
    assert lines[-1].split()[:3] == ["model099", "v9", "999"]


def test_repr() -> None:
    assert repr(ConsoleExporter(window=timedelta(seconds=30), clear=True)) == (
        "ConsoleExporter(stream=None, window=30.0, clear=True)"
    )
