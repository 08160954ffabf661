"""A snapshot reuses the copy of an unchanged series, and only of an unchanged one."""

from __future__ import annotations

import threading

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metrics_core import names
from metrics_core.clock import ManualClock
from metrics_core.registry._frozen import PRUNE_EVERY, FrozenSeries
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, DistributionSeries, Series

T0 = 1_700_000_000.0
BERT = {names.MODEL_NAME: "bert", names.VERSION: "v1"}
WINDOWS = (1.0, 10.0, 60.0, 300.0, 3_600.0)


def _answers(series: Series, now: float) -> object:
    """Everything a reader can ask of ``series`` at ``now``."""
    if isinstance(series, CounterSeries):
        return (
            series.total,
            series.updated_at,
            [series.window_total_since(w, now) for w in WINDOWS],
        )
    if isinstance(series, DistributionSeries):
        summaries = [series.window_summary(w, now) for w in WINDOWS]
        return (
            series.count,
            series.total,
            series.bucket_counts,
            series.updated_at,
            [(s.window_start, s.data, s.quantiles(0.5, 0.99)) for s in summaries],
            [series.window_total(w, now) for w in WINDOWS],
        )
    return series


def _fresh_copies(registry: AggregatingRegistry) -> dict[tuple[str, object], Series]:
    """Copies made from nothing kept: what every snapshot must equal."""
    fresh = FrozenSeries()
    out: dict[tuple[str, object], Series] = {}
    with registry._lock:
        for kind, by_name in registry._by_kind.items():
            for name, family in by_name.items():
                for tags, live in family.items():
                    out[name, tags] = fresh.freeze(kind, name, tags, live)
    return out


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["counter", "timer", "read", "tick"]),
            st.sampled_from([0.0, 1e-300, 0.25, 1.0, 3.5, 1e20, 4_000.0]),
            st.integers(0, 1),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_every_snapshot_answers_as_a_fresh_copy_would(
    steps: list[tuple[str, float, int]],
) -> None:
    clock = ManualClock(T0)
    registry = AggregatingRegistry(clock=clock, series_ttl=120.0)
    for action, number, version in steps:
        tags = {**BERT, names.VERSION: f"v{version}"}
        if action == "counter":
            registry.counter(names.REQUESTS_TOTAL, tags, number)
        elif action == "timer":
            registry.timer(names.LATENCY, tags, number)
        elif action == "tick":
            clock.advance(min(number, 90.0) + 0.3)
        else:
            snapshot = registry.snapshot()
            fresh = _fresh_copies(registry)
            now = snapshot.taken_at
            for series in snapshot:
                assert _answers(series, now) == _answers(fresh[series.name, series.tags], now)


def test_a_second_snapshot_of_an_unchanged_registry_shares_every_series(
    registry: AggregatingRegistry,
) -> None:
    registry.counter(names.REQUESTS_TOTAL, BERT)
    registry.timer(names.LATENCY, BERT, 5.0)
    registry.histogram(names.TOKEN_USAGE, BERT, 12.0)
    first = registry.snapshot()
    second = registry.snapshot(names=[names.LATENCY, names.REQUESTS_TOTAL, names.TOKEN_USAGE])

    assert len(second) == 3
    for series in second:
        assert any(series is old for old in first)


def test_copies_of_expired_series_are_dropped(clock: ManualClock) -> None:
    registry = AggregatingRegistry(clock=clock, series_ttl=10.0)
    for k in range(1_500):
        registry.timer(names.LATENCY, {**BERT, names.VERSION: f"v{k}"}, 5.0)
    registry.snapshot()
    assert len(registry._frozen) == registry.series_count() == 1_500
    clock.advance(30.0)  # every version expires at the next sweep
    registry.timer(names.LATENCY, BERT, 5.0)
    for _ in range(PRUNE_EVERY):
        registry.snapshot()

    assert len(registry._frozen) == 1


def test_clear_forgets_every_copy(registry: AggregatingRegistry) -> None:
    registry.timer(names.LATENCY, BERT, 5.0)
    registry.snapshot()
    registry.clear()

    assert len(registry._frozen) == 0
    assert len(registry.snapshot()) == 0


def test_snapshots_in_many_threads_while_recording_end_with_exact_counts(
    registry: AggregatingRegistry,
) -> None:
    threads, per_thread = 8, 1_000
    start = threading.Barrier(threads * 2)

    def record() -> None:
        start.wait()
        for _ in range(per_thread):
            registry.counter(names.REQUESTS_TOTAL, BERT)
            registry.timer(names.LATENCY, BERT, 7.0)

    def read() -> None:
        start.wait()
        for _ in range(50):
            for series in registry.snapshot():
                assert series.name in (names.REQUESTS_TOTAL, names.LATENCY)

    workers = [threading.Thread(target=record) for _ in range(threads)]
    workers += [threading.Thread(target=read) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    by_name = {s.name: s for s in registry.snapshot()}
    requests = by_name[names.REQUESTS_TOTAL]
    latency = by_name[names.LATENCY]
    assert isinstance(requests, CounterSeries)
    assert isinstance(latency, DistributionSeries)
    assert requests.total == threads * per_thread
    assert latency.count == threads * per_thread
    assert latency.window_summary(60.0, registry.clock()).count == threads * per_thread
