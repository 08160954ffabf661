"""How ``PrometheusExporter`` turns a snapshot into Prometheus families and text.

``FamilyBuilder`` walks a snapshot once and feeds a sink: ``MetricSink`` builds
prometheus_client ``Metric`` families (for ``collect()``), ``TextSink`` writes
the 0.0.4 text exposition directly (for ``render()`` and scrapes), byte for byte
what ``generate_latest`` writes for the same families, several times faster.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.utils import floatToGoString

from exporters._naming import (
    MS_PER_SECOND,
    description,
    in_export_unit,
    prometheus_label,
    prometheus_name,
)
from metrics_core.logs import get_logger
from metrics_core.sketch import BucketData, bucket_index, bucket_upper
from metrics_core.snapshot import (
    CounterSeries,
    DistributionSeries,
    GaugeSeries,
    Series,
    Snapshot,
)
from metrics_core.values import MetricKind

if TYPE_CHECKING:
    pass


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

# The label a histogram bucket (``le``) or a summary quantile adds to a series' labels.
_Extra = tuple[str, str] | None


class _Sink(Protocol):
    """Where the family builder writes: metric family objects or text."""

    def family(self, name: str, kind: str, documentation: str, unit: str) -> None:
        """Start the family ``name`` (a counter's without ``_total``)."""

    def sample(self, name: str, labels: dict[str, str], value: float, extra: _Extra = None) -> None:
        """Add a sample; ``labels`` is the same object for every sample of a series."""

    def buckets(self, name: str, labels: dict[str, str], les: list[str], counts: list[int]) -> None:
        """Add the ``_bucket`` samples of a histogram series, one per ``le``."""


class MetricSink:
    """Builds prometheus_client metric families (for ``collect()``)."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def family(self, name: str, kind: str, documentation: str, unit: str) -> None:
        family: Metric
        if kind == "counter":
            family = CounterMetricFamily(name, documentation, unit=unit)
        elif kind == "gauge":
            family = GaugeMetricFamily(name, documentation, unit=unit)
        elif kind == "histogram":
            family = HistogramMetricFamily(name, documentation, unit=unit)
        else:
            family = SummaryMetricFamily(name, documentation, unit=unit)
        self.families.append(family)

    def sample(self, name: str, labels: dict[str, str], value: float, extra: _Extra = None) -> None:
        # add_sample, not add_metric: series of one metric may carry different tag keys
        # (the overflow series has only ``overflow``).
        # A copy per sample: consumers of collect() own what they are given.
        self.families[-1].add_sample(
            name, dict(labels) if extra is None else {**labels, extra[0]: extra[1]}, value
        )

    def buckets(self, name: str, labels: dict[str, str], les: list[str], counts: list[int]) -> None:
        family = self.families[-1]
        for le, count in zip(les, counts, strict=True):
            family.add_sample(name, {**labels, "le": le}, count)


class TextSink:
    """Writes the text format 0.0.4 exactly as ``generate_latest`` would.

    A series' label text is built once for all its samples, and the text of
    repeated values once per render: several times faster than ``generate_latest``.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._labels: dict[str, str] | None = None
        self._pairs: list[tuple[str, str]] = []
        self._plain = ""
        self._around: dict[str, tuple[str, str]] = {}
        self._numbers: dict[float, str] = {}

    def family(self, name: str, kind: str, documentation: str, unit: str) -> None:
        if kind == "counter":
            name += "_total"
        doc = documentation.replace("\\", r"\\").replace("\n", r"\n")
        self.parts.append(f"# HELP {name} {doc}\n# TYPE {name} {kind}\n")

    def sample(self, name: str, labels: dict[str, str], value: float, extra: _Extra = None) -> None:
        if labels is not self._labels:
            self._start_series(labels)
        number = self._numbers.get(value)
        if number is None:
            number = _go_float(value)
            if not math.isnan(value):  # NaN equals no key: caching it would only grow the dict
                self._numbers[value] = number
        if extra is None:
            inner = self._plain
        else:
            key, text = extra  # "le" or "quantile": numbers, no escaping needed
            around = self._around.get(key)
            if around is None:
                around = self._around[key] = self._split_at(key)
            inner = f'{around[0]}{key}="{text}"{around[1]}'
        self.parts.append(f"{name}{{{inner}}} {number}\n" if inner else f"{name} {number}\n")

    def buckets(self, name: str, labels: dict[str, str], les: list[str], counts: list[int]) -> None:
        if labels is not self._labels:
            self._start_series(labels)
        around = self._around.get("le")
        if around is None:
            around = self._around["le"] = self._split_at("le")
        before, after = around
        numbers = self._numbers
        append = self.parts.append
        for le, count in zip(les, counts, strict=True):
            number = numbers.get(count)
            if number is None:
                number = numbers[count] = _go_float(count)
            append(f'{name}{{{before}le="{le}"{after}}} {number}\n')

    def _start_series(self, labels: dict[str, str]) -> None:
        self._labels = labels
        self._pairs = sorted((key, f'{key}="{_escape(value)}"') for key, value in labels.items())
        self._plain = ",".join(pair for _, pair in self._pairs)
        self._around = {}

    def _split_at(self, key: str) -> tuple[str, str]:
        """The label text before and after ``key`` in sorted order, commas included."""
        before = "".join(pair + "," for k, pair in self._pairs if k < key)
        after = "".join("," + pair for k, pair in self._pairs if k > key)
        return before, after


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


# (family name, type, unit) of one exported family of a recorded metric.
_Plan = tuple[str, str, str]
_SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
}


class FamilyBuilder:
    """Walks one snapshot into a sink, family by family in name order."""

    def __init__(
        self,
        buckets: Mapping[str, tuple[float, ...]],
        quantiles: tuple[float, ...],
        window: float,
        warned: set[str],
    ) -> None:
        self._buckets = buckets
        self._quantiles = quantiles
        self._quantile_labels = [_go_float(q) for q in quantiles]
        self._window = window
        self._warned = warned
        self._label_names: dict[str, str] = {}
        self._le: dict[tuple[MetricKind, tuple[float, ...]], list[str]] = {}
        self._now = 0.0

    def build(self, snapshot: Snapshot, sink: _Sink) -> None:
        """Write every family of ``snapshot`` to ``sink``."""
        by_metric: dict[tuple[str, MetricKind], list[Series]] = {}
        for series in snapshot:
            by_metric.setdefault((series.name, series.kind), []).append(series)
        self._now = snapshot.taken_at
        taken: dict[str, str] = {}  # sample name -> the recorded metric that owns it
        work: list[tuple[_Plan, str, list[tuple[dict[str, str], Series]]]] = []
        for (name, kind), members in sorted(by_metric.items(), key=lambda item: item[0][0]):
            plans = [plan for plan in self._plans(name, kind) if self._claim(plan, name, taken)]
            if plans:
                labeled = [(self._labels(series), series) for series in members]
                labeled.sort(key=lambda pair: tuple(pair[0].items()))
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
            write = writers[kind_text]
            for labels, series in labeled_series:
                write(sink, family, name, series, labels)

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

    def _labels(self, series: Series) -> dict[str, str]:
        names = self._label_names
        labels = {}
        for key, value in series.tags.items():
            label = names.get(key)
            if label is None:
                label = names[key] = _label_name(key)
            labels[label] = value
        return labels

    def _write_counter(
        self, sink: _Sink, family: str, _: str, series: Series, labels: dict[str, str]
    ) -> None:
        assert isinstance(series, CounterSeries)
        sink.sample(family + "_total", labels, series.total)

    def _write_gauge(
        self, sink: _Sink, family: str, _: str, series: Series, labels: dict[str, str]
    ) -> None:
        assert isinstance(series, GaugeSeries)
        sink.sample(family, labels, series.value)

    def _write_histogram(
        self, sink: _Sink, family: str, name: str, series: Series, labels: dict[str, str]
    ) -> None:
        assert isinstance(series, DistributionSeries)
        configured = self._buckets.get(name)
        if configured is None:
            bounds = series.bucket_bounds
            cumulative = list(itertools.accumulate(series.bucket_counts))
        else:
            bounds = configured
            if series.kind is MetricKind.TIMER:
                bounds = tuple(b * MS_PER_SECOND for b in configured)
            cumulative = _rebucket(series, bounds)
        key = (series.kind, bounds)
        les = self._le.get(key)
        if les is None:
            unit_bounds = configured or [in_export_unit(b, series.kind) for b in bounds]
            les = self._le[key] = [*map(_go_float, unit_bounds), "+Inf"]
        sink.buckets(family + "_bucket", labels, les, cumulative)
        sink.sample(family + "_count", labels, cumulative[-1])
        sink.sample(family + "_sum", labels, _export_total(series))

    def _write_summary(
        self, sink: _Sink, family: str, _: str, series: Series, labels: dict[str, str]
    ) -> None:
        assert isinstance(series, DistributionSeries)
        # client_golang's convention: quantiles over the window, count and sum cumulative.
        window = series.window_summary(self._window, self._now)
        values = window.quantiles(*self._quantiles)
        for label, value in zip(self._quantile_labels, values, strict=True):
            sink.sample(family, labels, in_export_unit(value, series.kind), ("quantile", label))
        sink.sample(family + "_count", labels, sum(series.bucket_counts))
        sink.sample(family + "_sum", labels, _export_total(series))


def _export_total(series: DistributionSeries) -> float:
    # The sum of the parts' sums: no need to merge their sketches for it.
    return in_export_unit(math.fsum(part.total for part in series.all_time_parts), series.kind)


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
