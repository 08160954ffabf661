"""How ``PrometheusExporter`` turns a snapshot into Prometheus families and text.

``FamilyBuilder`` walks a snapshot once and feeds a sink (``exporters._prometheus_sinks``):
``MetricSink`` builds prometheus_client ``Metric`` families (for ``collect()``),
``TextSink`` writes the 0.0.4 text exposition directly (for ``render()`` and
scrapes), byte for byte what ``generate_latest`` writes for the same families,
several times faster. Each series' labels are worked out once and kept between
renders (keyed by its immutable tags).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence

from prometheus_client.utils import floatToGoString

from exporters._naming import (
    MS_PER_SECOND,
    description,
    in_export_unit,
    prometheus_label,
    prometheus_name,
)
from exporters._prometheus_sinks import Sink
from metrics_core._round_cache import RoundCache
from metrics_core.logs import get_logger
from metrics_core.sketch import BucketData, bucket_index, bucket_upper
from metrics_core.snapshot import (
    CounterSeries,
    DistributionSeries,
    GaugeSeries,
    Series,
    Snapshot,
)
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

_log = get_logger("exporters.prometheus")

SUMMARY_INFIX = "_window"
"""Inserted into a distribution's name (before its unit) to name its summary family."""

# Base-unit suffixes that must stay last in a name, so the summary infix goes before them.
_UNIT_SUFFIXES = ("seconds", "bytes", "ratio", "celsius", "watts", "joules", "meters", "volts")
# Tag keys that would clash with the labels histograms and summaries add themselves;
# renamed as Prometheus renames clashing target labels.
_RESERVED_LABELS = {"le": "exported_le", "quantile": "exported_quantile"}
_go_float: Callable[[float], str] = floatToGoString


def summary_name(name: str, kind: MetricKind) -> str:
    """The summary family name of the histogram or timer ``name``.

    ``_window`` goes before a trailing base unit and after anything else:
    ``model_inference_latency`` (a timer) gives ``model_inference_latency_window_seconds``,
    ``gen_ai.client.token.usage`` gives ``gen_ai_client_token_usage_window``.
    """
    family = prometheus_name(name, kind)
    unit = _unit_of(family)
    if unit:
        return f"{family[: -len(unit) - 1]}{SUMMARY_INFIX}_{unit}"
    return family + SUMMARY_INFIX


def _unit_of(family: str) -> str:
    """The base unit ``family`` ends with, if any (OpenMetrics' ``# UNIT``)."""
    stem = family.removesuffix("_total")
    return next((unit for unit in _UNIT_SUFFIXES if stem.endswith("_" + unit)), "")


def _label_name(key: str) -> str:
    label = prometheus_label(key)
    return _RESERVED_LABELS.get(label, label)


def check_bounds(name: str, bounds: Sequence[float]) -> tuple[float, ...]:
    try:
        values = tuple(float(b) for b in bounds if b != math.inf)
    except (TypeError, ValueError, OverflowError):  # "x", None, 10**400
        values = ()
    if (
        not values
        or not all(math.isfinite(b) for b in values)
        or any(a >= b for a, b in itertools.pairwise(values))
    ):
        raise ValueError(f"'buckets[{name!r}]' must be a non-empty increasing sequence: {bounds!r}")
    return values


# -- from a snapshot to families ------------------------------------------------------------

# (family name, type, unit) of one exported family of a recorded metric.
_Plan = tuple[str, str, str]
_SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
}


# A series' Prometheus labels, and the key that sorts series by them.
Labeled = tuple[dict[str, str], tuple[tuple[str, str], ...]]


class FamilyBuilder:
    """Walks one snapshot into a sink, family by family in name order.

    ``labels`` keeps each series' labels between renders, keyed by its tags.
    """

    def __init__(
        self,
        buckets: Mapping[str, tuple[float, ...]],
        quantiles: tuple[float, ...],
        window: float,
        warned: set[str],
        labels: RoundCache[Labeled],
    ) -> None:
        self._buckets = buckets
        self._quantiles = quantiles
        self._quantile_labels = tuple(_go_float(q) for q in quantiles)
        self._window = window
        self._warned = warned
        self._labeled = labels
        self._le: dict[tuple[MetricKind, tuple[float, ...]], tuple[str, ...]] = {}
        self._now = 0.0

    def build(self, snapshot: Snapshot, sink: Sink) -> None:
        """Write every family of ``snapshot`` to ``sink``."""
        by_metric: dict[tuple[str, MetricKind], list[Series]] = {}
        for series in snapshot:
            by_metric.setdefault((series.name, series.kind), []).append(series)
        self._now = snapshot.taken_at
        taken: dict[str, str] = {}  # sample name -> the recorded metric that owns it
        work: list[tuple[_Plan, str, list[tuple[Labeled, Series]]]] = []
        labeled_of = self._labeled.get
        for (name, kind), members in sorted(by_metric.items(), key=lambda item: item[0][0]):
            plans = [plan for plan in self._plans(name, kind) if self._claim(plan, name, taken)]
            if plans:
                labeled = [
                    (labeled_of(series.tags, functools.partial(_labeled, series.tags)), series)
                    for series in members
                ]
                labeled.sort(key=_sort_key)
                work.extend((plan, name, labeled) for plan in plans)
        work.sort(key=lambda item: item[0][0])
        writers = {
            "counter": self._write_counter,
            "gauge": self._write_gauge,
            "histogram": self._write_histogram,
            "summary": self._write_summary,
        }
        for (family, kind_text, unit), name, labeled_series in work:
            help_text = description(name)
            if kind_text == "summary":
                help_text += f" Quantiles over a sliding {self._window:g} s window."
            sink.family(family, kind_text, help_text, unit)
            writers[kind_text](sink, family, name, labeled_series)

    def _plans(self, name: str, kind: MetricKind) -> list[_Plan]:
        family = prometheus_name(name, kind)
        unit = _unit_of(family)
        if kind is MetricKind.COUNTER:
            return [(family.removesuffix("_total"), "counter", unit)]
        if kind is MetricKind.GAUGE:
            return [(family, "gauge", unit)]
        plans = [(family, "histogram", unit)]
        if self._quantiles:
            plans.append((summary_name(name, kind), "summary", unit))
        return plans

    def _claim(self, plan: _Plan, name: str, taken: dict[str, str]) -> bool:
        """Reserve the sample names of a family; ``False`` (warned once) on a clash."""
        family, kind_text, _ = plan
        samples = [family + suffix for suffix in _SAMPLE_SUFFIXES[kind_text]]
        clash = next((sample for sample in [family, *samples] if sample in taken), None)
        if clash is None:
            taken.update(dict.fromkeys([family, *samples], name))
            return True
        if name not in self._warned:
            self._warned.add(name)
            _log.warning("prometheus_name_clash", metric=name, sample=clash, owner=taken[clash])
        return False

    def _write_counter(
        self, sink: Sink, family: str, _: str, members: list[tuple[Labeled, Series]]
    ) -> None:
        sample = family + "_total"
        for (labels, _key), series in members:
            assert isinstance(series, CounterSeries)
            sink.sample(sample, series.tags, labels, series.total)

    def _write_gauge(
        self, sink: Sink, family: str, _: str, members: list[tuple[Labeled, Series]]
    ) -> None:
        for (labels, _key), series in members:
            assert isinstance(series, GaugeSeries)
            sink.sample(family, series.tags, labels, series.value)

    def _write_histogram(
        self, sink: Sink, family: str, name: str, members: list[tuple[Labeled, Series]]
    ) -> None:
        configured = self._buckets.get(name)
        rebucketed: tuple[float, ...] | None = None  # configured bounds in the recorded unit
        last_bounds: tuple[float, ...] | None = None
        les: tuple[str, ...] = ()
        for (labels, _key), series in members:
            assert isinstance(series, DistributionSeries)
            kind = series.kind
            if configured is None:
                bounds = series.bucket_bounds
                cumulative = list(itertools.accumulate(series.bucket_counts))
            else:
                if rebucketed is None:  # one metric, one kind: converted once
                    rebucketed = configured
                    if kind is MetricKind.TIMER:
                        rebucketed = tuple(b * MS_PER_SECOND for b in configured)
                bounds = rebucketed
                cumulative = _rebucket(series, bounds)
            if bounds is not last_bounds:  # the series of a metric share one bounds tuple
                les = self._les(kind, bounds, configured)
                last_bounds = bounds
            total = in_export_unit(series.total, kind)
            sink.histogram(family, series.tags, labels, les, cumulative, total)

    def _les(
        self, kind: MetricKind, bounds: tuple[float, ...], configured: tuple[float, ...] | None
    ) -> tuple[str, ...]:
        """The ``le`` texts of ``bounds`` (recorded unit), ``+Inf`` last."""
        les = self._le.get((kind, bounds))
        if les is None:
            unit_bounds = configured or [in_export_unit(b, kind) for b in bounds]
            les = self._le[kind, bounds] = (*map(_go_float, unit_bounds), "+Inf")
        return les

    def _write_summary(
        self, sink: Sink, family: str, _: str, members: list[tuple[Labeled, Series]]
    ) -> None:
        qs, window, now = self._quantiles, self._window, self._now
        quantile_labels = self._quantile_labels
        for (labels, _key), series in members:
            assert isinstance(series, DistributionSeries)
            # client_golang's convention: quantiles over the window, count and sum cumulative.
            kind = series.kind
            values = [
                in_export_unit(value, kind)
                for value in series.window_summary(window, now).quantiles(*qs)
            ]
            total = in_export_unit(series.total, kind)
            count = sum(series.bucket_counts)
            sink.summary(family, series.tags, labels, quantile_labels, values, count, total)


def _labeled(tags: Tags) -> Labeled:
    labels = {_label_name(key): value for key, value in tags.items()}
    return labels, tuple(labels.items())


def _sort_key(pair: tuple[Labeled, Series]) -> tuple[tuple[str, str], ...]:
    return pair[0][1]


def _rebucket(series: DistributionSeries, bounds: tuple[float, ...]) -> list[int]:
    """Cumulative counts at ``bounds`` (recorded unit) and ``+Inf``, exact where possible."""
    recorded = series.bucket_bounds
    cumulative = list(itertools.accumulate(series.bucket_counts))
    out: list[int] = []
    data: BucketData | None = None
    for bound in bounds:
        index = _index_of(recorded, bound)
        if index is not None:
            out.append(cumulative[index])
        else:
            data = data if data is not None else series.all_time
            out.append(_count_at_most(data, bound))
    out.append(cumulative[-1])
    return out


def _index_of(bounds: tuple[float, ...], bound: float) -> int | None:
    # Close, not equal: 0.035 s * 1000 is 35.00000000000001 ms.
    return next((i for i, b in enumerate(bounds) if math.isclose(b, bound, rel_tol=1e-9)), None)


def _count_at_most(data: BucketData, bound: float) -> int:
    """Observations ``<= bound`` by the sketch.

    Exact outside ``(minimum, maximum)``; inside, exact but for the one sketch bucket
    that straddles ``bound``, which is left out.
    """
    if bound >= data.maximum:
        return data.count
    if bound < data.minimum:
        return 0
    neg_offset, negative = data.negative
    pos_offset, positive = data.positive
    if bound < 0:
        # Negative buckets hold |v|: v <= bound for every value of a bucket starting at >= -bound.
        first = bucket_index(-bound) + 1
        return sum(negative[max(0, first - neg_offset) :])
    below = sum(negative) + data.zeros
    if bound == 0:
        return below
    last = bucket_index(bound)
    if bucket_upper(last) > bound:
        last -= 1
    return below + sum(positive[: max(0, last - pos_offset + 1)])
