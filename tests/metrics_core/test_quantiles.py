"""``sketch.quantiles`` against its definition, order statistic by order statistic.

``quantiles`` finds each order statistic by bisecting cumulative counts and reuses
the bucket of the first when the second lies in it; the reference here walks the
sorted observations one by one. Both must give the very same floats.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from metrics_core.sketch import BucketData, bucket_lower, quantiles

_BASE = 2.0 ** (1.0 / 64)


def reference(data: BucketData, qs: list[float]) -> list[float]:
    """Quantiles by the definition: each observation in order, located in its bucket."""
    neg_offset, neg = data.negative
    pos_offset, pos = data.positive
    # (bucket index, sign, rank inside the bucket, count in the bucket) per observation, ascending.
    ordered: list[tuple[int, int, int, int]] = []
    for k in reversed(range(len(neg))):
        ordered += [(neg_offset + k, -1, j, neg[k]) for j in range(neg[k])]
    ordered += [(0, 0, j, data.zeros) for j in range(data.zeros)]
    for k in range(len(pos)):
        ordered += [(pos_offset + k, 1, j, pos[k]) for j in range(pos[k])]

    def order_stat(rank: int) -> float:
        index, sign, inside, count = ordered[rank]
        if sign == 0:
            return 0.0
        fraction = (inside + 0.5) / count
        if sign < 0:
            return -bucket_lower(index) * float(_BASE ** (1.0 - fraction))
        return bucket_lower(index) * float(_BASE**fraction)

    out = []
    for q in qs:
        h = q * (data.count - 1)
        low = math.floor(h)
        value = order_stat(low)
        if h > low:
            value += (h - low) * (order_stat(low + 1) - value)
        out.append(min(max(value, data.minimum), data.maximum))
    return out


counts = st.lists(st.integers(0, 6), min_size=1, max_size=40)
fractions = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6)


@st.composite
def bucket_data(draw: st.DrawFn, negatives: bool) -> BucketData:
    positive = draw(counts)
    negative = draw(counts) if negatives else []
    zeros = draw(st.integers(0, 4))
    count = sum(positive) + sum(negative) + zeros
    if not count:
        positive[0] = 1
        count = 1
    pos_offset = draw(st.integers(-200, 400))
    neg_offset = draw(st.integers(-200, 400))
    # Minimum and maximum somewhere inside the extreme buckets, so that clamping matters.
    low_bucket = (
        -bucket_lower(neg_offset + max(k for k, c in enumerate(negative) if c) + 1)
        if any(negative)
        else 0.0
        if zeros
        else bucket_lower(pos_offset + min(k for k, c in enumerate(positive) if c))
    )
    high_bucket = (
        bucket_lower(pos_offset + max(k for k, c in enumerate(positive) if c) + 1)
        if any(positive)
        else 0.0
        if zeros
        else -bucket_lower(neg_offset + min(k for k, c in enumerate(negative) if c))
    )
    stretch = draw(st.floats(1.0, _BASE))
    return BucketData(
        count,
        0.0,
        low_bucket * stretch if low_bucket < 0 else low_bucket / stretch,
        high_bucket / stretch if high_bucket > 0 else high_bucket * stretch,
        zeros,
        (pos_offset, tuple(positive)),
        (neg_offset, tuple(negative)),
    )


@settings(max_examples=300, deadline=None)
@given(data=bucket_data(negatives=False), qs=fractions)
def test_quantiles_of_zeros_and_positives_follow_the_definition(
    data: BucketData, qs: list[float]
) -> None:
    assert quantiles(data, qs) == reference(data, qs)


@settings(max_examples=300, deadline=None)
@given(data=bucket_data(negatives=True), qs=fractions)
def test_quantiles_with_negatives_follow_the_definition(data: BucketData, qs: list[float]) -> None:
    assert quantiles(data, qs) == reference(data, qs)


@given(data=bucket_data(negatives=False), q=st.floats(0.0, 1.0))
def test_neighbouring_ranks_in_one_bucket_or_two_agree_with_one_quantile(
    data: BucketData, q: float
) -> None:
    assert quantiles(data, [q, 0.5, q]) == [data.quantile(q), data.quantile(0.5), data.quantile(q)]
