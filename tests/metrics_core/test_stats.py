from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import attrs
import pytest
import scipy.stats as scipy_stats

from metrics_core import stats
from metrics_core.stats import (
    TestResult,
    Verdict,
    decide,
    mann_whitney_binned,
    normal_sf,
    two_proportion_z,
)


def bucket_index(value: float) -> int:
    """Scale-6 base-2 exponential bucket of a positive value."""
    return math.ceil(math.log2(value) * 64) - 1


def bucketed(values: Iterable[float]) -> tuple[dict[int, int], int]:
    """Histogram of latencies as (buckets, zero_count)."""
    values = list(values)
    zeros = sum(1 for v in values if v == 0)
    return dict(Counter(bucket_index(v) for v in values if v > 0)), zeros


def lognormal(rng: random.Random, n: int, scale: float = 1.0) -> list[float]:
    return [scale * rng.lognormvariate(3.0, 0.5) for _ in range(n)]


def result(p_value: float, effect: float, n: int = 1000) -> TestResult:
    return TestResult(statistic=0.0, p_value=p_value, effect=effect, n_baseline=n, n_candidate=n)


# --- public API ---------------------------------------------------------------------------


def test_all_names_import_and_are_documented() -> None:
    assert stats.__all__ == sorted(stats.__all__)
    for name in stats.__all__:
        assert getattr(stats, name).__doc__, name


# --- normal_sf ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("z", "expected"),
    [
        (0.0, 0.5),
        (1.959963984540054, 0.025),
        (-1.959963984540054, 0.975),
        (8.0, 6.22096057427178e-16),
    ],
)
def test_normal_sf(z: float, expected: float) -> None:
    assert normal_sf(z) == pytest.approx(expected, rel=1e-12)


# --- Mann-Whitney -------------------------------------------------------------------------


def test_mann_whitney_small_case_by_hand() -> None:
    # candidate 2 ties baseline 2 and beats baseline 1 (1.5); candidate 3 beats both (2).
    res = mann_whitney_binned({1: 1, 2: 1}, {2: 1, 3: 1})
    assert res.effect == 3.5 / 4
    assert (res.n_baseline, res.n_candidate) == (2, 2)
    # ties: bucket 2 holds t=2 -> sum(t^3 - t) = 6; n = 4
    sigma = math.sqrt(2 * 2 / 12 * (5 - 6 / (4 * 3)))
    z = (3.5 - 2) / sigma
    assert res.statistic == pytest.approx(z, rel=1e-12)
    assert res.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)


def test_mann_whitney_zeros_rank_below_every_bucket() -> None:
    # All candidate values are zero, baseline values are in the lowest possible buckets.
    res = mann_whitney_binned({-10_000: 5}, {}, baseline_zeros=0, candidate_zeros=5)
    assert res.effect == 0.0
    assert res.statistic < 0
    res = mann_whitney_binned({}, {-10_000: 5}, baseline_zeros=5)
    assert res.effect == 1.0


def _assert_matches_scipy(base_values: list[int], cand_values: list[int]) -> None:
    """Integer values: 0 goes to zero_count, v > 0 to bucket v."""
    base = Counter(v for v in base_values if v > 0)
    cand = Counter(v for v in cand_values if v > 0)
    res = mann_whitney_binned(base, cand, base_values.count(0), cand_values.count(0))
    ref = scipy_stats.mannwhitneyu(
        cand_values,
        base_values,
        alternative="two-sided",
        method="asymptotic",
        use_continuity=False,
    )
    pairs = len(base_values) * len(cand_values)
    # scipy's U (for its first argument, the candidate) is a half-integer stored exactly,
    # so equal effects mean equal U.
    assert res.effect == float(ref.statistic) / pairs
    assert res.p_value == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-15)
    assert (res.n_baseline, res.n_candidate) == (len(base_values), len(cand_values))


def test_mann_whitney_matches_scipy_with_one_bucket_per_value() -> None:
    rng = random.Random(7)
    values = rng.sample(range(1, 100_000), 700)
    base, cand = values[:300], [v + 2_000 for v in values[300:]]
    assert len(set(base) | set(cand)) > 600
    _assert_matches_scipy(base, cand)


def test_mann_whitney_matches_scipy_with_heavy_ties_and_zeros() -> None:
    rng = random.Random(11)
    base = [rng.choice([0, 0, 1, 2, 2, 3, 5]) for _ in range(400)]
    cand = [rng.choice([0, 1, 2, 3, 3, 5, 5]) for _ in range(350)]
    _assert_matches_scipy(base, cand)


def test_mann_whitney_matches_scipy_on_bucketed_latencies() -> None:
    rng = random.Random(3)
    base_lat = lognormal(rng, 1500)
    cand_lat = lognormal(rng, 1200, scale=1.03)
    (base, _), (cand, _) = bucketed(base_lat), bucketed(cand_lat)
    res = mann_whitney_binned(base, cand)
    # scipy sees the bucket indices, so values sharing a bucket tie for it too.
    ref = scipy_stats.mannwhitneyu(
        [bucket_index(v) for v in cand_lat],
        [bucket_index(v) for v in base_lat],
        alternative="two-sided",
        method="asymptotic",
        use_continuity=False,
    )
    assert res.effect == float(ref.statistic) / (1500 * 1200)
    assert res.p_value == pytest.approx(float(ref.pvalue), rel=1e-9)


def test_identical_distributions_show_no_difference() -> None:
    rng = random.Random(5)
    buckets, zeros = bucketed(lognormal(rng, 2000) + [0.0] * 10)
    res = mann_whitney_binned(buckets, buckets, zeros, zeros)
    assert res == TestResult(
        statistic=0.0, p_value=1.0, effect=0.5, n_baseline=2010, n_candidate=2010
    )


def test_slower_candidate_is_detected_and_reversal_flips_the_effect() -> None:
    rng = random.Random(42)
    base, _ = bucketed(lognormal(rng, 2000))
    cand, _ = bucketed(lognormal(rng, 2000, scale=1.2))
    slower = mann_whitney_binned(base, cand)
    assert slower.p_value < 1e-6
    assert slower.effect > 0.5
    assert slower.statistic > 0
    faster = mann_whitney_binned(cand, base)
    assert faster.p_value == pytest.approx(slower.p_value, rel=1e-12)
    assert faster.effect == pytest.approx(1 - slower.effect, abs=1e-15)
    assert faster.effect < 0.5
    assert faster.statistic == pytest.approx(-slower.statistic, rel=1e-12)


def test_cost_depends_on_buckets_not_counts() -> None:
    # 5,000 sparse buckets a side holding 10^12 samples: expanding counts would never end.
    base = {i * 3: 10**8 for i in range(-2_500, 2_500)}
    cand = {i * 3 + 20_000: 10**8 for i in range(5_000)}
    res = mann_whitney_binned(base, cand)
    assert res.effect == 1.0
    assert res.p_value == 0.0
    assert res.n_baseline == res.n_candidate == 5_000 * 10**8


@pytest.mark.parametrize(
    ("base", "cand", "base_zeros", "cand_zeros"),
    [
        ({}, {}, 0, 0),
        ({}, {3: 10}, 0, 0),
        ({3: 10}, {}, 0, 0),
        ({3: 0}, {3: 4}, 0, 0),
        ({3: 7}, {3: 4}, 0, 0),  # every value ties: sigma == 0
        ({}, {}, 6, 2),  # only zeros: sigma == 0
    ],
)
def test_mann_whitney_degenerate_cases(
    base: dict[int, int], cand: dict[int, int], base_zeros: int, cand_zeros: int
) -> None:
    res = mann_whitney_binned(base, cand, base_zeros, cand_zeros)
    assert (res.statistic, res.p_value, res.effect) == (0.0, 1.0, 0.5)
    assert res.n_baseline == sum(base.values()) + base_zeros
    assert res.n_candidate == sum(cand.values()) + cand_zeros


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"baseline": {4: -1}}, "'baseline[4]' must be >= 0: -1"),
        ({"candidate": {4: 1.5}}, "'candidate[4]' must be an int: 1.5"),
        ({"baseline_zeros": -2}, "'baseline_zeros' must be >= 0: -2"),
        ({"candidate_zeros": True}, "'candidate_zeros' must be an int: True"),
    ],
)
def test_mann_whitney_rejects_bad_counts(kwargs: dict[str, Any], message: str) -> None:
    args = {"baseline": {1: 1}, "candidate": {2: 1}, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        mann_whitney_binned(**args)


# --- two-proportion z ---------------------------------------------------------------------


def test_two_proportion_hand_computed() -> None:
    res = two_proportion_z(10, 1000, 30, 1000)
    pooled = 40 / 2000
    z = (0.03 - 0.01) / math.sqrt(pooled * (1 - pooled) * (1 / 1000 + 1 / 1000))
    assert res.statistic == pytest.approx(z, abs=1e-12)
    assert res.statistic == pytest.approx(3.1943828249996997, abs=1e-12)
    assert res.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), abs=1e-12)
    assert res.effect == pytest.approx(0.02, abs=1e-15)
    assert (res.n_baseline, res.n_candidate) == (1000, 1000)


def test_two_proportion_z_squared_is_the_uncorrected_chi_square() -> None:
    res = two_proportion_z(37, 4100, 12, 900)
    chi2, p, _, _ = scipy_stats.chi2_contingency(
        [[37, 4100 - 37], [12, 900 - 12]], correction=False
    )
    assert res.statistic**2 == pytest.approx(chi2, rel=1e-10)
    assert res.p_value == pytest.approx(p, rel=1e-9)
    assert res.statistic > 0


def test_two_proportion_sign_follows_the_candidate() -> None:
    worse = two_proportion_z(10, 1000, 30, 1000)
    better = two_proportion_z(30, 1000, 10, 1000)
    assert better.statistic == pytest.approx(-worse.statistic, rel=1e-12)
    assert better.effect == pytest.approx(-0.02, abs=1e-15)
    assert better.p_value == worse.p_value


@pytest.mark.parametrize(
    ("args", "effect"),
    [
        ((0, 0, 3, 10), 0.0),  # no baseline requests: the rate difference is undefined
        ((3, 10, 0, 0), 0.0),
        ((0, 50, 0, 70), 0.0),  # pooled rate 0
        ((50, 50, 70, 70), 0.0),  # pooled rate 1
    ],
)
def test_two_proportion_degenerate_cases(args: tuple[int, int, int, int], effect: float) -> None:
    assert two_proportion_z(*args) == TestResult(
        statistic=0.0, p_value=1.0, effect=effect, n_baseline=args[1], n_candidate=args[3]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 10, 0, 10), "'baseline_errors' must be >= 0: -1"),
        ((0, -10, 0, 10), "'baseline_total' must be >= 0: -10"),
        ((0, 10, -3, 10), "'candidate_errors' must be >= 0: -3"),
        ((0, 10, 0, -4), "'candidate_total' must be >= 0: -4"),
        ((11, 10, 0, 10), "'baseline_errors' must be <= 'baseline_total': 11 > 10"),
        ((0, 10, 7, 5), "'candidate_errors' must be <= 'candidate_total': 7 > 5"),
        ((0, 10.0, 0, 10), "'baseline_total' must be an int: 10.0"),
    ],
)
def test_two_proportion_validates_arguments(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        two_proportion_z(*args)


# --- TestResult ---------------------------------------------------------------------------


def test_test_result_is_frozen_and_validated() -> None:
    res = result(0.5, 0.5)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        res.p_value = 0.1  # type: ignore[misc]
    with pytest.raises(ValueError, match=re.escape("'p_value' must be within [0, 1]: 1.5")):
        result(1.5, 0.5)
    with pytest.raises(ValueError, match=re.escape("'n_baseline' must be >= 0: -1")):
        result(0.5, 0.5, n=-1)
    with pytest.raises(ValueError, match=re.escape("'effect' must be finite: nan")):
        TestResult(statistic=0.0, p_value=1.0, effect=math.nan, n_baseline=1, n_candidate=1)


# --- decide -------------------------------------------------------------------------------

NULL_LATENCY = result(1.0, 0.5)
NULL_ERRORS = result(1.0, 0.0)


@pytest.mark.parametrize(
    ("latency", "errors", "expected"),
    [
        (result(1e-4, 0.6), NULL_ERRORS, Verdict.WORSE),
        (NULL_LATENCY, result(1e-4, 0.01), Verdict.WORSE),
        (result(1e-4, 0.4), result(1e-4, 0.01), Verdict.WORSE),  # against wins over for
        (result(1e-4, 0.6), result(1e-4, -0.01), Verdict.WORSE),
        (result(1e-4, 0.4), NULL_ERRORS, Verdict.BETTER),
        (NULL_LATENCY, result(1e-4, -0.01), Verdict.BETTER),
        (result(1e-4, 0.4), result(1e-4, -0.01), Verdict.BETTER),
        (result(0.3, 0.6), result(0.3, 0.01), Verdict.NO_DIFFERENCE),
        (NULL_LATENCY, NULL_ERRORS, Verdict.NO_DIFFERENCE),
    ],
)
def test_decide_verdicts(latency: TestResult, errors: TestResult, expected: Verdict) -> None:
    assert decide(latency, errors) is expected


@pytest.mark.parametrize(
    ("p_value", "alpha", "expected"),
    [
        (0.04, 0.05, Verdict.NO_DIFFERENCE),  # significant alone, not after Bonferroni
        (0.025, 0.05, Verdict.NO_DIFFERENCE),  # the threshold itself is not significant
        (0.0249, 0.05, Verdict.WORSE),
        (0.04, 0.1, Verdict.WORSE),
    ],
)
@pytest.mark.parametrize("which", ["latency", "errors"])
def test_decide_applies_bonferroni(
    p_value: float, alpha: float, expected: Verdict, which: str
) -> None:
    if which == "latency":
        latency, errors = result(p_value, 0.6), NULL_ERRORS
    else:
        latency, errors = NULL_LATENCY, result(p_value, 0.01)
    assert decide(latency, errors, alpha=alpha) is expected


@pytest.mark.parametrize(
    ("n_baseline", "n_candidate", "min_samples", "expected"),
    [
        (29, 1000, 30, Verdict.INSUFFICIENT_DATA),
        (1000, 29, 30, Verdict.INSUFFICIENT_DATA),
        (30, 30, 30, Verdict.WORSE),
        (99, 1000, 100, Verdict.INSUFFICIENT_DATA),
    ],
)
def test_decide_requires_min_samples_from_the_error_test(
    n_baseline: int, n_candidate: int, min_samples: int, expected: Verdict
) -> None:
    # The latency test's own counts are ignored: it may see only successful requests.
    latency = TestResult(statistic=9.0, p_value=1e-9, effect=0.9, n_baseline=5, n_candidate=5)
    errors = TestResult(
        statistic=0.0, p_value=1.0, effect=0.0, n_baseline=n_baseline, n_candidate=n_candidate
    )
    assert decide(latency, errors, min_samples=min_samples) is expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "'alpha' must be within (0, 1): 0.0"),
        ({"alpha": 1.0}, "'alpha' must be within (0, 1): 1.0"),
        ({"min_samples": -1}, "'min_samples' must be >= 0: -1"),
    ],
)
def test_decide_validates_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        decide(NULL_LATENCY, NULL_ERRORS, **kwargs)


def test_decide_end_to_end_on_a_slow_canary() -> None:
    rng = random.Random(1)
    base, base_zeros = bucketed(lognormal(rng, 2000))
    cand, cand_zeros = bucketed(lognormal(rng, 2000, scale=1.2))
    latency = mann_whitney_binned(base, cand, base_zeros, cand_zeros)
    errors = two_proportion_z(20, 2000, 22, 2000)
    assert errors.p_value > 0.5
    assert decide(latency, errors) is Verdict.WORSE
    assert decide(mann_whitney_binned(cand, base), errors) is Verdict.BETTER


def test_verdict_values() -> None:
    assert [v.value for v in Verdict] == [
        "better",
        "worse",
        "no_difference",
        "insufficient_data",
    ]
    assert Verdict("worse") is Verdict.WORSE
