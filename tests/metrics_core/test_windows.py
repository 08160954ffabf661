from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from metrics_core.clock import ManualClock
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, DistributionSeries
from metrics_core.tags import Tags
from metrics_core.windows import MAX_WINDOW, TIERS, WindowedCounter

B = 1_700_002_800.0
"""A whole hour (a multiple of 3600), so 1-s, 10-s and 60-s slots all align on it."""

assert B % 3600 == 0


def counter_series(registry: AggregatingRegistry, name: str = "c") -> CounterSeries:
    series = registry.snapshot(names=[name]).find(name)[0]
    assert isinstance(series, CounterSeries)
    return series


def timer_series(registry: AggregatingRegistry, name: str = "t") -> DistributionSeries:
    series = registry.snapshot(names=[name]).find(name)[0]
    assert isinstance(series, DistributionSeries)
    return series


def one_per_second(
    clock: ManualClock, registry: AggregatingRegistry, first: int, last: int
) -> None:
    """One increment of ``c`` and one 1-ms ``t`` at each second B+first .. B+last."""
    for second in range(first, last + 1):
        clock.set(B + second)
        registry.counter("c", Tags.empty())
        registry.timer("t", Tags.empty(), 1.0)


def slot_width(window: float) -> int:
    """The slot width the tier rules give a window (finest tier spanning it)."""
    if window <= 60:
        return 1
    if window <= 600:
        return 10
    return 60


def test_tiers() -> None:
    assert TIERS == ((1, 60), (10, 61), (60, 61))
    assert MAX_WINDOW == 3600.0


@pytest.fixture(scope="module")
def two_hours() -> tuple[CounterSeries, DistributionSeries]:
    """One increment and one timing a second at B, B + 1, ..., B + 7199."""
    clock = ManualClock(B)
    registry = AggregatingRegistry(clock=clock)
    one_per_second(clock, registry, 0, 7199)
    return counter_series(registry), timer_series(registry)


@pytest.mark.parametrize(
    ("window", "width", "expected_start"),
    [
        # now = B + 7199.5; the effective start is now - window rounded up to the slot width.
        (1, 1, 7199),
        (59, 1, 7141),
        (60, 1, 7140),  # the longest window of tier 0
        (61, 10, 7140),  # 7138.5 rounded up to 10 s (to 1 s it would be 7139)
        (305, 10, 6900),
        (595, 10, 6610),
        (600, 10, 6600),  # the longest window of tier 1
        (620, 60, 6600),  # 6579.5 rounded up to 60 s (to 10 s it would be 6580)
        (3590, 60, 3660),
        (3600, 60, 3600),  # the longest window of tier 2
    ],
)
def test_windows_choose_the_finest_tier_that_spans_them(
    two_hours: tuple[CounterSeries, DistributionSeries],
    window: int,
    width: int,
    expected_start: int,
) -> None:
    counter, timer = two_hours
    now = B + 7199.5
    assert slot_width(window) == width
    assert counter.window_start(window, now) == B + expected_start
    assert timer.window_summary(window, now).window_start == B + expected_start
    # One increment per second: the window holds the seconds from its effective start.
    assert counter.window_total(window, now) == 7199 - expected_start + 1
    assert timer.window_summary(window, now).count == 7199 - expected_start + 1


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # now on the last recorded second: both the slot at now - W and the open slot at
        # now start within [now - W, now], so a W-second window holds W + 1 seconds.
        (7199.0, {1: 2, 60: 61, 300: 300, 600: 600, 3600: 3600}),
        # now one second later, with nothing recorded at it.
        (7200.0, {1: 1, 60: 60, 300: 300, 600: 600, 3600: 3600}),
        (7199.5, {1: 1, 60: 60, 300: 300, 600: 600, 3600: 3600}),
    ],
)
def test_counter_window_totals_across_tiers_after_two_hours(
    two_hours: tuple[CounterSeries, DistributionSeries], now: float, expected: dict[int, int]
) -> None:
    counter, timer = two_hours
    assert counter.total == 7200
    assert timer.count == 7200
    for window, total in expected.items():
        assert counter.window_total(window, B + now) == total, window
        assert timer.window_summary(window, B + now).count == total, window
    assert counter.window_total(timedelta(minutes=10), B + now) == expected[600]
    assert counter.window_total(timedelta(hours=1), B + now) == expected[3600]


def test_window_start_beyond_the_longest_window_reports_what_is_held(
    two_hours: tuple[CounterSeries, DistributionSeries],
) -> None:
    counter, _ = two_hours
    now = B + 7200
    total = counter.window_total(7200, now)
    start = counter.window_start(7200, now)
    # One increment per second: what the window counts spans now - start seconds.
    assert total == now - start


def test_window_totals_match_a_reference_for_uneven_traffic(
    clock: ManualClock, registry: AggregatingRegistry
) -> None:
    """Several increments a second at fractional times; compare with the tier rules."""
    rng = np.random.default_rng(5)
    stamps: list[float] = []
    amounts: list[int] = []
    checkpoints = {600, 1234, 3599, 3600, 4321, 7199}
    windows = [1, 2, 30, 59, 60, 61, 100, 300, 599, 600, 601, 1800, 3540, 3599, 3600]
    for second in range(7200):
        offsets = np.sort(rng.uniform(0.0, 1.0, int(rng.integers(1, 4))))
        for offset in offsets.tolist():
            clock.set(B + second + offset)
            amount = int(rng.integers(1, 6))
            registry.counter("c", {}, amount)
            registry.timer("t", {}, float(amount))
            stamps.append(B + second + offset)
            amounts.append(amount)
        if second not in checkpoints:
            continue
        now = clock()
        counter = counter_series(registry)
        timer = timer_series(registry)
        stamp_array = np.array(stamps)
        amount_array = np.array(amounts)
        assert counter.total == amount_array.sum()
        for window in windows:
            width = slot_width(window)
            start = math.ceil((now - window) / width) * width
            assert counter.window_start(window, now) == max(start, stamps[0])
            inside = np.floor(stamp_array) >= start
            expected = amount_array[inside]
            assert counter.window_total(window, now) == expected.sum(), (second, window)
            summary = timer.window_summary(window, now)
            assert summary.count == len(expected), (second, window)
            assert summary.total == expected.sum(), (second, window)
            assert summary.window_start == max(start, stamps[0])


def test_effective_start_never_precedes_the_first_record(
    clock: ManualClock, registry: AggregatingRegistry
) -> None:
    clock.set(B + 100.25)
    registry.counter("c", {}, 2)
    clock.set(B + 130.0)
    registry.counter("c", {}, 3)
    counter = counter_series(registry)
    assert counter.window_start(60, B + 130.0) == B + 100.25
    assert counter.window_start(3600, B + 130.0) == B + 100.25
    assert counter.window_total(3600, B + 130.0) == 5
    assert counter.window_start(10, B + 130.0) == B + 120.0
    assert counter.window_total(10, B + 130.0) == 3


def test_old_data_rolls_off_and_rings_stay_bounded(
    clock: ManualClock, registry: AggregatingRegistry
) -> None:
    for second in range(3 * 3600):
        clock.set(B + second)
        registry.counter("c", {})
        registry.timer("t", {}, float(second % 100))
        if second % 97 == 0 or second == 3 * 3600 - 1:
            for series in (counter_series(registry), timer_series(registry)):
                for ring, (_, kept) in zip(series.window.closed, TIERS, strict=True):
                    assert len(ring) <= kept
    now = B + 3 * 3600
    clock.set(now)
    counter = counter_series(registry)
    timer = timer_series(registry)
    assert [len(ring) for ring in counter.window.closed] == [kept for _, kept in TIERS]
    assert [len(ring) for ring in timer.window.closed] == [kept for _, kept in TIERS]
    # Nothing older than the hour (and its two partial blocks) is held.
    oldest = min(begin for ring in counter.window.closed for begin, _ in ring)
    assert oldest >= now - MAX_WINDOW - 2 * 60
    assert counter.total == 3 * 3600
    assert counter.window_total(3600, now) == 3600
    assert timer.count == 3 * 3600
    assert timer.window_summary(3600, now).count == 3600
    assert timer.window_summary(60, now).count == 60


def test_an_idle_open_slot_does_not_precede_the_reported_start(
    clock: ManualClock, registry: AggregatingRegistry
) -> None:
    one_per_second(clock, registry, 0, 6907)  # then idle: the open slot stays at 6907
    now = B + 7205.5
    counter = counter_series(registry)
    start = counter.window_start(300, now)  # 6905.5 rounded up to 10 s: 6910
    assert counter.window_total(300, now) == sum(1 for s in range(6908) if B + s >= start)


def test_a_gap_longer_than_an_hour(clock: ManualClock, registry: AggregatingRegistry) -> None:
    one_per_second(clock, registry, 0, 99)
    one_per_second(clock, registry, 8000, 8009)
    now = B + 8010
    counter = counter_series(registry)
    assert counter.total == 110
    assert counter.window_total(60, now) == 10
    assert counter.window_total(3600, now) == 10
    assert counter.window_total(5, now) == 5
    assert timer_series(registry).window_summary(600, now).count == 10


def test_a_clock_stepping_backwards_records_into_the_current_slot(
    clock: ManualClock, registry: AggregatingRegistry
) -> None:
    clock.set(B + 100.0)
    registry.counter("c", {}, 1)
    registry.timer("t", {}, 10.0)
    clock.set(B + 50.0)  # one step back
    registry.counter("c", {}, 2)
    registry.timer("t", {}, 20.0)
    clock.set(B - 7200.0)  # two hours back
    registry.counter("c", {}, 4)
    registry.timer("t", {}, 40.0)
    counter = counter_series(registry)
    timer = timer_series(registry)
    assert counter.total == 7
    assert timer.count == 3
    assert timer.total == 70.0
    assert counter.window.current == (B + 100.0, 7.0)
    assert counter.window_total(60, B + 100.0) == 7
    summary = timer.window_summary(60, B + 100.0)
    assert (summary.count, summary.minimum, summary.maximum) == (3, 10.0, 40.0)

    clock.set(B + 101.0)  # forward again: the slot at 100 closes with everything
    registry.counter("c", {}, 8)
    registry.timer("t", {}, 80.0)
    counter = counter_series(registry)
    assert counter.total == 15
    assert counter.window.closed[0] == ((B + 100.0, 7.0),)
    assert counter.window_total(60, B + 101.0) == 15
    assert counter.window_total(1, B + 101.0) == 15  # the slot at 100 starts at now - 1
    assert counter.window_total(0.5, B + 101.0) == 8
    assert timer_series(registry).window_summary(60, B + 101.0).count == 4
    assert registry.snapshot().taken_at == B + 101.0


@pytest.mark.parametrize("window", [0, -1, math.inf, math.nan, "sixty", True])
def test_invalid_windows_raise(
    clock: ManualClock, registry: AggregatingRegistry, window: object
) -> None:
    one_per_second(clock, registry, 0, 1)
    with pytest.raises(ValueError, match="'window'"):
        counter_series(registry).window_total(window, B + 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'window'"):
        timer_series(registry).window_summary(window, B + 1)  # type: ignore[arg-type]


def test_window_view_rejects_a_non_positive_window() -> None:
    counter = WindowedCounter(B)
    counter.add(1.0, B)
    with pytest.raises(ValueError, match="'window' must be > 0 seconds: 0"):
        counter.view().parts(0, B)


def test_windowed_counter_directly() -> None:
    counter = WindowedCounter(B + 0.5)
    assert counter.first_seen == B + 0.5
    counter.add(2.0, B + 0.5)
    counter.add(3.0, B + 1.2)  # rotates: the slot at B closes
    counter.rotate(B + 2.0)  # rotating again closes the slot at B + 1
    counter.rotate(B + 3.0)  # an empty open slot closes nothing
    assert counter.total == 5.0
    view = counter.view()
    assert view.closed[0] == ((B, 2.0), (B + 1.0, 3.0))
    # The 10-s block in progress lists its closed slots; the 60-s block has no ended 10-s block yet.
    assert view.pending == ((B, (2.0, 3.0)), None)
    assert view.current == (B + 3.0, 0.0)
    assert view.parts(60, B + 3.0) == ([2.0, 3.0, 0.0], B + 0.5)
    assert view.parts(2, B + 3.0) == ([3.0, 0.0], B + 1.0)
