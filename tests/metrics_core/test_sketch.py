from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from metrics_core.clock import ManualClock
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.sketch import (
    EMPTY,
    SCALE,
    BucketData,
    bucket_index,
    bucket_lower,
    bucket_upper,
    dense,
    merge_all,
    quantiles,
)
from metrics_core.snapshot import DistributionSeries

FloatArray = npt.NDArray[np.float64]

BUCKET_RATIO = 2.0 ** (1.0 / 64)
"""Upper over lower bound of every bucket: the worst relative error of a quantile."""


def dyadic(values: FloatArray) -> list[float]:
    """Round to multiples of 1/1024 so that every sum of them is exact in a double."""
    return (np.round(values * 1024.0) / 1024.0).tolist()  # type: ignore[no-any-return]


# -- bucket layout ---------------------------------------------------------------------


def test_scale() -> None:
    assert SCALE == 6
    assert bucket_upper(0) / bucket_lower(0) == pytest.approx(BUCKET_RATIO, rel=1e-15)


def test_exact_powers_of_two_are_upper_inclusive() -> None:
    assert bucket_index(1.0) == -1
    assert bucket_index(2.0) == 63
    assert bucket_index(4.0) == 127
    assert bucket_index(0.5) == -65
    assert bucket_index(math.nextafter(1.0, 2.0)) == 0
    assert bucket_index(math.nextafter(2.0, 3.0)) == 64
    assert bucket_index(math.nextafter(2.0, 1.0)) == 63
    for exponent in range(-40, 41):
        power = 2.0**exponent
        assert bucket_index(power) == 64 * exponent - 1
        assert bucket_index(power * (1.0 + 1e-9)) == 64 * exponent
        assert bucket_index(math.nextafter(power, 0.0)) == 64 * exponent - 1
        assert bucket_upper(64 * exponent - 1) == power
        assert bucket_lower(64 * exponent) == power


def test_bucket_bounds_are_contiguous() -> None:
    for index in range(-300, 300):
        assert bucket_upper(index) == bucket_lower(index + 1)
        assert bucket_lower(index) < bucket_upper(index)


def test_random_values_fall_inside_their_bucket() -> None:
    rng = np.random.default_rng(7)
    values = np.exp(rng.uniform(-30.0, 30.0, 20_000)).tolist()
    for value in values:
        index = bucket_index(value)
        assert bucket_lower(index) < value <= bucket_upper(index)


# -- BucketData -----------------------------------------------------------------------


def test_empty() -> None:
    assert BucketData() == EMPTY
    assert EMPTY.count == 0
    assert math.isnan(EMPTY.mean)
    assert math.isnan(EMPTY.quantile(0.5))
    assert all(math.isnan(q) for q in quantiles(EMPTY, (0.0, 0.5, 1.0)))
    assert EMPTY.positive_buckets() == {}
    assert EMPTY.negative_buckets() == {}


def test_from_sparse_and_dense() -> None:
    data = BucketData.from_sparse(6, 10.0, 0.0, 4.0, 1, {63: 2, 127: 1, 66: 2}, {-1: 0})
    assert data.positive_buckets() == {63: 2, 66: 2, 127: 1}
    assert data.negative_buckets() == {}
    offset, counts = data.positive
    assert offset == 63
    assert len(counts) == 127 - 63 + 1
    assert dense({}) == (0, ())
    offset, counts = dense({5: 3, 7: 1})
    assert (offset, list(counts)) == (5, [3, 0, 1])
    assert data.mean == 10.0 / 6


def test_dense_widens_the_array_for_large_counts() -> None:
    offset, counts = dense({0: 1 << 20, 2: 1})
    assert offset == 0
    assert list(counts) == [1 << 20, 0, 1]
    offset, counts = dense({0: 1 << 40})
    assert list(counts) == [1 << 40]


def test_quantiles_validate_q() -> None:
    data = BucketData.of([1.0, 2.0])
    for bad in (-0.01, 1.01, math.nan):
        with pytest.raises(ValueError, match="'q' must be within"):
            quantiles(data, (bad,))
    with pytest.raises(ValueError, match="'q' must be within"):
        data.quantile(2)


def test_single_value_is_exact() -> None:
    data = BucketData.of([5.0])
    assert quantiles(data, (0.0, 0.5, 0.99, 1.0)) == [5.0, 5.0, 5.0, 5.0]


def test_identical_values_are_exact() -> None:
    data = BucketData.of([3.7] * 1000)
    assert quantiles(data, (0.0, 0.01, 0.5, 0.99, 1.0)) == [3.7] * 5
    assert data.total == math.fsum([3.7] * 1000)


def test_quantile_and_quantiles_agree() -> None:
    data = BucketData.of([float(v) for v in range(1, 101)])
    qs = [0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 1.0]
    assert quantiles(data, qs) == [data.quantile(q) for q in qs]
    assert quantiles(data, iter(qs)) == quantiles(data, qs)


def test_negative_values_and_zeros_are_ordered() -> None:
    values = [-8.0, -2.0, -1.0, 0.0, 0.0, 0.0, 1.0, 4.0]
    data = BucketData.of(values)
    assert data.zeros == 3
    assert data.negative_buckets() == {bucket_index(8.0): 1, bucket_index(2.0): 1, -1: 1}
    assert data.positive_buckets() == {-1: 1, bucket_index(4.0): 1}
    ranks = [k / (len(values) - 1) for k in range(len(values))]
    estimates = quantiles(data, ranks)
    # Each order statistic comes back in order, within one bucket of the truth.
    assert estimates == sorted(estimates)
    for estimate, truth in zip(estimates, values, strict=True):
        if truth == 0.0:
            assert estimate == 0.0
        else:
            assert math.copysign(1.0, estimate) == math.copysign(1.0, truth)
            assert abs(estimate / truth - 1.0) < BUCKET_RATIO - 1.0
    assert data.minimum == -8.0
    assert data.maximum == 4.0
    assert data.total == -6.0


def test_all_negative_values() -> None:
    rng = np.random.default_rng(3)
    values = (-rng.lognormal(3.0, 1.0, 5_000)).tolist()
    data = BucketData.of(values)
    qs = np.linspace(0.0, 1.0, 101)
    estimates = np.array(quantiles(data, qs))
    expected = np.percentile(values, qs * 100)
    assert np.all(np.abs(estimates / expected - 1.0) < BUCKET_RATIO - 1.0)
    assert np.all(np.diff(estimates) >= 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quantiles_are_within_one_bucket_of_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.concatenate(
        [rng.lognormal(0.0, 2.0, 3_000), -rng.lognormal(1.0, 1.0, 1_000), np.zeros(200)]
    ).tolist()
    data = BucketData.of(values)
    qs = np.linspace(0.0, 1.0, 201)
    estimates = quantiles(data, qs)
    expected = np.percentile(values, qs * 100)
    for q, estimate, truth in zip(qs, estimates, expected, strict=True):
        if truth == 0.0:
            assert estimate == 0.0, q
        else:
            assert abs(estimate / truth - 1.0) < BUCKET_RATIO - 1.0, q


def test_quantiles_are_clamped_to_min_and_max() -> None:
    data = BucketData.of([100.0, 100.5])  # both in one bucket
    low, high = quantiles(data, (0.0, 1.0))
    assert 100.0 <= low <= high <= 100.5


# -- merging --------------------------------------------------------------------------


def assert_same(merged: BucketData, expected: BucketData) -> None:
    assert merged.count == expected.count
    assert merged.total == expected.total
    assert merged.minimum == expected.minimum
    assert merged.maximum == expected.maximum
    assert merged.zeros == expected.zeros
    assert merged.positive_buckets() == expected.positive_buckets()
    assert merged.negative_buckets() == expected.negative_buckets()
    assert merged == expected


def test_merge_equals_summary_of_the_union() -> None:
    rng = np.random.default_rng(11)
    first = dyadic(rng.normal(0.0, 50.0, 4_000))
    second = dyadic(rng.lognormal(5.0, 1.0, 3_000)) + [0.0] * 7
    merged = merge_all([BucketData.of(first), BucketData.of(second)])
    union = BucketData.of(first + second)
    assert_same(merged, union)
    assert_same(BucketData.of(first).merge(BucketData.of(second)), union)
    qs = (0.01, 0.5, 0.95, 0.99)
    assert quantiles(merged, qs) == quantiles(union, qs)


def test_merge_of_disjoint_bucket_ranges() -> None:
    low = [0.001, 0.002, -0.003]
    high = [1e6, 2e6, -5e5]
    middle = [1.0, 0.0]
    parts = [BucketData.of(low), BucketData.of(high), BucketData.of(middle)]
    assert_same(merge_all(parts), BucketData.of(low + high + middle))
    assert_same(merge_all(reversed(parts)), BucketData.of(low + high + middle))


def test_merge_is_associative() -> None:
    a, b, c = BucketData.of([1.0, 2.0]), BucketData.of([3.0, -1.0]), BucketData.of([0.0, 8.0])
    assert merge_all([merge_all([a, b]), c]) == merge_all([a, merge_all([b, c])])
    assert merge_all([a, b, c]) == BucketData.of([1.0, 2.0, 3.0, -1.0, 0.0, 8.0])


def test_merge_skips_empty_parts() -> None:
    data = BucketData.of([1.0, 2.0])
    assert merge_all([]) is EMPTY
    assert merge_all([EMPTY, EMPTY]) is EMPTY
    assert merge_all([EMPTY, data, EMPTY]) is data
    assert data.merge(EMPTY) is data
    assert EMPTY.merge(data) is data


def test_merge_does_not_mutate_its_parts() -> None:
    first, second = BucketData.of([1.0, 2.0]), BucketData.of([2.0, 4.0])
    before = (first.positive_buckets(), second.positive_buckets())
    merge_all([first, second])
    assert (first.positive_buckets(), second.positive_buckets()) == before


def test_merged_counts_may_outgrow_16_bits() -> None:
    part = BucketData.from_sparse(60_000, 60_000.0, 1.0, 1.0, 0, {-1: 60_000})
    merged = merge_all([part, part, part])
    assert merged.count == 180_000
    assert merged.positive_buckets() == {-1: 180_000}
    assert merged.quantile(0.5) == 1.0


# -- accuracy through the registry, over sliding windows (the headline requirement) -----

SECONDS = 600
PER_SECOND = 100


def lognormal(rng: np.random.Generator, n: int) -> FloatArray:
    return rng.lognormal(mean=math.log(80.0), sigma=0.5, size=n)


def bimodal(rng: np.random.Generator, n: int) -> FloatArray:
    fast = rng.normal(20.0, 3.0, n)
    slow = rng.normal(400.0, 40.0, n)
    return np.clip(np.where(rng.random(n) < 0.7, fast, slow), 0.5, None)


def pareto(rng: np.random.Generator, n: int) -> FloatArray:
    return (rng.pareto(1.5, n) + 1.0) * 10.0


@pytest.mark.parametrize(
    ("generate", "seed"),
    [(lognormal, 101), (bimodal, 202), (pareto, 303)],
    ids=["lognormal", "bimodal", "pareto"],
)
def test_windowed_quantiles_are_within_one_percent_of_numpy(
    clock: ManualClock,
    registry: AggregatingRegistry,
    generate: Callable[[np.random.Generator, int], FloatArray],
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    samples = dyadic(generate(rng, SECONDS * PER_SECOND))
    tags = {"model_name": "bert", "version": "v2"}
    start = clock()
    assert start % 60 == 20  # whole second, multiple of 10: 1-s and 10-s slots align
    # PER_SECOND samples at each whole second start, start + 1, ..., start + SECONDS - 1.
    stamps = []
    for second in range(SECONDS):
        clock.set(start + second)
        for value in samples[second * PER_SECOND : (second + 1) * PER_SECOND]:
            registry.timer("model_inference_latency", tags, value)
            stamps.append(start + second)
    now = start + SECONDS  # a whole second, no sample at it; multiple of 10 too
    clock.set(now)
    series = registry.snapshot().find("model_inference_latency", {"version": "v2"})[0]
    assert isinstance(series, DistributionSeries)
    assert series.count == len(samples)
    assert series.total == math.fsum(samples)

    stamp_array = np.array(stamps)
    value_array = np.array(samples)
    for window in (60, 300):
        inside = value_array[stamp_array >= now - window]
        summary = series.window_summary(window, now)
        # The window holds exactly the samples stamped at or after now - window.
        assert summary.count == len(inside) == window * PER_SECOND < len(samples)
        assert summary.total == math.fsum(inside.tolist())
        assert summary.minimum == inside.min()
        assert summary.maximum == inside.max()
        assert summary.window_start == now - window
        assert summary.window_end == now
        p50, p95, p99 = summary.quantiles(0.5, 0.95, 0.99)
        e50, e95, e99 = np.percentile(inside, [50, 95, 99])
        assert abs(p50 / e50 - 1.0) < 0.01, (window, p50, e50)
        assert abs(p95 / e95 - 1.0) < 0.01, (window, p95, e95)
        assert abs(p99 / e99 - 1.0) < 0.01, (window, p99, e99)
        assert summary.mean == summary.total / summary.count


def test_window_excludes_older_samples_at_the_boundary(
    clock: ManualClock, registry: AggregatingRegistry
) -> None:
    start = clock()
    # A large value 61 s before now must not count in the 60-s window; one exactly 60 s
    # before now must (its slot starts at now - 60).
    clock.set(start)
    registry.timer("t", {}, 10_000.0)
    clock.set(start + 1)
    registry.timer("t", {}, 5.0)
    clock.set(start + 30)
    registry.timer("t", {}, 7.0)
    now = start + 61
    clock.set(now)
    summary = registry.snapshot().distributions()[0].window_summary(60, now)
    assert summary.count == 2
    assert summary.total == 12.0
    assert (summary.minimum, summary.maximum) == (5.0, 7.0)
    low, high = summary.quantiles(0.0, 1.0)
    assert low == pytest.approx(5.0, rel=BUCKET_RATIO - 1.0)
    assert high == pytest.approx(7.0, rel=BUCKET_RATIO - 1.0)
