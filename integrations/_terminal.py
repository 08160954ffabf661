"""The demo's live terminal view: a per-version table under a progress bar.

Frames are built from ``VersionMetrics`` (``render_table``, ``render_progress``)
and shown by a ``LiveView``: on a terminal it redraws the frame in place with
ANSI cursor movement (one write per frame, each line erased as it is rewritten,
so nothing flickers); elsewhere (a pipe, a CI log) it prints each frame as a
plain block. NaN cells show as ``-``, as ``ConsoleExporter`` writes them.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from typing import TextIO

from exporters.console import MISSING, NO_VERSIONS, Column, fixed, format_table
from metrics_core.query import VersionMetrics

HIDE_CURSOR = "\x1b[?25l"
"""ANSI: hide the cursor while frames are redrawn."""

SHOW_CURSOR = "\x1b[?25h"
"""ANSI: show the cursor again."""

_ERASE_LINE_END = "\x1b[K"
_ERASE_BELOW = "\x1b[J"


_one = fixed(1, thousands=True)
_two = fixed(2, thousands=True)


def _f1(m: VersionMetrics) -> str:
    return f"{m.macro_f1:.2f}" if m.evaluation_count else MISSING


# (header, cell of a version, left-aligned), in the table's order. Narrower than
# ConsoleExporter's table so that it fits a 100-column terminal.
COLUMNS: tuple[Column, ...] = (
    ("MODEL", lambda m: m.model_name, True),
    ("VERSION", lambda m: m.version, True),
    ("RPS", lambda m: _one(m.requests_per_second), False),
    ("P50 ms", lambda m: _one(m.p50_latency_ms), False),
    ("P95 ms", lambda m: _one(m.p95_latency_ms), False),
    ("P99 ms", lambda m: _one(m.p99_latency_ms), False),
    ("ERR %", lambda m: _two(m.error_rate * 100.0), False),
    ("TTFT P95", lambda m: _one(m.ttft_p95_ms), False),
    ("TOK/S", lambda m: _one(m.output_tokens_per_second or math.nan), False),
    ("IN-FLIGHT", lambda m: str(m.active_connections), False),
    ("F1", _f1, False),
)  # fmt: skip
"""The live table's columns; IN-FLIGHT is ``active_connections``, F1 the macro F1."""


def render_table(rows: Sequence[VersionMetrics]) -> list[str]:
    """The header line and one line per version, each column as wide as its widest cell."""
    if not rows:
        return [NO_VERSIONS]
    return format_table(rows, COLUMNS)


def render_progress(elapsed: float, duration: float, requests: int, width: int = 24) -> str:
    """``[#####-----]  12.0/30 s   40%  3,612 requests``: where the run is."""
    if not duration > 0:
        raise ValueError(f"'duration' must be > 0: {duration!r}")
    share = min(max(elapsed / duration, 0.0), 1.0)
    done = round(share * width)
    bar = "#" * done + "-" * (width - done)
    return (
        f"[{bar}] {min(elapsed, duration):5.1f}/{duration:g} s {share * 100:4.0f}%"
        f"  {requests:,} requests"
    )


def render_totals(rows: Sequence[VersionMetrics], seconds: float) -> str:
    """One line summing ``rows`` (each over the whole run of ``seconds``)."""
    requests = sum(m.request_count for m in rows)
    errors = sum(sum(m.errors_by_type.values()) for m in rows)
    tokens = sum(m.output_tokens_per_second * m.window_seconds for m in rows)
    cost = math.fsum(m.cost_usd for m in rows)
    rate = requests / seconds if seconds > 0 else 0.0
    error_share = errors / requests * 100.0 if requests else 0.0
    return (
        f"totals: {requests:,} requests in {seconds:.1f} s ({rate:,.1f}/s), "
        f"{errors:,} errors ({error_share:.2f} %), {tokens:,.0f} output tokens, "
        f"${cost:.4f}"
    )


class LiveView:
    """Shows frames (lists of lines) on ``stream``.

    :param live: redraw in place (ANSI); ``None`` decides by ``stream.isatty()``.
    :param width: columns to cut live lines to, so none wraps and breaks the redraw;
        ``None`` asks the terminal at each frame.

    Plain frames are printed one after the other, separated by a blank line.
    Call ``close()`` at the end: it shows the cursor again.
    """

    def __init__(self, stream: TextIO, *, live: bool | None = None, width: int | None = None):
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self._width = width
        self._drawn = 0  # lines of the frame on screen, for the next redraw

    def show(self, lines: Sequence[str]) -> None:
        """Draw ``lines`` over the previous frame (live) or below it (plain)."""
        if not self.live:
            prefix = "\n" if self._drawn else ""
            self.stream.write(prefix + "".join(f"{line}\n" for line in lines))
            self._drawn = len(lines)
        else:
            width = self._width or shutil.get_terminal_size().columns
            up = f"\x1b[{self._drawn}A\r" if self._drawn else HIDE_CURSOR
            body = "".join(f"{line[: width - 1]}{_ERASE_LINE_END}\n" for line in lines)
            self.stream.write(up + body + _ERASE_BELOW)
            self._drawn = len(lines)
        self.stream.flush()

    def close(self) -> None:
        """Leave the last frame where it is and show the cursor again (live)."""
        if self.live and self._drawn:
            self.stream.write(SHOW_CURSOR)
            self.stream.flush()
        self._drawn = 0
