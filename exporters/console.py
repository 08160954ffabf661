"""``ConsoleExporter``: a per-version table of the window, written to a text stream.

Each export prints one row per ``model:version`` computed by
:func:`metrics_core.query.all_version_metrics`: request count and rate, latency
mean and quantiles, error rate, time to first token, output tokens per second,
active connections, memory and cost. Meant for terminals, demos and debugging;
use a structured exporter for anything a machine reads.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TextIO

from exporters._settings import check_stream
from metrics_core.query import VersionMetrics, all_version_metrics
from metrics_core.snapshot import Snapshot, window_seconds

CLEAR_SCREEN = "\x1b[2J\x1b[H"
"""ANSI: erase the screen and move the cursor home (for a live view)."""

NO_VERSIONS = "(no model versions yet)"
"""Printed under the header while the snapshot holds no per-version series."""

MISSING = "-"
"""A cell with no value (NaN: nothing observed in the window)."""

Column = tuple[str, Callable[[VersionMetrics], str], bool]
"""A table column: its header, the cell of a version, and whether it is left-aligned."""

_GAP = "  "


def fixed(decimals: int, *, thousands: bool = False) -> Callable[[float], str]:
    """A cell formatter: ``decimals`` places (and ``,`` separators), NaN as ``MISSING``."""
    template = f"{{:{',' if thousands else ''}.{decimals}f}}"

    def render(value: float) -> str:
        return MISSING if math.isnan(value) else template.format(value)

    return render


def _integer(value: float) -> str:
    return MISSING if math.isnan(value) else str(int(value))


def format_table(rows: Sequence[VersionMetrics], columns: Sequence[Column]) -> list[str]:
    """The header line and one line per version, each column as wide as its widest cell."""
    padded = []
    for header, cell, left in columns:
        cells = [cell(m) for m in rows]
        width = max(len(header), *map(len, cells))
        pad = str.ljust if left else str.rjust
        padded.append([pad(header, width), *(pad(c, width) for c in cells)])
    return [_GAP.join(line) for line in zip(*padded, strict=True)]


_one = fixed(1)
_two = fixed(2)
_four = fixed(4)

# (header, cell of a version, left-aligned); the order is the table's.
_COLUMNS: tuple[Column, ...] = (
    ("MODEL", lambda m: m.model_name, True),
    ("VERSION", lambda m: m.version, True),
    ("REQS", lambda m: _integer(m.request_count), False),
    ("RPS", lambda m: _one(m.requests_per_second), False),
    ("AVG ms", lambda m: _one(m.average_latency_ms), False),
    ("P50 ms", lambda m: _one(m.p50_latency_ms), False),
    ("P95 ms", lambda m: _one(m.p95_latency_ms), False),
    ("P99 ms", lambda m: _one(m.p99_latency_ms), False),
    ("ERR %", lambda m: _two(m.error_rate * 100.0), False),
    ("TTFT P95", lambda m: _one(m.ttft_p95_ms), False),
    ("TOK/S", lambda m: _one(m.output_tokens_per_second), False),
    ("ACTIVE", lambda m: _integer(m.active_connections), False),
    ("MEM MB", lambda m: _one(m.memory_usage_mb), False),
    ("COST $", lambda m: _four(m.cost_usd), False),
)


class ConsoleExporter:
    """Write a per-version table of the last ``window`` to ``stream`` on every export.

    :param stream: where to write; ``None`` means ``sys.stdout`` as it is at export
        time (so redirection and pytest's ``capsys`` work). The stream belongs to
        the caller: ``close()`` leaves it open.
    :param window: the window of the table, a ``timedelta`` or seconds (1 min by default).
    :param clear: prefix every table with the ANSI clear-screen sequence (a live view).

    NaN (no observations in the window) shows as ``-``. Latencies, TTFT, RPS,
    tokens per second and memory have one decimal, the error rate two, cost four.

    >>> import io
    >>> from metrics_core.snapshot import Snapshot
    >>> out = io.StringIO()
    >>> ConsoleExporter(out, window=300).export(Snapshot(0.0, ()))
    >>> print(out.getvalue(), end="")
    inference metrics | window 300s | at 1970-01-01T00:00:00+00:00
    (no model versions yet)
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        window: float | timedelta | str = 60.0,
        clear: bool = False,
    ) -> None:
        self._stream = check_stream(stream)
        self._window = window_seconds(window)
        self._clear = clear

    @property
    def window(self) -> float:
        """The window of the table, in seconds."""
        return self._window

    def render(self, snapshot: Snapshot) -> str:
        """Return the table for ``snapshot`` as text, ending with a newline."""
        lines = [_header(self._window, snapshot.taken_at)]
        by_version = all_version_metrics(snapshot, self._window)
        if by_version:
            lines.extend(_table(list(by_version.values())))
        else:
            lines.append(NO_VERSIONS)
        text = "\n".join(lines) + "\n"
        return CLEAR_SCREEN + text if self._clear else text

    def export(self, snapshot: Snapshot) -> None:
        """Write :meth:`render`'s text to the stream and flush it."""
        stream = sys.stdout if self._stream is None else self._stream
        stream.write(self.render(snapshot))
        stream.flush()

    def close(self) -> None:
        """Do nothing: the stream is the caller's to close."""

    def __repr__(self) -> str:
        return (
            f"ConsoleExporter(stream={self._stream!r}, window={self._window!r}, "
            f"clear={self._clear!r})"
        )


def _header(window: float, taken_at: float) -> str:
    at = datetime.fromtimestamp(taken_at, tz=timezone.utc).isoformat(timespec="seconds")
    return f"inference metrics | window {window:g}s | at {at}"


def _table(rows: list[VersionMetrics]) -> list[str]:
    # The last column is right-aligned, so lines carry no trailing spaces.
    return format_table(rows, _COLUMNS)
