"""Per-version queries: ``VersionMetrics`` over any window, read from a snapshot.

The numbers come from the series that ``InferenceCollector`` and
``QualityCollector`` record (names in ``metrics_core.names``). Latency and TTFT
quantiles come from the merged exponential sketches of the window's slots;
counts, error rate, errors by type, precision, recall and F1 are exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

from metrics_core import names
from metrics_core.sketch import merge_all
from metrics_core.snapshot import (
    CounterSeries,
    DistributionSeries,
    GaugeSeries,
    Series,
    Snapshot,
    Window,
    WindowSummary,
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
    names.EVALUATIONS_TOTAL,
    names.F1,
    names.SAMPLING_RATE,
)
"""The series a ``VersionMetrics`` is computed from."""


@attrs.frozen(kw_only=True, slots=True)
class ClassScores:
    """Precision, recall and F1 of one class against all others.

    ``support`` is how many evaluated predictions had this class as ground truth.
    """

    precision: float
    recall: float
    f1: float
    support: int


@attrs.frozen(kw_only=True, slots=True)
class ClassificationScores:
    """Scores of a set of evaluated predictions (a confusion matrix).

    Zero denominators give 0.0: a class never predicted has precision 0.0, never
    expected recall 0.0. With no evaluations at all, accuracy and the macro scores
    are NaN (no data, not a score of zero). ``accuracy`` is the share of evaluations
    whose actual class was the expected one. Macro scores average the per-class
    scores over every class that appears as expected or actual, unweighted; macro
    F1 is the mean of the per-class F1 scores (as scikit-learn computes it), not
    the F1 of macro precision and recall.
    """

    evaluations: int
    by_class: Mapping[str, ClassScores]
    macro_precision: float
    macro_recall: float
    macro_f1: float
    accuracy: float = math.nan

    def binary(self, positive_class: str) -> ClassScores:
        """The scores with ``positive_class`` as the positive class (0.0 if never seen)."""
        return self.by_class.get(positive_class, _NO_SCORES)


_NO_SCORES = ClassScores(precision=0.0, recall=0.0, f1=0.0, support=0)
_NAN = math.nan


def classification_scores(confusion: Mapping[tuple[str, str], float]) -> ClassificationScores:
    """Scores of a confusion matrix given as ``{(expected, actual): count}``."""
    true_positives: dict[str, float] = {}
    expected_counts: dict[str, float] = {}
    actual_counts: dict[str, float] = {}
    total = correct = 0.0
    for (expected, actual), n in confusion.items():
        if not n:
            continue
        total += n
        expected_counts[expected] = expected_counts.get(expected, 0.0) + n
        actual_counts[actual] = actual_counts.get(actual, 0.0) + n
        if expected == actual:
            true_positives[expected] = true_positives.get(expected, 0.0) + n
            correct += n
    by_class: dict[str, ClassScores] = {}
    for label in sorted(expected_counts.keys() | actual_counts.keys()):
        tp = true_positives.get(label, 0.0)
        truth = expected_counts.get(label, 0.0)  # TP + FN
        predicted = actual_counts.get(label, 0.0)  # TP + FP
        # 2TP / (2TP + FP + FN), the harmonic mean of precision and recall in one division.
        by_class[label] = ClassScores(
            precision=tp / predicted if predicted else 0.0,
            recall=tp / truth if truth else 0.0,
            f1=2 * tp / (truth + predicted) if tp else 0.0,
            support=round(truth),
        )
    scores = by_class.values()
    n_classes = len(by_class)
    return ClassificationScores(
        evaluations=round(total),
        by_class=by_class,
        macro_precision=math.fsum(c.precision for c in scores) / n_classes if n_classes else _NAN,
        macro_recall=math.fsum(c.recall for c in scores) / n_classes if n_classes else _NAN,
        macro_f1=math.fsum(c.f1 for c in scores) / n_classes if n_classes else _NAN,
        accuracy=correct / total if total else _NAN,
    )


_NO_EVALUATIONS = classification_scores({})


@attrs.frozen(kw_only=True, slots=True)
class VersionMetrics:
    """What one model version did over one window.

    ``window_start`` is the effective start: the window never reaches before the
    version was first seen, nor includes a slot that began before the asked-for
    start (so it may begin up to one slot width later). Rates divide by
    ``window_end - window_start``. Quantiles are NaN when the window is empty.
    ``output_tokens_per_second`` is the version's output-token throughput.

    Quality (from ``QualityCollector``'s confusion-matrix counter over the same
    window): ``evaluation_count`` predictions evaluated; ``accuracy``, the share
    that were correct; ``precision``, ``recall`` and ``f1`` for the collector's
    ``positive_class`` (NaN when it has none); ``macro_*`` averaged over classes
    (see ``ClassificationScores``). Zero denominators give 0.0; with no
    evaluations in the window every quality score is NaN (``null`` in JSON).
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
    evaluation_count: int = 0
    positive_class: str | None = None
    precision: float = math.nan
    recall: float = math.nan
    f1: float = math.nan
    macro_precision: float = math.nan
    macro_recall: float = math.nan
    macro_f1: float = math.nan
    sampling_rates: Mapping[str, float] = attrs.field(factory=dict)
    dimensions: Mapping[str, str] = attrs.field(factory=dict)
    accuracy: float = math.nan

    @property
    def key(self) -> str:
        r"""``"model_name:version"``, the key of ``get_all_metrics``.

        A ``:``, ``|`` or ``\`` inside either name is escaped with a backslash, so that two
        versions never share a key: ``("a:b", "c")`` gives ``a\:b:c`` and
        ``("a", "b:c")`` gives ``a:b\:c``. A split by dimensions appends
        ``|key=value`` per dimension the group has (``|``, ``=`` and ``\`` in a value
        escaped with a backslash).
        """
        model, version = self.model_name, self.version
        if any(c in model or c in version for c in _KEY_SPECIAL):
            model, version = _escape_key(model), _escape_key(version)
        if not self.dimensions:
            return f"{model}:{version}"
        return f"{model}:{version}" + "".join(
            f"|{key}={_escape_value(value)}" for key, value in self.dimensions.items()
        )

    @property
    def window_seconds(self) -> float:
        """The effective length of the window."""
        return self.window_end - self.window_start


_KEY_SPECIAL = (":", "|", "\\")


def _escape_key(name: str) -> str:
    return name.replace("\\", "\\\\").replace(":", "\\:").replace("|", "\\|")


def _escape_value(value: str) -> str:
    if "|" in value or "=" in value or "\\" in value:
        return value.replace("\\", "\\\\").replace("|", "\\|").replace("=", "\\=")
    return value


def version_metrics(
    snapshot: Snapshot,
    model_name: str,
    version: str,
    window: Window,
    now: float | None = None,
    *,
    where: Mapping[str, str] | None = None,
) -> VersionMetrics:
    """The ``VersionMetrics`` of one version over ``window`` ending at ``now``.

    ``now`` defaults to the snapshot's time. A version with no data gives zero
    counts and NaN quantiles rather than an error. ``where`` keeps the counters
    and distributions of the requests whose kept dimensions have those values;
    gauges (connections, memory, rates) are per version and always read.
    """
    match = {names.MODEL_NAME: model_name, names.VERSION: version}
    members = [
        series
        for series in snapshot.series
        if series.tags.includes(match)
        and (not where or series.__class__ is GaugeSeries or series.tags.includes(where))
    ]
    end = snapshot.taken_at if now is None else now
    return _version_metrics(members, model_name, version, window_seconds(window), end)


def _version_metrics(  # noqa: PLR0915 - one pass over the series, one branch per name
    members: list[Series], model_name: str, version: str, seconds: float, end: float
) -> VersionMetrics:
    requests = 0.0
    errors: dict[str, int] = {}
    cost = 0.0
    output_tokens = 0.0
    connections = 0.0
    memory = 0.0
    latency = ttft = None
    confusion: dict[tuple[str, str], float] = {}
    positive_class: str | None = None
    rates: dict[str, float] = {}
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
            elif name == names.EVALUATIONS_TOTAL:
                tags = series.tags
                cell = (tags.get(names.EXPECTED, ""), tags.get(names.ACTUAL, ""))
                confusion[cell] = confusion.get(cell, 0.0) + series.window_total(seconds, end)
        elif isinstance(series, GaugeSeries):
            if name == names.ACTIVE_CONNECTIONS:
                connections = series.value
            elif name == names.MEMORY_USAGE:
                memory = series.value
            elif name == names.F1 and series.tags.get(names.AVERAGE) == "binary":
                # The collector's binary gauge names its positive class.
                positive_class = series.tags.get(names.CLASS)
            elif name == names.SAMPLING_RATE:
                rates[series.tags.get(names.SAMPLING_KIND, "")] = series.value
        elif isinstance(series, DistributionSeries):
            if name == names.LATENCY:
                latency = _merged(latency, series.window_summary(seconds, end))
            elif name == names.TIME_TO_FIRST_TOKEN:
                ttft = _merged(ttft, series.window_summary(seconds, end))
            elif name == names.TOKEN_USAGE and series.tags.get(names.TOKEN_TYPE) == "output":
                output_tokens += series.window_total(seconds, end)
    start = min(max(starts), end)
    span = max(end - start, 1.0)  # a version seen a moment ago is not rated per nanosecond
    count = round(requests)
    p50, p95, p99 = latency.quantiles(0.5, 0.95, 0.99) if latency else (math.nan,) * 3
    t50, t95 = ttft.quantiles(0.5, 0.95) if ttft else (math.nan, math.nan)
    # Most versions have no evaluations: skip scoring an empty matrix per version.
    quality = classification_scores(confusion) if confusion else _NO_EVALUATIONS
    scored = positive_class is not None and quality.evaluations
    binary = quality.binary(positive_class) if scored and positive_class else None
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
        evaluation_count=quality.evaluations,
        positive_class=positive_class,
        precision=math.nan if binary is None else binary.precision,
        recall=math.nan if binary is None else binary.recall,
        f1=math.nan if binary is None else binary.f1,
        macro_precision=quality.macro_precision,
        macro_recall=quality.macro_recall,
        macro_f1=quality.macro_f1,
        sampling_rates=dict(sorted(rates.items())),
        accuracy=quality.accuracy,
    )


def _merged(first: WindowSummary | None, second: WindowSummary) -> WindowSummary:
    """One version's series split by dimensions answer as one distribution."""
    if first is None:
        return second
    data = merge_all((first.data, second.data), compact=False)
    return WindowSummary(min(first.window_start, second.window_start), second.window_end, data)


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
