"""Per-version queries over windows: effective start, rates, exclusion, all versions."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta

import pytest

from collectors.inference import InferenceCollector
from collectors.quality import QualityCollector
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import (
    ActiveConnectionsChanged,
    FirstTokenReceived,
    InferenceCompleted,
    InferenceFailed,
    MemoryUsageReported,
    PredictionEvaluated,
)
from metrics_core.facade import Metrics
from metrics_core.query import (
    ClassificationScores,
    ClassScores,
    all_version_metrics,
    classification_scores,
    version_metrics,
)
from metrics_core.registry import AggregatingRegistry

T0 = 1_700_000_000.0  # a multiple of 10 and 60: slot bounds are easy to reason about


class QueryEnv:
    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.bus = EventBus()
        self.registry = AggregatingRegistry(clock=self.clock)
        self.metrics = Metrics(bus=self.bus, registry=self.registry).collect(InferenceCollector())

    def at(self, offset: float) -> None:
        self.clock.set(T0 + offset)

    def ok(self, n: int = 1, version: str = "v1", duration_ms: float = 10.0, **kw: object) -> None:
        for _ in range(n):
            self.bus.emit(
                InferenceCompleted(
                    model_name="bert",
                    version=version,
                    duration_ms=duration_ms,
                    **kw,  # type: ignore[arg-type]
                )
            )

    def fail(self, error_type: str, n: int = 1, version: str = "v1") -> None:
        for _ in range(n):
            self.bus.emit(
                InferenceFailed(
                    model_name="bert", version=version, duration_ms=1.0, error_type=error_type
                )
            )


@pytest.fixture
def query_env() -> Iterator[QueryEnv]:
    env = QueryEnv()
    yield env
    env.metrics.close()


def test_effective_start_is_first_seen_when_the_version_is_younger_than_the_window(
    query_env: QueryEnv,
) -> None:
    query_env.ok(20)
    query_env.at(10)

    result = version_metrics(query_env.registry.snapshot(), "bert", "v1", 60)

    assert result.window_start == T0
    assert result.window_end == T0 + 10
    assert result.window_seconds == 10.0
    assert result.request_count == 20
    assert result.requests_per_second == 2.0


def test_effective_start_rounds_up_to_the_slot_width(query_env: QueryEnv) -> None:
    # A 300 s window is answered from 10 s slots: asked start T0+103, effective T0+110.
    query_env.at(0)
    query_env.ok(1)
    query_env.at(105)
    query_env.ok(2)  # slot T0+100, before the effective start: excluded
    query_env.at(115)
    query_env.ok(3)
    query_env.at(250)
    query_env.ok(4)
    query_env.at(403)
    query_env.ok(5)

    result = version_metrics(query_env.registry.snapshot(), "bert", "v1", 300)

    assert result.window_start == T0 + 110
    assert result.window_end == T0 + 403
    assert result.request_count == 12
    assert result.requests_per_second == 12 / 293


def test_one_second_slots_for_a_minute_window(query_env: QueryEnv) -> None:
    query_env.ok(7)
    query_env.at(30)
    query_env.ok(2)
    query_env.at(75)
    query_env.ok(3)

    result = version_metrics(query_env.registry.snapshot(), "bert", "v1", 60)

    assert result.window_start == T0 + 15
    assert result.request_count == 5
    assert result.requests_per_second == 5 / 60


def test_errors_outside_the_window_are_excluded(query_env: QueryEnv) -> None:
    query_env.fail("Timeout", 4)
    query_env.ok(4)
    query_env.at(120)
    query_env.fail("OOM", 1)
    query_env.ok(3)

    result = version_metrics(query_env.registry.snapshot(), "bert", "v1", 60)

    assert result.request_count == 4
    assert result.errors_by_type == {"OOM": 1}
    assert result.error_rate == 0.25
    everything = version_metrics(query_env.registry.snapshot(), "bert", "v1", 3600)
    assert everything.request_count == 12
    assert everything.errors_by_type == {"OOM": 1, "Timeout": 4}
    assert everything.error_rate == 5 / 12


def test_now_parameter_moves_the_window_end(query_env: QueryEnv) -> None:
    query_env.ok(2)
    query_env.at(100)
    query_env.ok(3)
    snapshot = query_env.registry.snapshot()

    result = version_metrics(snapshot, "bert", "v1", 30, now=T0 + 20)

    assert result.window_end == T0 + 20
    assert result.window_start == T0
    assert result.request_count == 2


def test_unknown_version_gives_zeros_and_nan_quantiles(query_env: QueryEnv) -> None:
    query_env.ok(3)

    result = version_metrics(query_env.registry.snapshot(), "bert", "v9", 60)

    assert result.request_count == 0
    assert result.requests_per_second == 0.0
    assert result.error_rate == 0.0
    assert result.errors_by_type == {}
    assert math.isnan(result.average_latency_ms)
    assert math.isnan(result.p50_latency_ms)
    assert math.isnan(result.p99_latency_ms)
    assert math.isnan(result.ttft_p50_ms)
    assert result.cost_usd == 0.0
    assert result.evaluation_count == 0
    assert result.positive_class is None
    assert math.isnan(result.precision) and math.isnan(result.f1)
    # No evaluations: every quality score is "no data" alike, never a score of zero.
    assert all(
        math.isnan(score)
        for score in (result.macro_precision, result.macro_recall, result.macro_f1, result.accuracy)
    )


def test_llm_fields_ttft_tokens_per_second_and_cost(query_env: QueryEnv) -> None:
    query_env.ok(duration_ms=900.0, output_tokens=100, cost_usd=0.25)
    query_env.ok(duration_ms=800.0, output_tokens=60, cost_usd=0.5)
    for ttft in (100.0, 100.0, 100.0):
        query_env.bus.emit(
            FirstTokenReceived(model_name="bert", version="v1", time_to_first_token_ms=ttft)
        )
    query_env.bus.emit(ActiveConnectionsChanged(model_name="bert", version="v1", count=4))
    query_env.bus.emit(
        MemoryUsageReported(model_name="bert", version="v1", memory_bytes=3 * 1024 * 1024)
    )
    query_env.at(8)

    result = version_metrics(query_env.registry.snapshot(), "bert", "v1", timedelta(minutes=1))

    assert result.output_tokens_per_second == 160 / 8
    assert result.cost_usd == 0.75
    assert result.ttft_p50_ms == 100.0
    assert result.ttft_p95_ms == 100.0
    assert result.active_connections == 4
    assert result.memory_usage_mb == 3.0
    assert result.average_latency_ms == 850.0


def test_all_version_metrics_are_keyed_and_sorted(query_env: QueryEnv) -> None:
    query_env.ok(2, version="v2")
    query_env.ok(1, version="v1")
    query_env.fail("OOM", 1, version="v2")
    query_env.at(5)

    result = all_version_metrics(query_env.registry.snapshot(), 60)

    assert list(result) == ["bert:v1", "bert:v2"]
    assert result["bert:v1"].request_count == 1
    assert result["bert:v2"].request_count == 3
    assert result["bert:v2"].errors_by_type == {"OOM": 1}
    assert result["bert:v2"].key == "bert:v2"
    assert result["bert:v2"].requests_per_second == 3 / 5


@pytest.mark.parametrize("window", [0, -1, math.nan, math.inf, "5 minutes", None, True])
def test_invalid_window_raises_naming_window(query_env: QueryEnv, window: object) -> None:
    with pytest.raises(ValueError, match="'window'"):
        version_metrics(query_env.registry.snapshot(), "bert", "v1", window)  # type: ignore[arg-type]


# -- precision, recall and F1 ---------------------------------------------------------------


def test_classification_scores_of_a_known_confusion_matrix() -> None:
    # expected (truth), actual (prediction): TP 6, FP 2, FN 3, TN 9 for "spam".
    scores = classification_scores(
        {("spam", "spam"): 6, ("ham", "spam"): 2, ("spam", "ham"): 3, ("ham", "ham"): 9}
    )

    spam = ClassScores(precision=6 / 8, recall=6 / 9, f1=12 / 17, support=9)
    ham = ClassScores(precision=9 / 12, recall=9 / 11, f1=18 / 23, support=11)
    assert scores == ClassificationScores(
        evaluations=20,
        by_class={"ham": ham, "spam": spam},
        macro_precision=0.75,
        macro_recall=(6 / 9 + 9 / 11) / 2,
        macro_f1=(12 / 17 + 18 / 23) / 2,
        accuracy=15 / 20,
    )
    assert scores.binary("spam") == spam
    assert scores.binary("unseen") == ClassScores(precision=0.0, recall=0.0, f1=0.0, support=0)


def test_classification_scores_of_nothing_are_nan() -> None:
    scores = classification_scores({("a", "b"): 0})

    assert (scores.evaluations, scores.by_class) == (0, {})
    macro = (scores.macro_precision, scores.macro_recall, scores.macro_f1, scores.accuracy)
    assert all(math.isnan(score) for score in macro)


def test_accuracy_is_the_share_of_correct_evaluations() -> None:
    scores = classification_scores({("a", "a"): 6, ("a", "b"): 3, ("b", "b"): 9, ("b", "a"): 2})

    assert scores.accuracy == 15 / 20


def test_all_wrong_gives_zero_not_an_error() -> None:
    scores = classification_scores({("a", "b"): 3, ("b", "a"): 2})

    assert scores.by_class["a"] == ClassScores(precision=0.0, recall=0.0, f1=0.0, support=3)
    assert scores.macro_f1 == 0.0


def test_quality_fields_cover_the_query_window(query_env: QueryEnv) -> None:
    query_env.metrics.collect(QualityCollector(positive_class="fraud"))

    def evaluate(expected: str, actual: str, n: int) -> None:
        for _ in range(n):
            query_env.bus.emit(
                PredictionEvaluated(
                    model_name="bert", version="v1", expected=expected, actual=actual
                )
            )

    evaluate("fraud", "ok", 4)  # at T0: four misses
    query_env.at(100)
    evaluate("fraud", "fraud", 3)
    evaluate("ok", "fraud", 1)
    evaluate("ok", "ok", 2)
    query_env.at(110)
    snapshot = query_env.registry.snapshot()

    recent = version_metrics(snapshot, "bert", "v1", 60)
    hour = version_metrics(snapshot, "bert", "v1", 3600)

    assert recent.evaluation_count == 6
    assert recent.positive_class == "fraud"
    assert (recent.precision, recent.recall, recent.f1) == (3 / 4, 1.0, 6 / 7)
    assert recent.macro_recall == (1.0 + 2 / 3) / 2
    assert hour.evaluation_count == 10
    assert (hour.precision, hour.recall, hour.f1) == (3 / 4, 3 / 7, 6 / 11)
    assert hour.macro_precision == (3 / 4 + 2 / 6) / 2
    # The facade's query reads the same series.
    assert query_env.metrics.get_metrics("bert", "v1", window=60).f1 == 6 / 7
