"""QualityCollector: drift, confidence, predictions and windowed precision/recall/F1."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import pytest
import structlog.testing

from collectors.quality import CONFIDENCE_BUCKETS, QualityCollector
from integrations._payloads import version_payload
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import DriftMeasured, InferenceCompleted, PredictionEvaluated
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry, RawRegistry, Registry
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries, Snapshot

T0 = 1_700_000_000.0
MODEL = "spam-filter"
MV = {names.MODEL_NAME: MODEL, names.VERSION: "v1"}


class QualityEnv:
    """A fresh bus, registry and clock with a QualityCollector wired in."""

    def __init__(self, collector: QualityCollector, registry: Registry | None = None) -> None:
        self.clock = ManualClock(T0)
        self.bus = EventBus()
        self.registry = registry or AggregatingRegistry(clock=self.clock)
        self.collector = collector
        self.metrics = Metrics(bus=self.bus, registry=self.registry).collect(collector)

    def evaluate(
        self, expected: str | bool, actual: str | bool, n: int = 1, version: str = "v1"
    ) -> None:
        for _ in range(n):
            self.bus.emit(
                PredictionEvaluated(
                    model_name=MODEL, version=version, expected=expected, actual=actual
                )
            )

    def drift(self, score: float, threshold: float | None, kind: str = "psi") -> None:
        self.bus.emit(
            DriftMeasured(
                model_name=MODEL, version="v1", kind=kind, score=score, threshold=threshold
            )
        )

    def snapshot(self) -> Snapshot:
        return self.registry.snapshot()

    def gauge(self, name: str, **tags: str) -> float:
        series = self.snapshot().get(name, {**MV, **tags})
        assert isinstance(series, GaugeSeries), f"no gauge {name} {tags}"
        return series.value

    def counter(self, name: str, **tags: str) -> float:
        series = self.snapshot().get(name, {**MV, **tags})
        assert isinstance(series, CounterSeries), f"no counter {name} {tags}"
        return series.total


@pytest.fixture
def env() -> Iterator[QualityEnv]:
    quality = QualityEnv(QualityCollector(positive_class="spam", refresh_interval=0.0))
    yield quality
    quality.metrics.close()


def emit_spam_matrix(env: QualityEnv) -> None:
    """TP 6, FP 2, FN 3, TN 9 with ``spam`` positive (expected = truth, actual = prediction)."""
    env.evaluate("spam", "spam", 6)
    env.evaluate("ham", "spam", 2)
    env.evaluate("spam", "ham", 3)
    env.evaluate("ham", "ham", 9)


# By hand: spam  P = 6/(6+2), R = 6/(6+3), F1 = 2*6/(2*6+2+3)
#          ham   P = 9/(9+3), R = 9/(9+2), F1 = 2*9/(2*9+3+2)
SPAM = (6 / 8, 6 / 9, 12 / 17)
HAM = (9 / 12, 9 / 11, 18 / 23)
MACRO = tuple((s + h) / 2 for s, h in zip(SPAM, HAM, strict=True))


# -- drift --------------------------------------------------------------------------------


def test_drift_score_is_the_last_value_and_alerts_count_only_strictly_above(
    env: QualityEnv,
) -> None:
    env.drift(0.10, threshold=0.25)
    env.drift(0.25, threshold=0.25)  # equal: no alert
    env.drift(0.40, threshold=0.25)
    env.drift(0.90, threshold=None)  # no threshold: no alert
    env.drift(0.30, threshold=0.20)

    assert env.gauge(names.DRIFT_SCORE, kind="psi") == 0.30
    assert env.counter(names.DRIFT_ALERTS_TOTAL, kind="psi") == 2.0


def test_drift_kinds_are_kept_apart(env: QualityEnv) -> None:
    env.drift(0.5, threshold=0.1, kind="psi")
    env.drift(0.05, threshold=0.1, kind="confidence")
    env.drift(-1.5, threshold=None, kind="embedding")

    assert env.gauge(names.DRIFT_SCORE, kind="psi") == 0.5
    assert env.gauge(names.DRIFT_SCORE, kind="confidence") == 0.05
    assert env.gauge(names.DRIFT_SCORE, kind="embedding") == -1.5
    assert env.counter(names.DRIFT_ALERTS_TOTAL, kind="psi") == 1.0
    # A threshold was given, so the series exists at 0: "no alerts" reads as 0, not absent.
    assert env.counter(names.DRIFT_ALERTS_TOTAL, kind="confidence") == 0.0
    assert env.snapshot().get(names.DRIFT_ALERTS_TOTAL, {**MV, "kind": "embedding"}) is None


# -- confidence and predictions -----------------------------------------------------------


def test_confidence_and_predicted_classes_are_recorded(env: QualityEnv) -> None:
    for confidence, predicted in ((0.5, "spam"), (0.75, "ham"), (0.25, "spam"), (1.0, None)):
        env.bus.emit(
            InferenceCompleted(
                model_name=MODEL,
                version="v1",
                duration_ms=3.0,
                confidence=confidence,
                predicted_class=predicted,
            )
        )
    env.bus.emit(InferenceCompleted(model_name=MODEL, version="v1", duration_ms=3.0))

    snapshot = env.snapshot()
    series = snapshot.get(names.PREDICTION_CONFIDENCE, MV)
    assert isinstance(series, DistributionSeries)
    assert (series.count, series.total) == (4, 2.5)
    assert (series.all_time.minimum, series.all_time.maximum) == (0.25, 1.0)
    assert env.counter(names.PREDICTIONS_TOTAL, predicted_class="spam") == 2.0
    assert env.counter(names.PREDICTIONS_TOTAL, predicted_class="ham") == 1.0
    assert len(snapshot.find(names.PREDICTIONS_TOTAL)) == 2


def test_a_completion_without_quality_fields_records_nothing(env: QualityEnv) -> None:
    env.bus.emit(InferenceCompleted(model_name=MODEL, version="v1", duration_ms=3.0))

    assert len(env.snapshot()) == 0


def test_confidence_buckets_suit_the_registry() -> None:
    clock = ManualClock(T0)
    registry = AggregatingRegistry(
        clock=clock, buckets={names.PREDICTION_CONFIDENCE: CONFIDENCE_BUCKETS}
    )
    env = QualityEnv(QualityCollector(), registry)
    for confidence in (0.05, 0.55, 0.97):
        env.bus.emit(
            InferenceCompleted(
                model_name=MODEL, version="v1", duration_ms=1.0, confidence=confidence
            )
        )
    env.metrics.close()

    series = registry.snapshot().get(names.PREDICTION_CONFIDENCE, MV)
    assert isinstance(series, DistributionSeries)
    assert series.bucket_bounds == CONFIDENCE_BUCKETS
    counts = dict(zip((*CONFIDENCE_BUCKETS, math.inf), series.bucket_counts, strict=True))
    assert (counts[0.1], counts[0.6], counts[0.99]) == (1, 1, 1)
    assert sum(series.bucket_counts) == 3


# -- precision, recall, F1 ------------------------------------------------------------------


def test_confusion_matrix_is_counted_per_cell(env: QualityEnv) -> None:
    emit_spam_matrix(env)

    cells = {
        (s.tags[names.EXPECTED], s.tags[names.ACTUAL]): s.total
        for s in env.snapshot().find(names.EVALUATIONS_TOTAL)
        if isinstance(s, CounterSeries)
    }
    assert cells == {("spam", "spam"): 6, ("ham", "spam"): 2, ("spam", "ham"): 3, ("ham", "ham"): 9}


def test_gauges_hold_binary_per_class_and_macro_scores(env: QualityEnv) -> None:
    emit_spam_matrix(env)

    def scores(**tags: str) -> tuple[float, float, float]:
        return (
            env.gauge(names.PRECISION, **tags),
            env.gauge(names.RECALL, **tags),
            env.gauge(names.F1, **tags),
        )

    assert scores(average="binary", **{"class": "spam"}) == SPAM
    assert scores(average="per_class", **{"class": "spam"}) == SPAM
    assert scores(average="per_class", **{"class": "ham"}) == HAM
    assert scores(average="macro") == MACRO


def test_version_metrics_give_the_same_scores_over_the_query_window(env: QualityEnv) -> None:
    emit_spam_matrix(env)

    result = env.metrics.get_metrics(MODEL, "v1", window=60)

    assert result.evaluation_count == 20
    assert result.positive_class == "spam"
    assert (result.precision, result.recall, result.f1) == SPAM
    assert (result.macro_precision, result.macro_recall, result.macro_f1) == MACRO


def test_collector_scores_match_the_gauges(env: QualityEnv) -> None:
    emit_spam_matrix(env)

    scores = env.collector.scores(MODEL, "v1")

    assert scores.evaluations == 20
    spam = scores.binary("spam")
    assert (spam.precision, spam.recall, spam.f1, spam.support) == (*SPAM, 9)
    assert scores.by_class["ham"].support == 11


def test_multiclass_zero_denominators_give_zero(env: QualityEnv) -> None:
    # "bird" is expected but never predicted (precision 0/0), "fish" predicted but never
    # expected (recall 0/0) and never right.
    env.evaluate("cat", "cat", 4)
    env.evaluate("dog", "cat", 1)
    env.evaluate("dog", "dog", 3)
    env.evaluate("bird", "dog", 2)
    env.evaluate("cat", "fish", 1)

    def f1(label: str) -> float:
        return env.gauge(names.F1, average="per_class", **{"class": label})

    # cat: TP 4, FP 1, FN 1; dog: TP 3, FP 2, FN 1; bird: TP 0, FN 2; fish: TP 0, FP 1.
    assert env.gauge(names.PRECISION, average="per_class", **{"class": "bird"}) == 0.0
    assert env.gauge(names.RECALL, average="per_class", **{"class": "fish"}) == 0.0
    assert (f1("cat"), f1("dog"), f1("bird"), f1("fish")) == (8 / 10, 6 / 9, 0.0, 0.0)
    assert env.gauge(names.F1, average="macro") == (8 / 10 + 6 / 9) / 4
    assert env.gauge(names.PRECISION, average="macro") == (4 / 5 + 3 / 5) / 4
    assert env.gauge(names.RECALL, average="macro") == (4 / 5 + 3 / 4) / 4
    # The positive class was never seen: binary scores are 0.0, not an error.
    assert env.gauge(names.F1, average="binary", **{"class": "spam"}) == 0.0


def test_gauges_cover_the_collector_window() -> None:
    env = QualityEnv(QualityCollector(positive_class="spam", window=60, refresh_interval=0))
    env.evaluate("spam", "ham", 5)  # all wrong, at T0
    env.evaluate("ham", "ham", 1)
    env.clock.set(T0 + 120)  # two windows later
    env.evaluate("spam", "spam", 4)

    assert env.gauge(names.F1, average="binary", **{"class": "spam"}) == 1.0
    # "ham" left the window: its gauges read 0.0 and macro is over "spam" alone.
    assert env.gauge(names.F1, average="per_class", **{"class": "ham"}) == 0.0
    assert env.gauge(names.F1, average="macro") == 1.0
    # The counter keeps everything; a query's own window decides.
    long = env.metrics.get_metrics(MODEL, "v1", window=3600)
    short = env.metrics.get_metrics(MODEL, "v1", window=60)
    assert (long.evaluation_count, long.recall) == (10, 4 / 9)
    assert (short.evaluation_count, short.recall) == (4, 1.0)
    env.metrics.close()


def test_refresh_is_throttled_and_forced_by_refresh_and_stop() -> None:
    env = QualityEnv(QualityCollector(positive_class="spam", refresh_interval=10))
    env.evaluate("spam", "spam")  # the first evaluation refreshes
    assert env.gauge(names.PRECISION, average="binary", **{"class": "spam"}) == 1.0

    env.evaluate("ham", "spam")  # within the interval: the gauge waits
    assert env.gauge(names.PRECISION, average="binary", **{"class": "spam"}) == 1.0

    env.clock.advance(10)
    env.evaluate("ham", "spam")  # due again
    assert env.gauge(names.PRECISION, average="binary", **{"class": "spam"}) == 1 / 3

    env.evaluate("ham", "spam")
    env.collector.refresh()
    assert env.gauge(names.PRECISION, average="binary", **{"class": "spam"}) == 1 / 4

    env.evaluate("ham", "spam")
    env.metrics.close()  # stop() refreshes so the last export is current
    assert env.gauge(names.PRECISION, average="binary", **{"class": "spam"}) == 1 / 5


def test_versions_are_scored_apart(env: QualityEnv) -> None:
    env.evaluate("spam", "spam", 3, version="v1")
    env.evaluate("spam", "ham", 3, version="v2")

    all_metrics = env.metrics.get_all_metrics(window=60)

    assert all_metrics[f"{MODEL}:v1"].recall == 1.0
    assert all_metrics[f"{MODEL}:v2"].recall == 0.0
    assert all_metrics[f"{MODEL}:v2"].evaluation_count == 3


def test_without_positive_class_binary_fields_are_nan_and_no_binary_gauge() -> None:
    env = QualityEnv(QualityCollector(refresh_interval=0))
    emit_spam_matrix(env)

    result = env.metrics.get_metrics(MODEL, "v1")

    assert result.positive_class is None
    assert math.isnan(result.precision) and math.isnan(result.f1)
    assert result.macro_f1 == MACRO[2]
    assert [s.tags[names.AVERAGE] for s in env.snapshot().find(names.F1)].count("binary") == 0
    env.metrics.close()


def test_classes_over_the_limit_are_counted_but_not_scored() -> None:
    env = QualityEnv(QualityCollector(max_classes=2, refresh_interval=0))
    with structlog.testing.capture_logs() as logs:
        env.evaluate("a", "a", 2)
        env.evaluate("b", "a")
        env.evaluate("c", "c", 3)  # a third class
        env.evaluate("a", "c")

    assert [log["event"] for log in logs] == ["quality_classes_over_limit"]
    assert env.counter(names.EVALUATIONS_TOTAL, expected="c", actual="c") == 3.0
    assert env.snapshot().get(names.F1, {**MV, "average": "per_class", "class": "c"}) is None
    # The query reads the counter and sees all three classes.
    assert env.metrics.get_metrics(MODEL, "v1").evaluation_count == 7
    env.metrics.close()


def test_works_with_the_raw_registry() -> None:
    clock = ManualClock(T0)
    env = QualityEnv(
        QualityCollector(positive_class="spam", refresh_interval=0), RawRegistry(clock=clock)
    )
    emit_spam_matrix(env)

    assert env.gauge(names.F1, average="binary", **{"class": "spam"}) == SPAM[2]
    assert env.metrics.get_metrics(MODEL, "v1").f1 == SPAM[2]
    env.metrics.close()


# -- threads -------------------------------------------------------------------------------


def test_counts_are_exact_under_many_threads(env: QualityEnv) -> None:
    threads, per_thread = 8, 500
    start = threading.Barrier(threads)

    def work(index: int) -> None:
        start.wait()
        for i in range(per_thread):
            expected = "spam" if (index + i) % 2 else "ham"
            env.evaluate(expected, "spam")
            env.drift(0.5, threshold=0.1)
            env.bus.emit(
                InferenceCompleted(
                    model_name=MODEL,
                    version="v1",
                    duration_ms=1.0,
                    confidence=0.5,
                    predicted_class="spam",
                )
            )

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    total = threads * per_thread
    assert env.counter(names.EVALUATIONS_TOTAL, expected="spam", actual="spam") == total / 2
    assert env.counter(names.EVALUATIONS_TOTAL, expected="ham", actual="spam") == total / 2
    assert env.counter(names.DRIFT_ALERTS_TOTAL, kind="psi") == total
    assert env.counter(names.PREDICTIONS_TOTAL, predicted_class="spam") == total
    assert env.collector.scores(MODEL, "v1").evaluations == total
    assert env.gauge(names.PRECISION, average="binary", **{"class": "spam"}) == 0.5


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"positive_class": ""}, "positive_class"),
        ({"window": 0}, "window"),
        ({"window": 3601}, "window"),
        ({"window": math.nan}, "window"),
        ({"refresh_interval": -1}, "refresh_interval"),
        ({"refresh_interval": math.inf}, "refresh_interval"),
        ({"max_classes": 0}, "max_classes"),
    ],
)
def test_bad_configuration_is_rejected_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ValueError, match=f"'{field}'"):
        QualityCollector(**kwargs)  # type: ignore[arg-type]


def test_unbound_collector_refresh_raises_and_stop_does_not() -> None:
    collector = QualityCollector()
    collector.stop()
    with pytest.raises(RuntimeError, match="not bound"):
        collector.refresh()


# -- booleans, accuracy, defaults -----------------------------------------------------------


def test_boolean_outcomes_score_true_as_the_positive_class() -> None:
    quality = QualityEnv(QualityCollector(refresh_interval=0.0))
    # Seed 001's F-score from boolean test results: TP 6, FP 2, FN 3, TN 9.
    quality.evaluate(True, True, 6)
    quality.evaluate(False, True, 2)
    quality.evaluate(True, False, 3)
    quality.evaluate(False, False, 9)

    result = quality.metrics.get_metrics(MODEL, "v1", window=60)
    assert result.positive_class == "true"
    assert (result.precision, result.recall, result.f1) == SPAM
    assert result.accuracy == 15 / 20
    assert quality.gauge(names.F1, average="binary", **{"class": "true"}) == SPAM[2]
    assert quality.counter(names.EVALUATIONS_TOTAL, expected="false", actual="true") == 2
    quality.metrics.close()


def test_a_named_boolean_positive_class_wins() -> None:
    quality = QualityEnv(QualityCollector(positive_class=False, refresh_interval=0.0))
    quality.evaluate(False, False, 9)
    quality.evaluate(True, False, 3)

    result = quality.metrics.get_metrics(MODEL, "v1", window=60)
    assert result.positive_class == "false"
    assert (result.precision, result.recall) == (9 / 12, 1.0)
    quality.metrics.close()


@pytest.mark.parametrize("label", ["", 0, 1.0, None])
def test_evaluated_classes_must_be_strings_or_bools(label: object) -> None:
    with pytest.raises(ValueError, match=r"'expected' must be a non-empty string or a bool"):
        PredictionEvaluated(model_name=MODEL, version="v1", expected=label, actual="a")  # type: ignore[arg-type]


def test_accuracy_gauge_and_version_metrics(env: QualityEnv) -> None:
    emit_spam_matrix(env)

    assert env.gauge(names.ACCURACY) == 15 / 20
    assert env.metrics.get_metrics(MODEL, "v1", window=60).accuracy == 15 / 20


def test_no_evaluations_gives_null_scores_in_json(env: QualityEnv) -> None:
    env.bus.emit(InferenceCompleted(model_name=MODEL, version="v1", duration_ms=3.0))
    payload = version_payload(env.metrics.get_metrics(MODEL, "v1", window=60))

    quality = ("accuracy", "precision", "recall", "f1", "macro_precision", "macro_recall")
    assert {key: payload[key] for key in (*quality, "macro_f1")} == dict.fromkeys(
        (*quality, "macro_f1"), None
    )
    assert payload["evaluation_count"] == 0


def test_confidence_gets_buckets_for_0_to_1_by_default(env: QualityEnv) -> None:
    for confidence in (0.05, 0.55, 0.97, 1.0):
        env.bus.emit(
            InferenceCompleted(
                model_name=MODEL, version="v1", duration_ms=1.0, confidence=confidence
            )
        )

    series = env.snapshot().get(names.PREDICTION_CONFIDENCE, MV)
    assert isinstance(series, DistributionSeries)
    assert series.bucket_bounds == CONFIDENCE_BUCKETS
    assert series.bucket_counts == (1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1)
