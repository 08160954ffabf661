"""``QualityCollector``: drift, confidence, predicted classes and windowed precision/recall/F1."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import ClassVar

from collectors._cache import MAX_CACHED_KEYS, cache_once
from collectors.base import BaseCollector
from metrics_core import names
from metrics_core.buckets import CONFIDENCE_BUCKETS
from metrics_core.bus import EventBus
from metrics_core.durations import parse_duration
from metrics_core.events import DriftMeasured, Event, InferenceCompleted, PredictionEvaluated
from metrics_core.logs import get_logger
from metrics_core.query import ClassificationScores, ClassScores, classification_scores
from metrics_core.registry import Registry
from metrics_core.registry.protocol import BoundInstrument
from metrics_core.tags import Tags
from metrics_core.values import MetricKind
from metrics_core.windows import MAX_WINDOW, WindowedCounter

__all__ = ["CONFIDENCE_BUCKETS", "QualityCollector"]  # the buckets moved to metrics_core

_log = get_logger("collectors.quality")

_COUNTER = MetricKind.COUNTER
_GAUGE = MetricKind.GAUGE


class _Scores:
    """Precision, recall and F1 gauges of one tag set."""

    __slots__ = ("f1", "precision", "recall")

    def __init__(self, registry: Registry, tags: Tags) -> None:
        self.precision = registry.instrument(_GAUGE, names.PRECISION, tags)
        self.recall = registry.instrument(_GAUGE, names.RECALL, tags)
        self.f1 = registry.instrument(_GAUGE, names.F1, tags)

    def record(self, scores: ClassScores) -> None:
        self.precision.record(scores.precision)
        self.recall.record(scores.recall)
        self.f1.record(scores.f1)


_ZERO = ClassScores(precision=0.0, recall=0.0, f1=0.0, support=0)


class _Version:
    """One model version's instruments and windowed confusion matrix."""

    __slots__ = (
        "accuracy", "binary", "boolean", "cells", "classes", "confidence", "evaluations",
        "folded_warned", "macro", "next_refresh", "per_class", "tagged", "tags", "tracked",
    )  # fmt: skip

    def __init__(self, registry: Registry, tags: Tags) -> None:
        self.tags = tags
        self.confidence = registry.instrument(
            MetricKind.HISTOGRAM, names.PREDICTION_CONFIDENCE, tags
        )
        # (metric name, tag value) -> drift gauges, alert and prediction counters.
        self.tagged: dict[tuple[str, str], BoundInstrument] = {}
        self.evaluations: dict[tuple[str, str], BoundInstrument] = {}
        # (expected, actual) -> counts per time slot, for the gauges' window.
        self.cells: dict[tuple[str, str], WindowedCounter] = {}
        self.classes: set[str] = set()
        self.per_class: dict[str, _Scores] = {}
        self.macro: _Scores | None = None
        self.binary: _Scores | None = None
        self.accuracy: BoundInstrument | None = None
        self.boolean = False  # saw boolean labels: "true" is then the default positive class
        self.next_refresh = -math.inf
        self.folded_warned = False
        self.tracked = True


class QualityCollector(BaseCollector):
    """Records model quality per ``model_name`` and ``version``.

    - ``DriftMeasured`` -> ``model_drift_score{kind}`` (gauge) and
      ``model_drift_alerts_total{kind}``, counting scores strictly above a given
      threshold (created at 0 when a threshold is given).
    - ``InferenceCompleted`` -> ``model_prediction_confidence`` (histogram) and
      ``model_predictions_total{predicted_class}``, when the event carries them.
    - ``PredictionEvaluated`` -> ``model_prediction_evaluations_total{expected,actual}``,
      the confusion matrix: ``get_metrics`` computes precision, recall and F1 of any
      window from it, exactly. Boolean classes count as ``"true"`` and ``"false"``.

    The collector also keeps gauges ``model_prediction_accuracy`` (correct /
    evaluated), ``model_prediction_precision``, ``_recall`` and ``_f1``, tagged
    ``average="per_class"`` with ``class``, ``average="macro"``, and (with
    ``positive_class``, or ``"true"`` for boolean classes) ``average="binary"``
    with ``class``. They hold the
    scores over the ``window`` seconds ending at their last refresh, computed from
    the collector's own per-second counts (the same slots as the registry's). A
    refresh runs on an evaluation at most once per ``refresh_interval`` seconds per
    version, so the request path stays cheap, and at ``stop`` (so ``Metrics.close``
    exports fresh scores); ``refresh()`` forces one. A class absent from the window
    reads 0.0.

    :param positive_class: the class scored as positive for the binary scores (a bool
        names ``"true"`` or ``"false"``; versions evaluated with boolean classes default
        to ``"true"``).
    :param window: seconds the gauges cover (up to 3600), or text like ``"10m"``.
    :param refresh_interval: least seconds between two refreshes of a version (0: every
        evaluation).
    :param max_classes: classes per version tracked for the gauges; evaluations naming
        further classes are still counted in the confusion matrix (one warning).
    """

    subscriptions: ClassVar[Mapping[type[Event], str]] = {
        DriftMeasured: "on_drift",
        InferenceCompleted: "on_completed",
        PredictionEvaluated: "on_evaluated",
    }

    def __init__(
        self,
        *,
        positive_class: str | bool | None = None,
        window: float | str = 300.0,
        refresh_interval: float = 1.0,
        max_classes: int = 100,
    ) -> None:
        if isinstance(positive_class, bool):
            positive_class = _label(positive_class)
        if positive_class is not None and (
            not isinstance(positive_class, str) or not positive_class
        ):
            raise ValueError(
                f"'positive_class' must be a non-empty string, a bool or None: {positive_class!r}"
            )
        if isinstance(window, str):
            window = parse_duration(window)
        if (
            isinstance(window, bool)
            or not isinstance(window, (int, float))
            or not 0 < window <= MAX_WINDOW
        ):
            raise ValueError(f"'window' must be > 0 and <= {MAX_WINDOW:g} seconds: {window!r}")
        if (
            isinstance(refresh_interval, bool)
            or not isinstance(refresh_interval, (int, float))
            or not 0 <= refresh_interval < math.inf
        ):
            raise ValueError(
                f"'refresh_interval' must be >= 0 seconds and finite: {refresh_interval!r}"
            )
        if isinstance(max_classes, bool) or not isinstance(max_classes, int) or max_classes < 1:
            raise ValueError(f"'max_classes' must be an int >= 1: {max_classes!r}")
        self.positive_class = positive_class
        self.window = float(window)
        self.refresh_interval = float(refresh_interval)
        self.max_classes = max_classes
        self._lock = threading.Lock()
        self._versions: dict[tuple[str, str], _Version] = {}
        self._next_prune = -math.inf
        self._warned_untracked = False

    def bind(self, registry: Registry, bus: EventBus) -> None:
        """Keep the registry; instruments and counts of an earlier one are dropped."""
        super().bind(registry, bus)
        with self._lock:
            self._versions = {}

    def stop(self) -> None:
        """Refresh the gauges so that a last export reads current scores."""
        if self._registry is not None:
            self.refresh()

    def _version(self, model_name: str, version: str) -> _Version:
        key = (model_name, version)
        found = self._versions.get(key)
        if found is None:
            tags = Tags({names.MODEL_NAME: model_name, names.VERSION: version})
            with self._lock:
                found = self._versions.get(key)
                if found is None:
                    found = _Version(self.registry, tags)
                    if len(self._versions) >= MAX_CACHED_KEYS:
                        self._prune()
                    if len(self._versions) < MAX_CACHED_KEYS:
                        self._versions[key] = found
                    else:
                        self._untracked(found)
        return found

    def _prune(self) -> None:
        """Drop the versions with nothing in the window (under the lock; at most once a second).

        Their state holds no count the gauges still need: an evaluation that comes
        back starts afresh, as a cell out of the window does.
        """
        now = self.registry.clock()
        if now < self._next_prune:
            return
        self._next_prune = now + 1.0
        for key, state in list(self._versions.items()):
            if not self._confusion(state, now):
                del self._versions[key]

    def _untracked(self, state: _Version) -> None:
        state.tracked = False
        if not self._warned_untracked:
            self._warned_untracked = True
            _log.warning(
                "quality_versions_over_limit",
                max_versions=MAX_CACHED_KEYS,
                hint="further versions are counted in the confusion matrix, not in the gauges",
            )

    # -- drift, confidence, predictions -------------------------------------------------

    def on_drift(self, event: DriftMeasured) -> None:
        """Set the drift gauge; count an alert when the score is above the threshold."""
        state = self._version(event.model_name, event.version)
        kind = event.kind
        self._tagged(state, _GAUGE, names.DRIFT_SCORE, names.DRIFT_KIND, kind).record(event.score)
        if event.threshold is not None:
            alerts = self._tagged(state, _COUNTER, names.DRIFT_ALERTS_TOTAL, names.DRIFT_KIND, kind)
            alerts.record(1.0 if event.score > event.threshold else 0.0)

    def on_completed(self, event: InferenceCompleted) -> None:
        """Record the confidence and the predicted class, when the event carries them."""
        confidence, predicted = event.confidence, event.predicted_class
        if confidence is None and predicted is None:
            return  # the common case for non-classifiers: nothing to look up
        state = self._version(event.model_name, event.version)
        if confidence is not None:
            state.confidence.record(confidence)
        if predicted is not None:
            self._tagged(
                state, _COUNTER, names.PREDICTIONS_TOTAL, names.PREDICTED_CLASS, predicted
            ).record(1.0)

    def _tagged(
        self, state: _Version, kind: MetricKind, name: str, key: str, value: str
    ) -> BoundInstrument:
        """The instrument ``name{model_name, version, key=value}``, bound once."""
        found = state.tagged.get((name, value))
        if found is None:
            tags = state.tags.with_tag(key, value)
            found = cache_once(
                state.tagged,
                (name, value),
                self._lock,
                lambda: self.registry.instrument(kind, name, tags),
            )
        return found

    # -- precision, recall, F1 ----------------------------------------------------------

    def on_evaluated(self, event: PredictionEvaluated) -> None:
        """Count the (expected, actual) cell; refresh the score gauges when due."""
        state = self._version(event.model_name, event.version)
        expected, actual = event.expected, event.actual
        if expected.__class__ is bool or actual.__class__ is bool:
            state.boolean = True
        cell = (_label(expected), _label(actual))
        counter = state.evaluations.get(cell)
        if counter is None:
            tags = state.tags.merge({names.EXPECTED: cell[0], names.ACTUAL: cell[1]})
            counter = cache_once(
                state.evaluations,
                cell,
                self._lock,
                lambda: self.registry.instrument(_COUNTER, names.EVALUATIONS_TOTAL, tags),
            )
        counter.record(1.0)
        if not state.tracked:
            return
        now = self.registry.clock()
        with self._lock:
            counts = state.cells.get(cell)
            if counts is None:
                counts = self._new_cell(state, cell, now)
            if counts is not None:
                counts.add(1.0, now)
            if now >= state.next_refresh:
                state.next_refresh = now + self.refresh_interval
                self._refresh(state, now)

    def _new_cell(
        self, state: _Version, cell: tuple[str, str], now: float
    ) -> WindowedCounter | None:
        new = {cell[0], cell[1]} - state.classes
        if len(state.classes) + len(new) > self.max_classes:
            if not state.folded_warned:
                state.folded_warned = True
                _log.warning(
                    "quality_classes_over_limit",
                    model_name=state.tags[names.MODEL_NAME],
                    version=state.tags[names.VERSION],
                    max_classes=self.max_classes,
                    hint="further classes are counted in the confusion matrix, not in the gauges",
                )
            return None
        state.classes |= new
        counts = state.cells[cell] = WindowedCounter(now)
        return counts

    def refresh(self) -> None:
        """Recompute every version's score gauges now."""
        now = self.registry.clock()
        with self._lock:
            for state in self._versions.values():
                if state.cells:
                    state.next_refresh = now + self.refresh_interval
                    self._refresh(state, now)

    def scores(self, model_name: str, version: str) -> ClassificationScores:
        """The scores of one version over the collector's window ending now."""
        now = self.registry.clock()
        with self._lock:
            state = self._versions.get((model_name, version))
            confusion = {} if state is None else self._confusion(state, now)
        return classification_scores(confusion)

    def _confusion(self, state: _Version, now: float) -> dict[tuple[str, str], float]:
        confusion: dict[tuple[str, str], float] = {}
        for cell, counts in state.cells.items():
            parts, _ = counts.view().parts(self.window, now)
            total = math.fsum(parts)
            if total:
                confusion[cell] = total
        return confusion

    def _refresh(self, state: _Version, now: float) -> None:
        """Set the gauges of ``state`` (under the lock, so refreshes never interleave)."""
        confusion = self._confusion(state, now)
        # Cells with nothing in the window are dropped; one that comes back starts afresh.
        for cell in state.cells.keys() - confusion.keys():
            del state.cells[cell]
        state.classes = {label for cell in state.cells for label in cell}
        scores = classification_scores(confusion)
        registry = self.registry
        for label, class_scores in scores.by_class.items():
            gauges = state.per_class.get(label)
            if gauges is None:
                tags = state.tags.merge({names.AVERAGE: "per_class", names.CLASS: label})
                gauges = state.per_class[label] = _Scores(registry, tags)
            gauges.record(class_scores)
        for label in state.per_class.keys() - scores.by_class.keys():
            # Out of the window: the series reads 0.0 from now on and the handle is let go,
            # so the gauges held stay bounded by the classes in the window.
            state.per_class.pop(label).record(_ZERO)
        if state.macro is None:
            state.macro = _Scores(registry, state.tags.with_tag(names.AVERAGE, "macro"))
        # An empty window has no macro scores (NaN); its gauges read 0.0 like a lost class.
        state.macro.record(
            ClassScores(
                precision=scores.macro_precision,
                recall=scores.macro_recall,
                f1=scores.macro_f1,
                support=scores.evaluations,
            )
            if scores.evaluations
            else _ZERO
        )
        if state.accuracy is None:
            state.accuracy = registry.instrument(_GAUGE, names.ACCURACY, state.tags)
        state.accuracy.record(scores.accuracy if scores.evaluations else 0.0)
        positive = self.positive_class
        if positive is None and state.boolean:
            positive = "true"
        if positive is not None:
            if state.binary is None:
                tags = state.tags.merge({names.AVERAGE: "binary", names.CLASS: positive})
                state.binary = _Scores(registry, tags)
            state.binary.record(scores.binary(positive))


def _label(value: str | bool) -> str:
    """A class as recorded: booleans become ``"true"`` and ``"false"``."""
    if value.__class__ is bool:
        return "true" if value else "false"
    return value  # type: ignore[return-value]
