"""Canary comparison of two versions of a model over one window."""

from __future__ import annotations

import attrs

from metrics_core import names
from metrics_core.query import VersionMetrics, version_metrics
from metrics_core.sketch import EMPTY, BucketData, merge_all
from metrics_core.snapshot import DistributionSeries, Snapshot, Window, window_seconds
from metrics_core.stats import TestResult, Verdict, decide, mann_whitney_binned, two_proportion_z


@attrs.frozen(kw_only=True, slots=True)
class Comparison:
    """How a candidate version compares with a baseline over one window.

    Deltas are candidate minus baseline. ``latency_test`` is a Mann-Whitney U test
    on the two latency sketches (values in one bucket tie); ``error_test`` a pooled
    two-proportion z-test on error rates. ``verdict`` applies ``metrics_core.stats.decide``:
    each test at alpha/2 (Bonferroni, alpha 0.05 by default), at least 30 requests
    per version, ``worse`` if either is significantly worse, ``better`` if one is
    significantly better and neither worse.
    """

    model_name: str
    baseline: VersionMetrics
    candidate: VersionMetrics
    p50_latency_delta_ms: float
    p95_latency_delta_ms: float
    p99_latency_delta_ms: float
    error_rate_delta: float
    latency_test: TestResult
    error_test: TestResult
    verdict: Verdict


def compare_versions(
    snapshot: Snapshot,
    model_name: str,
    baseline: str,
    candidate: str,
    window: Window,
    *,
    alpha: float = 0.05,
    min_samples: int = 30,
    now: float | None = None,
) -> Comparison:
    """Compare ``candidate`` with ``baseline`` over ``window`` ending at ``now``."""
    seconds = window_seconds(window)
    end = snapshot.taken_at if now is None else now
    base = version_metrics(snapshot, model_name, baseline, seconds, end)
    cand = version_metrics(snapshot, model_name, candidate, seconds, end)
    base_latency = _latency(snapshot, model_name, baseline, seconds, end)
    cand_latency = _latency(snapshot, model_name, candidate, seconds, end)
    latency_test = mann_whitney_binned(
        base_latency.positive_buckets(),
        cand_latency.positive_buckets(),
        base_latency.zeros,
        cand_latency.zeros,
    )
    error_test = two_proportion_z(
        sum(base.errors_by_type.values()),
        base.request_count,
        sum(cand.errors_by_type.values()),
        cand.request_count,
    )
    return Comparison(
        model_name=model_name,
        baseline=base,
        candidate=cand,
        p50_latency_delta_ms=cand.p50_latency_ms - base.p50_latency_ms,
        p95_latency_delta_ms=cand.p95_latency_ms - base.p95_latency_ms,
        p99_latency_delta_ms=cand.p99_latency_ms - base.p99_latency_ms,
        error_rate_delta=cand.error_rate - base.error_rate,
        latency_test=latency_test,
        error_test=error_test,
        verdict=decide(latency_test, error_test, alpha=alpha, min_samples=min_samples),
    )


def _latency(
    snapshot: Snapshot, model_name: str, version: str, seconds: float, now: float
) -> BucketData:
    # Every latency series of the version: one per kept dimension values when split.
    match = {names.MODEL_NAME: model_name, names.VERSION: version}
    parts = [
        series.window_summary(seconds, now).data
        for series in snapshot.find(names.LATENCY, match)
        if isinstance(series, DistributionSeries)
    ]
    return merge_all(parts, compact=False) if parts else EMPTY
