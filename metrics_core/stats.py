"""Significance tests behind canary comparisons, as pure functions.

Latencies arrive as exponential histograms (OpenTelemetry's base-2 scheme at scale 6:
bucket ``i`` covers ``(2**(i/64), 2**((i+1)/64)]``) plus a count of exact zeros, never as
raw samples. :func:`mann_whitney_binned` therefore treats every bucket as one tied value
and computes the Mann-Whitney U test exactly from the counts; :func:`two_proportion_z`
compares error rates; :func:`decide` turns the two results into a :class:`Verdict`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping

import attrs

from metrics_core._validation import check_finite

__all__ = [
    "TestResult",
    "Verdict",
    "decide",
    "mann_whitney_binned",
    "normal_sf",
    "two_proportion_z",
]


def normal_sf(z: float) -> float:
    """Return ``P(Z > z)`` for a standard normal ``Z``.

    ``erfc`` keeps full relative precision in the far tail, where ``1 - cdf`` would
    round to zero.
    """
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _check_count(value: int, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{field}' must be an int: {value!r}")
    if value < 0:
        raise ValueError(f"'{field}' must be >= 0: {value!r}")


# Typed for the field they guard, so that mypy's attrs plugin keeps the field's type.
def _finite(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    check_finite(value, attribute.name)


def _probability(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= check_finite(value, attribute.name) <= 1.0:
        raise ValueError(f"'{attribute.name}' must be within [0, 1]: {value!r}")


def _count(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    _check_count(value, attribute.name)


@attrs.frozen(kw_only=True, slots=True)
class TestResult:
    """The outcome of one two-sample test, candidate against baseline.

    ``statistic`` is the standardised z score (positive when the candidate is higher:
    slower, or more errors), ``p_value`` is two-sided, ``effect`` is test-specific
    (see :func:`mann_whitney_binned` and :func:`two_proportion_z`), and ``n_baseline`` and
    ``n_candidate`` are the sample sizes the test saw.
    """

    # Keeps pytest from collecting this class from test modules that import it.
    __test__ = False

    statistic: float = attrs.field(validator=_finite)
    p_value: float = attrs.field(validator=_probability)
    effect: float = attrs.field(validator=_finite)
    n_baseline: int = attrs.field(validator=_count)
    n_candidate: int = attrs.field(validator=_count)


def _check_buckets(buckets: Mapping[int, int], field: str) -> int:
    """Validate bucket counts and return their total."""
    total = 0
    for index, count in buckets.items():
        _check_count(count, f"{field}[{index!r}]")
        total += count
    return total


def mann_whitney_binned(
    baseline: Mapping[int, int],
    candidate: Mapping[int, int],
    baseline_zeros: int = 0,
    candidate_zeros: int = 0,
) -> TestResult:
    """Compare two binned latency distributions with the Mann-Whitney U test.

    ``baseline`` and ``candidate`` map bucket index to count; ``*_zeros`` count exact
    zeros, which rank below every bucket. Values sharing a bucket are ties. The
    candidate's U is ``sum(c_i * (B_below_i + b_i / 2))`` over buckets in ascending order,
    and the p-value is two-sided from the normal approximation with the tie-corrected
    variance ``n1*n2/12 * ((n+1) - sum(t**3 - t) / (n*(n-1)))`` and no continuity
    correction (as ``scipy.stats.mannwhitneyu(candidate, baseline, method="asymptotic",
    use_continuity=False)``).

    ``statistic`` is ``z = (U - n1*n2/2) / sigma``; U itself is ``effect * n1 * n2``.
    ``effect`` is ``U / (n1*n2)``: the probability that a candidate request is slower
    than a baseline one, ties counting half. Above 0.5 the candidate is slower. When
    either side is empty or all values tie, the result is ``statistic=0.0``,
    ``p_value=1.0``, ``effect=0.5``.

    Runs in O(k log k) for k distinct buckets, whatever the counts.
    """
    _check_count(baseline_zeros, "baseline_zeros")
    _check_count(candidate_zeros, "candidate_zeros")
    n_base = baseline_zeros + _check_buckets(baseline, "baseline")
    n_cand = candidate_zeros + _check_buckets(candidate, "candidate")
    n = n_base + n_cand
    if n_base == 0 or n_cand == 0:
        return TestResult(
            statistic=0.0, p_value=1.0, effect=0.5, n_baseline=n_base, n_candidate=n_cand
        )

    # Integer accumulators keep U and the tie term exact for any counts.
    twice_u = candidate_zeros * baseline_zeros
    below = baseline_zeros
    zeros = baseline_zeros + candidate_zeros
    ties = zeros**3 - zeros
    for index in sorted(baseline.keys() | candidate.keys()):
        b = baseline.get(index, 0)
        c = candidate.get(index, 0)
        twice_u += c * (2 * below + b)
        below += b
        t = b + c
        ties += t**3 - t

    pairs = n_base * n_cand
    u = twice_u / 2
    # sigma^2 = n1*n2/12 * ((n+1) - ties/(n*(n-1))), with the bracket over a common
    # denominator so that "all values tie" is an exact integer zero.
    spread = (n + 1) * n * (n - 1) - ties
    if spread == 0:
        return TestResult(
            statistic=0.0, p_value=1.0, effect=0.5, n_baseline=n_base, n_candidate=n_cand
        )
    sigma = math.sqrt(pairs * spread / (12 * n * (n - 1)))
    z = (u - pairs / 2) / sigma
    return TestResult(
        statistic=z,
        p_value=2.0 * normal_sf(abs(z)),
        effect=u / pairs,
        n_baseline=n_base,
        n_candidate=n_cand,
    )


def two_proportion_z(
    baseline_errors: int,
    baseline_total: int,
    candidate_errors: int,
    candidate_total: int,
) -> TestResult:
    """Compare error rates with the pooled two-proportion z-test.

    ``z = (p2 - p1) / sqrt(p * (1 - p) * (1/n1 + 1/n2))`` where ``p1`` and ``p2`` are the
    baseline and candidate error rates and ``p`` the pooled rate; the p-value is
    two-sided. ``effect`` is ``p2 - p1``: positive when the candidate errs more.

    When a total is 0, or the pooled rate is 0 or 1, the test is undefined and the result
    is ``statistic=0.0``, ``p_value=1.0`` and ``effect`` the difference of rates where
    both are defined, else 0.0.

    Raises ``ValueError`` naming the argument for a count that is not an ``int``, is
    negative, or has more errors than its total.
    """
    for field, value in (
        ("baseline_errors", baseline_errors),
        ("baseline_total", baseline_total),
        ("candidate_errors", candidate_errors),
        ("candidate_total", candidate_total),
    ):
        _check_count(value, field)
    for side, errors, total in (
        ("baseline", baseline_errors, baseline_total),
        ("candidate", candidate_errors, candidate_total),
    ):
        if errors > total:
            raise ValueError(f"'{side}_errors' must be <= '{side}_total': {errors} > {total}")

    if baseline_total == 0 or candidate_total == 0:
        return TestResult(
            statistic=0.0,
            p_value=1.0,
            effect=0.0,
            n_baseline=baseline_total,
            n_candidate=candidate_total,
        )
    base_rate = baseline_errors / baseline_total
    cand_rate = candidate_errors / candidate_total
    effect = cand_rate - base_rate
    pooled_errors = baseline_errors + candidate_errors
    pooled_total = baseline_total + candidate_total
    if pooled_errors in (0, pooled_total):
        return TestResult(
            statistic=0.0,
            p_value=1.0,
            effect=effect,
            n_baseline=baseline_total,
            n_candidate=candidate_total,
        )
    pooled = pooled_errors / pooled_total
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / baseline_total + 1.0 / candidate_total))
    z = effect / se
    return TestResult(
        statistic=z,
        p_value=2.0 * normal_sf(abs(z)),
        effect=effect,
        n_baseline=baseline_total,
        n_candidate=candidate_total,
    )


class Verdict(str, enum.Enum):
    """The outcome of a canary comparison."""

    BETTER = "better"
    WORSE = "worse"
    NO_DIFFERENCE = "no_difference"
    INSUFFICIENT_DATA = "insufficient_data"


def decide(
    latency: TestResult,
    errors: TestResult,
    *,
    alpha: float = 0.05,
    min_samples: int = 30,
) -> Verdict:
    """Turn a latency test and an error-rate test into a :class:`Verdict`.

    The rule, applied in order:

    1. ``INSUFFICIENT_DATA`` if ``errors.n_baseline < min_samples`` or
       ``errors.n_candidate < min_samples`` (the error test counts every request).
    2. A test is *significant* when ``p_value < alpha / 2`` (Bonferroni correction for
       two tests, so the family-wise false-alarm rate stays at most ``alpha``).
    3. ``WORSE`` if either test is significant against the candidate: the latency test
       with ``effect > 0.5`` (candidate slower) or the error test with ``effect > 0``
       (candidate errs more).
    4. ``BETTER`` if at least one test is significant in the candidate's favour
       (``latency.effect < 0.5`` or ``errors.effect < 0``) and neither is against it.
    5. ``NO_DIFFERENCE`` otherwise.

    Raises ``ValueError`` if ``alpha`` is not within (0, 1) or ``min_samples`` is
    negative.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"'alpha' must be within (0, 1): {alpha!r}")
    _check_count(min_samples, "min_samples")
    if errors.n_baseline < min_samples or errors.n_candidate < min_samples:
        return Verdict.INSUFFICIENT_DATA

    threshold = alpha / 2
    lat_significant = latency.p_value < threshold
    err_significant = errors.p_value < threshold
    if (lat_significant and latency.effect > 0.5) or (err_significant and errors.effect > 0):
        return Verdict.WORSE
    if (lat_significant and latency.effect < 0.5) or (err_significant and errors.effect < 0):
        return Verdict.BETTER
    return Verdict.NO_DIFFERENCE
