"""What renders keep between them (labels, line text) and reused series never go stale."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from exporters import PrometheusExporter
from exporters import _prometheus_sinks as sinks
from metrics_core import names
from metrics_core._round_cache import RoundCache
from metrics_core.clock import ManualClock
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.snapshot import Snapshot

T0 = 1_700_000_000.0
BERT = {names.MODEL_NAME: "bert", names.VERSION: "v1"}
TOKENS = {**BERT, names.TOKEN_TYPE: "output"}
TOKEN_LABELS = {**BERT, "gen_ai_token_type": "output"}


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def _value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise KeyError((name, labels))


def _fresh(snapshot: Snapshot, quantiles: tuple[float, ...] = (0.5, 0.95, 0.99)) -> str:
    """The text of a new exporter, which has nothing kept from earlier renders."""
    return PrometheusExporter(quantiles=quantiles).render(snapshot)


def test_a_value_recorded_between_two_scrapes_at_one_instant_appears_in_the_second(
    registry: AggregatingRegistry,
) -> None:
    exporter = PrometheusExporter(quantiles=(0.5, 1.0))
    registry.counter(names.REQUESTS_TOTAL, BERT)
    registry.timer(names.LATENCY, BERT, 10.0)
    registry.histogram(names.TOKEN_USAGE, TOKENS, 64)
    first = exporter.render(registry.snapshot())
    assert exporter.render(registry.snapshot()) == first  # nothing new: the same text

    # The clock stands still: only the recorded values tell the scrapes apart.
    registry.counter(names.REQUESTS_TOTAL, BERT)
    registry.timer(names.LATENCY, BERT, 900.0)
    registry.histogram(names.TOKEN_USAGE, TOKENS, 4_000)
    second = exporter.render(registry.snapshot())

    assert _value(second, "model_inference_requests_total", **BERT) == 2.0
    assert _value(second, "model_inference_latency_seconds_count", **BERT) == 2.0
    assert _value(second, "model_inference_latency_seconds_sum", **BERT) == pytest.approx(0.91)
    top = _value(second, "model_inference_latency_window_seconds", **BERT, quantile="1.0")
    assert top == pytest.approx(0.9)
    assert _value(second, "gen_ai_client_token_usage_window_count", **TOKEN_LABELS) == 2.0
    assert _value(second, "gen_ai_client_token_usage_sum", **TOKEN_LABELS) == 4_064.0
    assert second == _fresh(registry.snapshot(), (0.5, 1.0))


def test_a_tiny_counter_increment_still_shows_in_its_window(
    registry: AggregatingRegistry, clock: ManualClock
) -> None:
    registry.counter(names.COST_TOTAL, BERT, 1e20)
    clock.advance(1.5)
    registry.counter(names.COST_TOTAL, BERT, 1.0)
    (before,) = registry.snapshot().series
    registry.counter(names.COST_TOTAL, BERT, 1.0)  # lost in the total, not in its slot
    (after,) = registry.snapshot().series

    assert after.total == before.total  # type: ignore[union-attr]
    assert after is not before
    assert after.window_total(1.0, clock()) == 2.0  # type: ignore[union-attr]


def test_an_unchanged_series_is_the_same_snapshot_object_until_something_is_recorded(
    registry: AggregatingRegistry, clock: ManualClock
) -> None:
    registry.timer(names.LATENCY, BERT, 10.0)
    registry.counter(names.REQUESTS_TOTAL, BERT)
    registry.gauge(names.MEMORY_USAGE, BERT, 1.0)
    first = {s.name: s for s in registry.snapshot()}
    clock.advance(5.0)
    again = {s.name: s for s in registry.snapshot()}
    assert again[names.LATENCY] is first[names.LATENCY]
    assert again[names.REQUESTS_TOTAL] is first[names.REQUESTS_TOTAL]

    registry.timer(names.LATENCY, BERT, 10.0)
    registry.counter(names.REQUESTS_TOTAL, BERT, 0.0)  # a zero in a new second rotates
    changed = {s.name: s for s in registry.snapshot()}
    assert changed[names.LATENCY] is not first[names.LATENCY]
    assert changed[names.LATENCY].count == 2  # type: ignore[union-attr]
    assert changed[names.REQUESTS_TOTAL] is not first[names.REQUESTS_TOTAL]


def test_the_summary_of_an_unchanged_series_follows_the_clock(
    registry: AggregatingRegistry, clock: ManualClock
) -> None:
    exporter = PrometheusExporter(quantiles=(0.5,))
    registry.timer(names.LATENCY, BERT, 10.0)
    assert _value(
        exporter.render(registry.snapshot()), "model_inference_latency_window_seconds",
        **BERT, quantile="0.5",
    ) == pytest.approx(0.01, rel=0.01)  # fmt: skip
    clock.advance(120.0)  # out of the 60 s window, nothing recorded
    later = exporter.render(registry.snapshot())

    assert math.isnan(
        _value(later, "model_inference_latency_window_seconds", **BERT, quantile="0.5")
    )
    assert later == _fresh(registry.snapshot(), (0.5,))


def test_render_cache_keeps_only_what_the_last_render_used() -> None:
    cache: RoundCache[str] = RoundCache()
    cache.get("a", lambda: "A")
    cache.get("b", lambda: "B")
    cache.turn()
    assert cache.get("a", lambda: "new") == "A"  # kept from the last render
    cache.turn()
    assert len(cache) == 1  # "b" was not used by the render that just ended
    assert cache.get("b", lambda: "B2") == "B2"


def test_kept_line_text_is_bounded_by_the_series_of_recent_renders(
    registry: AggregatingRegistry, clock: ManualClock
) -> None:
    registry = AggregatingRegistry(clock=clock, series_ttl=10.0)
    exporter = PrometheusExporter()
    for k in range(50):
        registry.counter(names.REQUESTS_TOTAL, {**BERT, names.VERSION: f"v{k}"})
    exporter.render(registry.snapshot())
    clock.advance(30.0)  # every version expires
    registry.counter(names.REQUESTS_TOTAL, BERT)
    exporter.render(registry.snapshot())
    exporter.render(registry.snapshot())

    assert len(exporter._lines) == 1
    assert len(exporter._labels) == 1


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["counter", "timer", "histogram", "gauge", "scrape", "tick"]),
            st.integers(0, 2),
            st.floats(0.0, 5_000.0, allow_nan=False),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_every_render_is_the_text_of_a_fresh_exporter(
    steps: list[tuple[str, int, float]],
) -> None:
    clock = ManualClock(T0)
    registry = AggregatingRegistry(clock=clock, series_ttl=30.0)
    exporter = PrometheusExporter(quantiles=(0.0, 0.5, 0.99))
    for action, version, number in steps:
        tags = {**BERT, names.VERSION: f"v{version}"}
        if action == "counter":
            registry.counter(names.REQUESTS_TOTAL, tags, number)
        elif action == "timer":
            registry.timer(names.LATENCY, tags, number)
        elif action == "histogram":
            registry.histogram(names.TOKEN_USAGE, {**tags, names.TOKEN_TYPE: "input"}, number)
        elif action == "gauge":
            registry.gauge(names.MEMORY_USAGE, tags, number)
        elif action == "tick":
            clock.advance(number / 100)
        else:
            snapshot = registry.snapshot()
            text = exporter.render(snapshot)
            assert text == _fresh(snapshot, (0.0, 0.5, 0.99))
            assert text == generate_latest(_Families(exporter.families(snapshot))).decode()


def test_scrapes_in_many_threads_while_recording_end_with_exact_counts(
    registry: AggregatingRegistry,
) -> None:
    exporter = PrometheusExporter()
    threads, per_thread = 8, 500
    start = threading.Barrier(threads * 2)

    def record(k: int) -> None:
        start.wait()
        tags = {**BERT, names.VERSION: f"v{k % 2}"}
        for _ in range(per_thread):
            registry.counter(names.REQUESTS_TOTAL, tags)
            registry.timer(names.LATENCY, tags, 12.0)

    def scrape() -> None:
        start.wait()
        for _ in range(20):
            exporter.render(registry.snapshot())

    workers = [threading.Thread(target=record, args=(k,)) for k in range(threads)]
    workers += [threading.Thread(target=scrape) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    text = exporter.render(registry.snapshot())
    for version in ("v0", "v1"):
        tags = {**BERT, names.VERSION: version}
        expected = threads // 2 * per_thread
        assert _value(text, "model_inference_requests_total", **tags) == expected
        assert _value(text, "model_inference_latency_seconds_count", **tags) == expected
        assert _value(text, "model_inference_latency_window_seconds_count", **tags) == expected
    assert text == _fresh(registry.snapshot())


def test_line_text_is_built_once_per_series_across_renders(
    registry: AggregatingRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = PrometheusExporter()
    registry.timer(names.LATENCY, BERT, 10.0)
    registry.counter(names.REQUESTS_TOTAL, BERT)
    exporter.render(registry.snapshot())
    for _ in range(3):
        exporter.render(registry.snapshot())
    built: list[str] = []
    original = sinks._line_start

    def counted(name: str, labels: dict[str, str], extra: tuple[str, str] | None = None) -> str:
        built.append(name)
        return original(name, labels, extra)

    monkeypatch.setattr(sinks, "_line_start", counted)
    registry.timer(names.LATENCY, BERT, 20.0)
    text = exporter.render(registry.snapshot())

    assert built == []
    assert text == _fresh(registry.snapshot())


@given(
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(10**20), 10**20)
    | st.sampled_from([0.0, -0.0, 1e6, 1234567.0, 123456.7, 1e-5, 1e16, 1.5e16, -1e7])
)
def test_number_text_is_prometheus_clients(value: float) -> None:
    go_string: Callable[[float], str] = floatToGoString
    assert sinks.go_text(value) == go_string(value)
