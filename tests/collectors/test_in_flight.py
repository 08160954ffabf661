"""InFlightCounts: exact in-flight counts per version with no lock per event, many threads."""

from __future__ import annotations

import random
import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors._in_flight import InFlightCounts
from metrics_core import names
from metrics_core.clock import ManualClock
from metrics_core.events import InferenceStarted
from metrics_core.registry import AggregatingRegistry, RawRegistry, Registry
from metrics_core.snapshot import GaugeSeries

T0 = 1_700_000_000.0
THREADS = 16
VERSIONS = 100


def shown(registry: Registry, version: str = "v1") -> float | None:
    """What the in-flight gauge of ``llm:version`` says (folded or not), ``None`` without one."""
    found = [
        series
        for series in registry.snapshot().find(names.IN_FLIGHT)
        if series.tags.get(names.MODEL_NAME) == "llm" and series.tags.get(names.VERSION) == version
    ]
    assert len(found) <= 1 and all(isinstance(series, GaugeSeries) for series in found)
    return found[0].value if found and isinstance(found[0], GaugeSeries) else None


def started(version: str) -> InferenceStarted:
    return InferenceStarted(model_name="llm", version=version)


def counts_for(registry: Registry, limit: int = 1_000) -> InFlightCounts:
    counts = InFlightCounts(limit=limit)
    counts.bind(registry)
    return counts


@pytest.fixture(params=["aggregating", "raw", "folded"])
def registry(request: pytest.FixtureRequest) -> Registry:
    """An aggregating registry (its gauge reads the count), a raw one and a full one (set)."""
    clock = ManualClock(T0)
    if request.param == "raw":
        return RawRegistry(clock=clock)
    if request.param == "folded":  # every in-flight gauge folds into the overflow series
        full = AggregatingRegistry(clock=clock, max_series_per_metric=1)
        full.gauge(names.IN_FLIGHT, {names.MODEL_NAME: "other", names.VERSION: "v0"}, 0.0)
        return full
    return AggregatingRegistry(clock=clock)


def test_the_gauge_shows_every_request_inside_then_none(registry: Registry) -> None:
    counts = counts_for(registry)
    inside = threading.Barrier(THREADS + 1)
    leave = threading.Barrier(THREADS + 1)
    seen: list[float | None] = []

    def request() -> None:
        counts.start(started("v1"))
        inside.wait(timeout=30)
        leave.wait(timeout=30)
        counts.finish(("llm", "v1"))

    for _ in range(3):
        pool = [threading.Thread(target=request) for _ in range(THREADS)]
        for thread in pool:
            thread.start()
        inside.wait(timeout=30)
        seen += [counts.count(("llm", "v1")), shown(registry)]
        leave.wait(timeout=30)
        for thread in pool:
            thread.join(timeout=30)
    assert set(seen) == {THREADS}
    assert (counts.count(("llm", "v1")), shown(registry)) == (0, 0.0)


def test_racing_threads_leave_the_exact_count(registry: Registry) -> None:
    counts = counts_for(registry)
    held = threading.Barrier(THREADS + 1)
    done = threading.Barrier(THREADS + 1)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        open_requests = 0
        for _ in range(2_000):
            if open_requests and rng.random() < 0.5:
                counts.finish(("llm", "v1"))
                open_requests -= 1
            else:
                counts.start(started("v1"))
                open_requests += 1
        for _ in range(open_requests - seed % 3):  # each thread leaves seed % 3 open
            counts.finish(("llm", "v1"))
        held.wait(timeout=30)
        done.wait(timeout=30)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for thread in pool:
        thread.start()
    held.wait(timeout=30)
    expected = sum(k % 3 for k in range(THREADS))
    assert (counts.count(("llm", "v1")), shown(registry)) == (expected, float(expected))
    done.wait(timeout=30)
    for thread in pool:
        thread.join(timeout=30)


def test_the_count_never_goes_below_zero_and_unknown_versions_get_no_gauge() -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0))
    counts = counts_for(registry)
    counts.finish(("llm", "v2"))
    counts.start(started("v1"))
    counts.finish(("llm", "v1"))
    counts.finish(("llm", "v1"))
    counts.start(started("v1"))
    assert (counts.count(("llm", "v1")), shown(registry)) == (1, 1.0)
    assert (counts.count(("llm", "v2")), shown(registry, "v2")) == (0, None)


def test_after_the_registry_is_cleared_the_next_step_shows_the_count_again() -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0))
    counts = counts_for(registry)
    for _ in range(3):
        counts.start(started("v1"))
    registry.clear()
    assert shown(registry) is None
    counts.finish(("llm", "v1"))
    assert shown(registry) == 2.0
    registry.clear()
    counts.start(started("v1"))
    assert shown(registry) == 3.0


def test_idle_versions_are_dropped_at_the_bound_then_new_ones_are_not_counted() -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0))
    counts = counts_for(registry, limit=3)
    for version in ("a", "b", "c"):
        counts.start(started(version))
    counts.finish(("llm", "a"))
    counts.start(started("d"))  # "a" was idle: dropped to make room
    assert len(counts) == 3
    counts.start(started("e"))  # none idle: not counted
    assert [counts.count(("llm", v)) for v in "abcde"] == [0, 1, 1, 1, 0]
    assert len(counts) == 3


def test_versions_dropped_while_other_threads_step_lose_no_request() -> None:
    # More versions than the bound: idle ones are dropped all the time. Each thread has
    # at most two requests open (and all one of "held"), so there is always room.
    registry = AggregatingRegistry(clock=ManualClock(T0))
    counts = counts_for(registry, limit=2 * THREADS + 8)
    counts.start(started("held"))
    inside = threading.Barrier(THREADS + 1)
    leave = threading.Barrier(THREADS + 1)

    uncounted: list[tuple[str, str]] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        counts.start(started("held"))
        for _ in range(1_000):
            version = ("llm", f"v{rng.randrange(VERSIONS)}")
            counts.start(started(version[1]))
            other = ("llm", f"v{rng.randrange(VERSIONS)}")
            counts.start(started(other[1]))
            counts.finish(other)
            if counts.count(version) < 1:  # its own request is open: it must be counted
                uncounted.append(version)
            counts.finish(version)
        inside.wait(timeout=30)
        leave.wait(timeout=30)
        counts.finish(("llm", "held"))

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: into the gaps between steps
    try:
        for thread in pool:
            thread.start()
        inside.wait(timeout=30)
    finally:
        sys.setswitchinterval(interval)
    assert uncounted == []
    assert counts.count(("llm", "held")) == THREADS + 1
    assert shown(registry, "held") == float(THREADS + 1)
    assert all(counts.count(("llm", f"v{k}")) == 0 for k in range(VERSIONS))
    leave.wait(timeout=30)
    for thread in pool:
        thread.join(timeout=30)
    assert counts.count(("llm", "held")) == 1
    assert shown(registry, "held") == 1.0


def test_counting_before_bind_raises() -> None:
    with pytest.raises(RuntimeError, match=r"not bound: pass it to Metrics\.collect"):
        InFlightCounts().start(started("v1"))


STEPS = st.lists(
    st.tuples(st.booleans(), st.sampled_from(["a", "b", "c", "d", "e"]), st.booleans()),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(steps=STEPS, raw=st.booleans())
def test_counts_and_gauges_follow_the_clamped_count_of_each_version(
    steps: list[tuple[bool, str, bool]], raw: bool
) -> None:
    # The model: each version's count moves by one per step, never below 0; a finish of a
    # version never started is ignored; past 3 versions, idle ones make room, else none.
    clock = ManualClock(T0)
    registry: Registry = RawRegistry(clock=clock) if raw else AggregatingRegistry(clock=clock)
    counts = counts_for(registry, limit=3)
    model: dict[str, int] = {}
    for is_start, version, clear in steps:
        if clear:
            registry.clear()
        if is_start:
            if version not in model and len(model) >= 3:
                for idle in [v for v, n in model.items() if n == 0]:
                    del model[idle]
            if version in model or len(model) < 3:
                model[version] = model.get(version, 0) + 1
            counts.start(started(version))
        else:
            if version in model:
                model[version] = max(0, model[version] - 1)
            counts.finish(("llm", version))
        # The version just stepped shows its count (unless it was never counted).
        expected = {model[version]} if version in model else {None, 0.0}
        assert shown(registry, version) in expected
    assert {v: counts.count(("llm", v)) for v in model} == model
    assert len(counts) == len(model)
