"""Completed minutes of a snapshot as rollup rows, and rows as database values.

A store writes, on each export, every minute that ended since its last write (and that
memory still holds: the last hour). Counter rows hold the minute's increment; histogram
and timer rows the minute's sketch, encoded with ``metrics_core.codec`` (never pickled).
"""

from __future__ import annotations

import json

from metrics_core.codec import decode_bucket_data, encode_bucket_data
from metrics_core.history import HOUR, MINUTE, Rollup, floor_minute, minute_values
from metrics_core.sketch import BucketData, merge_all
from metrics_core.snapshot import GaugeSeries, Snapshot
from metrics_core.tags import Tags
from metrics_core.values import MetricKind
from metrics_core.windows import MAX_WINDOW

DbRow = tuple[int | None, float, float | None, float | None, bytes | None]
"""``(count, total, minimum, maximum, sketch)`` as stored."""


def completed_minutes(
    snapshot: Snapshot, after: float | None, *, final: bool = False
) -> tuple[list[Rollup], float]:
    """Rows of the minutes that ended by ``snapshot.taken_at``, from ``after`` on.

    Returns the rows and the start of the minute in progress (the next ``after``).
    Without ``after``, every completed minute memory holds (the last hour). Empty
    minutes give no row; gauges are not rolled up. ``final`` (the process is closing)
    includes the minute in progress as far as it went.
    """
    until = floor_minute(snapshot.taken_at) + (MINUTE if final else 0.0)
    since = until - MAX_WINDOW if after is None else max(after, until - MAX_WINDOW)
    rows: list[Rollup] = []
    for series in snapshot.series:
        if isinstance(series, GaugeSeries):
            continue
        for minute, value in minute_values(series, since).items():
            if minute >= until:
                continue
            if value.count if isinstance(value, BucketData) else value:
                rows.append(Rollup(series.name, series.tags, series.kind, minute, value))
    return rows, until


def encode_tags(tags: Tags) -> str:
    """The canonical JSON text of ``tags`` (sorted keys), as the series table stores it."""
    return json.dumps(dict(sorted(tags.items())), separators=(",", ":"), ensure_ascii=False)


def decode_tags(text: str) -> Tags:
    """The ``Tags`` of a stored series."""
    return Tags.of(json.loads(text))


def to_db(value: float | BucketData) -> DbRow:
    """The stored columns of a counter increment or a sketch."""
    if isinstance(value, BucketData):
        return value.count, value.total, value.minimum, value.maximum, encode_bucket_data(value)
    return None, float(value), None, None, None


def from_db(kind: MetricKind, row: DbRow) -> float | BucketData:
    """The value of stored columns (``CodecError`` when a sketch is corrupt)."""
    if kind is MetricKind.COUNTER:
        return float(row[1])
    sketch = row[4]
    if sketch is None:
        raise ValueError(f"a {kind.value} row has no sketch")
    return decode_bucket_data(bytes(sketch))


def hour_of(start: float) -> float:
    """The start of the hour holding ``start``."""
    return start - start % HOUR


def merge_values(kind: MetricKind, values: list[float | BucketData]) -> float | BucketData:
    """One hour's value from its minutes' values."""
    if kind is MetricKind.COUNTER:
        return sum(float(v) for v in values if not isinstance(v, BucketData))
    return merge_all(v for v in values if isinstance(v, BucketData))
