"""Where ``FamilyBuilder`` writes a snapshot: prometheus_client families or text.

``MetricSink`` builds prometheus_client ``Metric`` families (for ``collect()``).
``TextSink`` writes the 0.0.4 text exposition directly (for ``render()`` and
scrapes), byte for byte what ``generate_latest`` writes for the same families.
The text before each value (``name{labels,le="0.5"} ``) depends only on the
sample name and the series' immutable tags, so it is built once and kept in a
``RoundCache`` from one render to the next; a render then writes each line as
that text plus its number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.utils import floatToGoString

from metrics_core._round_cache import RoundCache
from metrics_core.tags import Tags

_go_float: Callable[[float], str] = floatToGoString
_MAX_NUMBERS = 65_536  # number texts kept between renders


class Sink(Protocol):
    """Where the family builder writes: metric family objects or text.

    ``tags`` identify a series (its text is cached by them); ``labels`` are its
    Prometheus labels, the same object for every sample of a series.
    """

    def family(self, name: str, kind: str, documentation: str, unit: str) -> None:
        """Start the family ``name`` (a counter's without ``_total``)."""

    def sample(self, name: str, tags: Tags, labels: dict[str, str], value: float) -> None:
        """Add a sample of a counter or gauge."""

    def histogram(
        self,
        name: str,
        tags: Tags,
        labels: dict[str, str],
        les: tuple[str, ...],
        cumulative: list[int],
        total: float,
    ) -> None:
        """Add a histogram series: ``name_bucket`` per ``le``, ``name_count``, ``name_sum``."""

    def summary(
        self,
        name: str,
        tags: Tags,
        labels: dict[str, str],
        quantile_labels: tuple[str, ...],
        values: list[float],
        count: int,
        total: float,
    ) -> None:
        """Add a summary series: ``name`` per quantile label and value, count and sum."""


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

    # add_sample, not add_metric: series of one metric may carry different tag keys
    # (the overflow series has only ``overflow``). A copy of the labels per sample:
    # consumers of collect() own what they are given.
    def sample(self, name: str, tags: Tags, labels: dict[str, str], value: float) -> None:
        self.families[-1].add_sample(name, dict(labels), value)

    def histogram(
        self,
        name: str,
        tags: Tags,
        labels: dict[str, str],
        les: tuple[str, ...],
        cumulative: list[int],
        total: float,
    ) -> None:
        self._series(name, name + "_bucket", labels, "le", les, cumulative, cumulative[-1], total)

    def summary(
        self,
        name: str,
        tags: Tags,
        labels: dict[str, str],
        quantile_labels: tuple[str, ...],
        values: list[float],
        count: int,
        total: float,
    ) -> None:
        self._series(name, name, labels, "quantile", quantile_labels, values, count, total)

    def _series(
        self,
        name: str,
        sample: str,
        labels: dict[str, str],
        key: str,
        texts: Sequence[str],
        values: Sequence[float],
        count: int,
        total: float,
    ) -> None:
        """``sample`` per ``key`` text and value, then ``name_count`` and ``name_sum``."""
        family = self.families[-1]
        for text, value in zip(texts, values, strict=True):
            family.add_sample(sample, {**labels, key: text}, value)
        family.add_sample(name + "_count", dict(labels), count)
        family.add_sample(name + "_sum", dict(labels), total)


class _Numbers(dict[float, str]):
    """The text of numbers (with the newline), made once: ``numbers[value]``."""

    def __missing__(self, value: float) -> str:
        text = go_text(value) + "\n"
        if not math.isnan(value):  # NaN equals no key: keeping it would only grow the dict
            self[value] = text
        return text


class TextSink:
    """Writes the text format 0.0.4 exactly as ``generate_latest`` would.

    ``lines`` keeps each series' line beginnings between renders (see the module).
    """

    def __init__(self, lines: RoundCache[tuple[str, ...]], numbers: _Numbers) -> None:
        self.parts: list[str] = []
        self._lines = lines
        self._numbers = numbers

    def family(self, name: str, kind: str, documentation: str, unit: str) -> None:
        if kind == "counter":
            name += "_total"
        doc = documentation.replace("\\", r"\\").replace("\n", r"\n")
        self.parts.append(f"# HELP {name} {doc}\n# TYPE {name} {kind}\n")

    def sample(self, name: str, tags: Tags, labels: dict[str, str], value: float) -> None:
        (start,) = self._lines.get((name, tags), lambda: (_line_start(name, labels),))
        self.parts.append(start + self._number(value))

    def histogram(
        self,
        name: str,
        tags: Tags,
        labels: dict[str, str],
        les: tuple[str, ...],
        cumulative: list[int],
        total: float,
    ) -> None:
        starts = self._lines.get(
            (name, tags, les),
            lambda: _series_starts(name, name + "_bucket", labels, "le", les),
        )
        # Counts are ints >= 0: never -0.0, so the number cache serves every one.
        texts = list(map(self._numbers.__getitem__, cumulative))
        texts.append(texts[-1])
        texts.append(self._number(total))
        self.parts.append(_joined(starts, texts))

    def summary(
        self,
        name: str,
        tags: Tags,
        labels: dict[str, str],
        quantile_labels: tuple[str, ...],
        values: list[float],
        count: int,
        total: float,
    ) -> None:
        starts = self._lines.get(
            (name, tags, quantile_labels),
            lambda: _series_starts(name, name, labels, "quantile", quantile_labels),
        )
        texts = list(map(self._number, values))
        texts.append(self._numbers[count])
        texts.append(self._number(total))
        self.parts.append(_joined(starts, texts))

    def _number(self, value: float) -> str:
        if value:  # zero is 0.0 or -0.0, equal as keys but not as text
            return self._numbers[value]
        return _go_float(value) + "\n"


def go_text(value: float) -> str:
    """``floatToGoString(value)``, with Python's ``repr`` taken as is when it already agrees.

    Go's format differs from ``repr`` only for infinities, NaN and numbers whose
    ``repr`` has no dot or more than six characters before it; a scrape formats
    thousands of new window quantiles and sums, most of them neither.
    """
    if value.__class__ is float:
        text = repr(value)
        if 0 < text.find(".") <= 6:
            return text
    return _go_float(value)


def _joined(starts: Sequence[str], texts: list[str]) -> str:
    """Each line start followed by its number text: one join, no string per line."""
    pieces = [""] * (2 * len(starts))
    pieces[::2] = starts
    pieces[1::2] = texts
    return "".join(pieces)


def new_numbers() -> _Numbers:
    """An empty number-text cache for ``TextSink``."""
    return _Numbers()


def trim_numbers(numbers: _Numbers) -> None:
    """Empty ``numbers`` once it holds more than a scrape's worth of distinct values."""
    if len(numbers) > _MAX_NUMBERS:
        numbers.clear()


def _pairs(labels: dict[str, str]) -> list[tuple[str, str]]:
    return sorted((key, f'{key}="{_escape(value)}"') for key, value in labels.items())


def _line_start(name: str, labels: dict[str, str], extra: tuple[str, str] | None = None) -> str:
    """``name{labels} `` with ``extra`` (``le`` or ``quantile``) in its sorted place."""
    pairs = _pairs(labels)
    if extra is not None:
        key, text = extra  # numbers: no escaping needed
        pairs = sorted([*[p for p in pairs if p[0] != key], (key, f'{key}="{text}"')])
    inner = ",".join(pair for _, pair in pairs)
    return f"{name}{{{inner}}} " if inner else f"{name} "


def _series_starts(
    name: str, sample: str, labels: dict[str, str], key: str, texts: Sequence[str]
) -> tuple[str, ...]:
    """Line beginnings of ``sample`` per ``key`` text, then of ``name_count`` and ``name_sum``."""
    starts = [_line_start(sample, labels, (key, text)) for text in texts]
    return (*starts, _line_start(name + "_count", labels), _line_start(name + "_sum", labels))


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
