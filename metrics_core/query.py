"""Per-version queries: ``VersionMetrics`` over any window, read from a snapshot.

The numbers come from the series that ``InferenceCollector`` records (names in
``metrics_core.names``). Latency and TTFT quantiles come from the merged
exponential sketches of the window's slots; counts, error rate and errors by
type are exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

from metrics_core import names
from metrics_core.snapshot import (
    CounterSeries,
    DistributionSeries,
    GaugeSeries,
    Series,
    Snapshot,
    Window,
    window_seconds,
)

QUERY_NAMES: tuple[str, ...] = (
    names.REQUESTS_TOTAL,
    names.ERRORS_TOTAL,
    names.LATENCY,
    names.ACTIVE_CONNECTIONS,
    names.MEMORY_USAGE,
    names.TIME_TO_FIRST_TOKEN,
    names.TOKEN_USAGE,
    names.COST_TOTAL,
)
"""The series a ``VersionMetrics`` is computed from."""


@attrs.frozen(kw_only=True, slots=True)
class VersionMetrics:
    """What one model version did over one window.

    ``window_start`` is the effective start: the window never reaches before the
    version was first seen, nor includes a slot that began before the asked-for
    start (so it may begin up to one slot width later). Rates divide by
    ``window_end - window_start``. Quantiles are NaN when the window is empty.
    ``output_tokens_per_second`` is the version's output-token throughput.
    """

    model_name: str
    version: str
    window_start: float
    window_end: float
    request_count: int
    requests_per_second: float
    average_latency_ms: float
    p50_latency_ms: float
    p95_latency_ms: float
    p99_latency_ms: float
    error_rate: float
    errors_by_type: Mapping[str, int]
    active_connections: int
    memory_usage_mb: float
    ttft_p50_ms: float
    ttft_p95_ms: float
    output_tokens_per_second: float
    cost_usd: float

    @property
    def key(self) -> str:
        """``"model_name:version"``, the key of ``get_all_metrics``."""
        return f"{self.model_name}:{self.version}"

    @property
    def window_seconds(self) -> float:
        """The effective length of the window."""
        return self.window_end - self.window_start


def version_metrics(
    snapshot: Snapshot, model_name: str, version: str, window: Window, now: float | None = None
) -> VersionMetrics:
    """The ``VersionMetrics`` of one version over ``window`` ending at ``now``.

    ``now`` defaults to the snapshot's time. A version with no data gives zero
    counts and NaN quantiles rather than an error.
    """
    match = {names.MODEL_NAME: model_name, names.VERSION: version}
    members = [series for series in snapshot.series if series.tags.includes(match)]
    end = snapshot.taken_at if now is None else now
    return _version_metrics(members, model_name, version, window_seconds(window), end)


def _version_metrics(
    members: list[Series], model_name: str, version: str, seconds: float, end: float
) -> VersionMetrics:
    requests = 0.0
    errors: dict[str, int] = {}
    cost = 0.0
    output_tokens = 0.0
    connections = 0.0
    memory = 0.0
    latency = ttft = None
    starts = [end - seconds]
    for series in members:
        name = series.name
        if isinstance(series, CounterSeries):
            if name == names.REQUESTS_TOTAL:
                total, since = series.window_total_since(seconds, end)
                requests += total
                starts.append(since)
            elif name == names.ERRORS_TOTAL:
                error_type = series.tags.get(names.ERROR_TYPE, "unknown")
                count = round(series.window_total(seconds, end))
                if count:
                    errors[error_type] = errors.get(error_type, 0) + count
            elif name == names.COST_TOTAL:
                cost += series.window_total(seconds, end)
        elif isinstance(series, GaugeSeries):
            if name == names.ACTIVE_CONNECTIONS:
                connections = series.value
            elif name == names.MEMORY_USAGE:
                memory = series.value
        elif isinstance(series, DistributionSeries):
            if name == names.LATENCY:
                latency = series.window_summary(seconds, end)
            elif name == names.TIME_TO_FIRST_TOKEN:
                ttft = series.window_summary(seconds, end)
            elif name == names.TOKEN_USAGE and series.tags.get(names.TOKEN_TYPE) == "output":
                output_tokens += series.window_total(seconds, end)
    start = min(max(starts), end)
    span = max(end - start, 1.0)  # a version seen a moment ago is not rated per nanosecond
    count = round(requests)
    p50, p95, p99 = latency.quantiles(0.5, 0.95, 0.99) if latency else (math.nan,) * 3
    t50, t95 = ttft.quantiles(0.5, 0.95) if ttft else (math.nan, math.nan)
    return VersionMetrics(
        model_name=model_name,
        version=version,
        window_start=start,
        window_end=end,
        request_count=count,
        requests_per_second=count / span if count else 0.0,
        average_latency_ms=latency.mean if latency else math.nan,
        p50_latency_ms=p50,
        p95_latency_ms=p95,
        p99_latency_ms=p99,
        error_rate=sum(errors.values()) / count if count else 0.0,
        errors_by_type=dict(sorted(errors.items())),
        active_connections=int(connections),
        memory_usage_mb=memory / (1024 * 1024),
        ttft_p50_ms=t50,
        ttft_p95_ms=t95,
        output_tokens_per_second=output_tokens / span if output_tokens else 0.0,
        cost_usd=cost,
    )


def all_version_metrics(
    snapshot: Snapshot, window: Window, now: float | None = None
) -> dict[str, VersionMetrics]:
    """``VersionMetrics`` of every version in the snapshot, keyed ``"model:version"``, sorted."""
    seconds = window_seconds(window)
    end = snapshot.taken_at if now is None else now
    by_version: dict[tuple[str, str], list[Series]] = {}
    for series in snapshot.series:
        tags = series.tags
        model_name = tags.get(names.MODEL_NAME)
        version = tags.get(names.VERSION)
        if model_name is not None and version is not None:
            by_version.setdefault((model_name, version), []).append(series)
    out: dict[str, VersionMetrics] = {}
    for (model_name, version), members in sorted(by_version.items()):
        metrics = _version_metrics(members, model_name, version, seconds, end)
        out[metrics.key] = metrics
    return out
