"""The mergeable quantile sketch: base-2 exponential buckets at scale 6.

Bucket ``i`` holds values in ``(2**(i/64), 2**((i+1)/64)]``, the layout of
OpenTelemetry exponential histograms and Prometheus native histograms, so a
sketch exports as-is. Adjacent bucket bounds differ by 1.09 %; a quantile read
from the right bucket is within about 0.55 % of the true value.

:class:`BucketData` is the immutable summary of a set of observations (count,
sum, min, max, exact zeros, dense positive and negative bucket counts). It is
what closed time slots, rollups and snapshots hold: merging makes a new one,
so snapshots can share them without copying.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from itertools import accumulate

import attrs

from metrics_core._packed import Counts, compact, narrowest, pack, unpack, width_for

SCALE = 6
"""Resolution: 2**SCALE buckets per power of two."""

_NONE: tuple[int, Counts] = (0, ())
_PER_OCTAVE = 1 << SCALE
_BASE = 2.0 ** (1.0 / _PER_OCTAVE)
_log2 = math.log2
_ceil = math.ceil
_floor = math.floor


def bucket_index(value: float) -> int:
    """The index of the bucket holding ``value`` (> 0)."""
    return _ceil(_log2(value) * _PER_OCTAVE) - 1


def bucket_lower(index: int) -> float:
    """The exclusive lower bound of bucket ``index``."""
    return float(2.0 ** (index / _PER_OCTAVE))


def bucket_upper(index: int) -> float:
    """The inclusive upper bound of bucket ``index``."""
    return float(2.0 ** ((index + 1) / _PER_OCTAVE))


def dense(sparse: Mapping[int, int]) -> tuple[int, Counts]:
    """Turn ``{index: count}`` into ``(offset, counts)`` with counts[k] for index offset+k."""
    if not sparse:
        return 0, ()
    low = min(sparse)
    counts = [0] * (max(sparse) - low + 1)
    for index, count in sparse.items():
        counts[index - low] = count
    return low, narrowest(counts)


def _merge_runs(
    items: list[tuple[int, Counts]], low: int, high: int, count: int, store: bool
) -> Counts:
    """Add up dense ``(offset, counts)`` runs into one covering ``[low, high)``.

    ``store``: the narrowest storage (a rollup kept), else plain fields (read once).
    ``count`` bounds every bucket's total (it picks the packed field width).
    """
    span = high - low
    lengths = [len(counts) for _, counts in items]
    widest = max(lengths)
    if (sum(lengths) - widest) * 4 < span:
        # Short runs, but for at most one (sparse slots; or a window read as a running
        # sum plus the open slot): copy the widest at C speed, add the rest bucket by bucket.
        wide = lengths.index(widest)
        offset, counts = items[wide]
        merged = [0] * (offset - low)
        merged += counts
        merged += [0] * (high - offset - widest)
        for k, (offset, counts) in enumerate(items):
            if k != wide:
                for index, value in enumerate(counts, offset - low):
                    merged[index] += value
        return narrowest(merged) if store else merged
    # Wide runs: packed, each run is one integer addition (``metrics_core._packed``).
    width = width_for(count)
    bits = 8 * width
    packed = 0
    for offset, counts in items:
        packed += pack(counts, width) << (bits * (offset - low))
    run = (low, packed, span)
    return compact(run, width)[1] if store else unpack(run, width)


@attrs.frozen(slots=True)
class BucketData:
    """An immutable summary of observations: count, sum, min, max and bucket counts.

    ``positive`` and ``negative`` are ``(offset, counts)`` pairs: ``counts[k]`` is the
    number of observations in bucket ``offset + k`` (of the value, or of its
    absolute value for ``negative``). ``zeros`` counts exact zeros.
    """

    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    zeros: int = 0
    positive: tuple[int, Counts] = (0, ())
    negative: tuple[int, Counts] = (0, ())

    @classmethod
    def from_sparse(
        cls,
        count: int,
        total: float,
        minimum: float,
        maximum: float,
        zeros: int,
        positive: Mapping[int, int],
        negative: Mapping[int, int] | None = None,
    ) -> BucketData:
        """Build from sparse ``{index: count}`` mappings."""
        return cls(count, total, minimum, maximum, zeros, dense(positive), dense(negative or {}))

    @classmethod
    def of(cls, values: Iterable[float]) -> BucketData:
        """Summarize raw values (finite floats) directly; ``EMPTY`` when there are none."""
        items = list(values)
        if not items:
            return EMPTY
        positive: dict[int, int] = {}
        negative: dict[int, int] = {}
        zeros = 0
        for value in items:
            if value > 0:
                index = bucket_index(value)
                positive[index] = positive.get(index, 0) + 1
            elif value < 0:
                index = bucket_index(-value)
                negative[index] = negative.get(index, 0) + 1
            else:
                zeros += 1
        return cls.from_sparse(
            len(items), math.fsum(items), min(items), max(items), zeros, positive, negative
        )

    @property
    def mean(self) -> float:
        """The arithmetic mean, or NaN when empty."""
        return self.total / self.count if self.count else math.nan

    def positive_buckets(self) -> dict[int, int]:
        """The non-empty positive buckets as ``{index: count}``."""
        offset, counts = self.positive
        return {offset + k: c for k, c in enumerate(counts) if c}

    def negative_buckets(self) -> dict[int, int]:
        """The non-empty negative buckets (by absolute value) as ``{index: count}``."""
        offset, counts = self.negative
        return {offset + k: c for k, c in enumerate(counts) if c}

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (0..1), NaN when empty.

        Ranks follow numpy's default ('linear' between order statistics); the value
        of an order statistic is interpolated log-linearly inside its bucket and
        clamped to [minimum, maximum].
        """
        return quantiles(self, (q,))[0]

    def merge(self, other: BucketData) -> BucketData:
        """A new summary of both sets of observations."""
        return merge_all((self, other))


EMPTY = BucketData()


def merge_all(parts: Iterable[BucketData], *, compact: bool = True) -> BucketData:
    """Merge summaries into one; empty ones are skipped.

    ``compact=False`` keeps the counts unnarrowed: quicker for a result that is
    read once (a query) rather than stored (a rollup).
    """
    items = [part for part in parts if part.count]
    if len(items) < 2:
        return items[0] if items else EMPTY
    # One pass over the parts: this runs for every window queried.
    count = zeros = 0
    minimum, maximum = math.inf, -math.inf
    positive: list[tuple[int, Counts]] = []
    negative: list[tuple[int, Counts]] = []
    pos_low = neg_low = 1 << 62
    pos_high = neg_high = -(1 << 62)
    for part in items:
        count += part.count
        zeros += part.zeros
        if part.minimum < minimum:
            minimum = part.minimum
        if part.maximum > maximum:
            maximum = part.maximum
        run = part.positive
        offset, counts = run
        if counts:
            positive.append(run)
            if offset < pos_low:
                pos_low = offset
            if offset + len(counts) > pos_high:
                pos_high = offset + len(counts)
        run = part.negative
        if run[1]:
            negative.append(run)
            offset, counts = run
            if offset < neg_low:
                neg_low = offset
            if offset + len(counts) > neg_high:
                neg_high = offset + len(counts)
    return BucketData(
        count,
        math.fsum([part.total for part in items]),
        minimum,
        maximum,
        zeros,
        (pos_low, _merge_runs(positive, pos_low, pos_high, count, compact)) if positive else _NONE,
        (neg_low, _merge_runs(negative, neg_low, neg_high, count, compact)) if negative else _NONE,
    )


def quantiles(data: BucketData, qs: Iterable[float]) -> list[float]:
    """Several quantiles of ``data`` at once (one cumulative pass, in C).

    Each quantile interpolates between the order statistics at the ranks around
    ``q * (count - 1)``; both usually lie in one bucket, found by one bisection.
    """
    q_list = list(qs)
    for q in q_list:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"'q' must be within [0, 1]: {q!r}")
    if not data.count:
        return [math.nan] * len(q_list)
    if len(data.negative[1]):
        return _signed_quantiles(data, q_list)
    # Zeros, then positive buckets: the common case, with the order statistic inlined.
    offset, counts = data.positive
    cumulative = list(accumulate(counts))
    zeros, last = data.zeros, data.count - 1
    minimum, maximum = data.minimum, data.maximum
    results = []
    for q in q_list:
        h = q * last
        low = _floor(h)
        rank = low - zeros
        if rank < 0:
            value = 0.0
            k = -1
        else:
            k = bisect_left(cumulative, rank + 1)
            before = cumulative[k - 1] if k else 0
            in_bucket = cumulative[k] - before
            value = float(2.0 ** ((offset + k) / _PER_OCTAVE)) * float(
                _BASE ** ((rank - before + 0.5) / in_bucket)
            )
        if h > low:
            rank += 1
            if rank < 0:
                upper = 0.0
            else:
                if k < 0 or rank >= cumulative[k]:  # the next statistic is in a later bucket
                    k = bisect_left(cumulative, rank + 1)
                    before = cumulative[k - 1] if k else 0
                    in_bucket = cumulative[k] - before
                upper = float(2.0 ** ((offset + k) / _PER_OCTAVE)) * float(
                    _BASE ** ((rank - before + 0.5) / in_bucket)
                )
            value += (h - low) * (upper - value)
        if value < minimum:
            value = minimum
        if value > maximum:
            value = maximum
        results.append(value)
    return results


def _signed_quantiles(data: BucketData, q_list: list[float]) -> list[float]:
    """``quantiles`` of data holding negative observations."""
    # Ordered runs of the distribution: negatives by descending magnitude, zeros, positives.
    neg_offset, neg = data.negative
    pos_offset, pos = data.positive
    neg_cum = list(accumulate(reversed(neg)))
    n_neg = neg_cum[-1]
    pos_cum = list(accumulate(pos))
    last = data.count - 1

    def order_stat(rank: int) -> float:
        if rank < n_neg:
            k = bisect_left(neg_cum, rank + 1)
            before = neg_cum[k - 1] if k else 0
            index = neg_offset + len(neg) - 1 - k
            in_bucket = neg_cum[k] - before
            # Within a negative bucket, lower rank means larger magnitude.
            frac = 1.0 - (rank - before + 0.5) / in_bucket
            return -_interpolate(index, frac)
        rank -= n_neg
        if rank < data.zeros:
            return 0.0
        rank -= data.zeros
        k = bisect_left(pos_cum, rank + 1)
        before = pos_cum[k - 1] if k else 0
        return _interpolate(pos_offset + k, (rank - before + 0.5) / (pos_cum[k] - before))

    results = []
    for q in q_list:
        h = q * last
        low = _floor(h)
        value = order_stat(low)
        if h > low:
            value += (h - low) * (order_stat(low + 1) - value)
        results.append(min(max(value, data.minimum), data.maximum))
    return results


def _interpolate(index: int, fraction: float) -> float:
    return bucket_lower(index) * float(_BASE**fraction)
