"""docs/exporters.md's mapping table is the one the naming rules give, row for row.

Each row follows from ``metrics_core.names`` (kinds and units) and the exporters'
naming functions, so a renamed metric or a changed rule fails here until the
table is regenerated (the failure prints the expected table).
"""

from __future__ import annotations

from pathlib import Path

from exporters._naming import otlp_unit, prometheus_name, statsd_name
from exporters.prometheus import summary_name
from metrics_core import names
from metrics_core.values import MetricKind

DOC = Path(__file__).resolve().parents[2] / "docs" / "exporters.md"
BEGIN = "<!-- mapping-table:begin -->"
END = "<!-- mapping-table:end -->"
HEADER = (
    "| recorded name | kind | Prometheus | StatsD / DogStatsD | OTLP | unit |\n"
    "|---|---|---|---|---|---|"
)
_STATS = ".avg`, `.p50`, `.p95`, `.p99`, `.max` (g)"
_OTLP_TYPES = {
    MetricKind.COUNTER: "Sum (monotonic, cumulative)",
    MetricKind.GAUGE: "Gauge",
    MetricKind.HISTOGRAM: "ExponentialHistogram",
    MetricKind.TIMER: "ExponentialHistogram",
}


def _row(name: str, kind: MetricKind) -> str:
    prom = prometheus_name(name, kind)
    key = statsd_name(name)
    if kind is MetricKind.COUNTER:
        prometheus, statsd = f"`{prom}` counter", f"`{key}` (c, delta)"
    elif kind is MetricKind.GAUGE:
        prometheus, statsd = f"`{prom}` gauge", f"`{key}` (g)"
    else:
        prometheus = f"`{prom}` histogram, `{summary_name(name, kind)}` summary"
        statsd = f"`{key}.count` (c), `{key}{_STATS}"
    unit = otlp_unit(name, kind) or "-"
    if kind is MetricKind.TIMER:
        unit = f"{unit} (Prometheus: s)"
    otlp = f"`{name}` {_OTLP_TYPES[kind]}"
    return f"| `{name}` | {kind.value} | {prometheus} | {statsd} | {otlp} | {unit} |"


def expected_table() -> str:
    rows = [_row(name, names.KINDS[name]) for name in names.KINDS]
    return "\n".join([HEADER, *rows])


def test_the_mapping_table_in_the_docs_is_generated_from_the_rules() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"{DOC} lacks the {BEGIN} ... {END} markers"
    table = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    expected = expected_table()
    assert table == expected, f"regenerate the table in {DOC}:\n\n{expected}\n"


def test_every_timer_gets_seconds_in_prometheus_and_milliseconds_elsewhere() -> None:
    timers = [name for name, kind in names.KINDS.items() if kind is MetricKind.TIMER]
    assert timers
    for name in timers:
        assert prometheus_name(name, MetricKind.TIMER).endswith("_seconds")
        assert otlp_unit(name, MetricKind.TIMER) == "ms"
