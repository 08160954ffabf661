"""Queries split or filtered by the dimensions collectors keep.

``where={"provider": "openai"}`` keeps the counters and distributions whose
tags have those values; ``by=("provider",)`` answers one ``VersionMetrics`` per
version and value (its ``dimensions`` holds the values, its ``key`` reads
``"chat:v1|provider=openai"``). Requests that did not carry a ``by`` key form
the group without it. Gauges (connections, memory, in-flight, sampling rates)
are per version: every group of a version reads them. Splits sum to the
unsplit totals: each request is recorded in exactly one series per metric.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from metrics_core import names
from metrics_core._validation import check_tag_key
from metrics_core.attributes import check_attribute_keys
from metrics_core.query import VersionMetrics, _version_metrics
from metrics_core.snapshot import GaugeSeries, Series, Snapshot, Window, window_seconds

__all__ = ["check_by", "check_where", "filter_snapshot", "split_version_metrics"]

_RESERVED = (names.MODEL_NAME, names.VERSION)


def check_where(where: object) -> dict[str, str]:
    """``where`` as a dict of tag key to string value; raises naming the bad item."""
    if where is None:
        return {}
    if not isinstance(where, Mapping):
        raise TypeError(f"'where' must be a mapping of dimension to value: {where!r}")
    out: dict[str, str] = {}
    for key, value in where.items():
        try:
            check_tag_key(key)
        except ValueError as error:
            raise ValueError(f"'where': {error}") from None
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            out[key] = str(value)
        else:
            raise ValueError(f"'where[{key!r}]' must be a str, int, float or bool: {value!r}")
    return out


def check_by(by: object) -> tuple[str, ...]:
    """``by`` as a tuple of dimension keys; a string or a repeated key raises."""
    keys = check_attribute_keys(by, "by")
    for key in keys:
        if key in _RESERVED:
            raise ValueError(f"'by' must not include {key!r}: results are per version already")
    return keys


def filter_snapshot(snapshot: Snapshot, where: Mapping[str, str]) -> Snapshot:
    """``snapshot`` without the counters and distributions whose tags miss ``where``.

    Gauges stay: they are per version.
    """
    kept = tuple(
        series
        for series in snapshot.series
        if series.__class__ is GaugeSeries or series.tags.includes(where)
    )
    return Snapshot(snapshot.taken_at, kept)


def split_version_metrics(
    snapshot: Snapshot,
    window: Window,
    *,
    by: Iterable[str] = (),
    where: Mapping[str, str] | None = None,
    now: float | None = None,
) -> dict[str, VersionMetrics]:
    """``VersionMetrics`` per version and ``by`` values, of the series matching ``where``.

    Keyed by ``VersionMetrics.key``, sorted. A version none of whose requests match
    ``where`` is left out.
    """
    keys = check_by(by)
    match = check_where(where)
    seconds = window_seconds(window)
    end = snapshot.taken_at if now is None else now
    groups: dict[tuple[str, str, tuple[str, ...]], list[Series]] = {}
    gauges: dict[tuple[str, str], list[Series]] = {}
    for series in snapshot.series:
        tags = series.tags
        model_name = tags.get(names.MODEL_NAME)
        version = tags.get(names.VERSION)
        if model_name is None or version is None:
            continue
        if series.__class__ is GaugeSeries:
            gauges.setdefault((model_name, version), []).append(series)
            continue
        if match and not tags.includes(match):
            continue
        # "\0" marks a missing key: it sorts first and is no tag value anyone sends.
        values = tuple(tags.get(key, "\0") for key in keys)
        groups.setdefault((model_name, version, values), []).append(series)
    if not match:  # versions with gauges only still answer, as unsplit queries do
        seen = {(m, v) for m, v, _ in groups}
        for pair in gauges:
            if pair not in seen:
                groups[(pair[0], pair[1], ("\0",) * len(keys))] = []
    out: dict[str, VersionMetrics] = {}
    for (model_name, version, values), members in sorted(groups.items()):
        found = _version_metrics(
            members + gauges.get((model_name, version), []), model_name, version, seconds, end
        )
        dimensions = {key: value for key, value in zip(keys, values, strict=True) if value != "\0"}
        if dimensions:
            found = attrs.evolve(found, dimensions=dimensions)
        out[found.key] = found
    return out
