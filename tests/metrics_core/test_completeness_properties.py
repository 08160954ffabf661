"""Invariants, with hypothesis: accuracy, prices, durations and error categories."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from collectors.pricing import ModelPrice
from metrics_core.durations import parse_duration
from metrics_core.errors import ERROR_CATEGORIES, classify_error
from metrics_core.query import classification_scores

labels = st.sampled_from(["a", "b", "c", "true", "false"])
cells = st.dictionaries(st.tuples(labels, labels), st.integers(0, 1000), max_size=25)


@given(cells)
def test_accuracy_is_the_diagonal_share_and_empty_means_nan(
    confusion: dict[tuple[str, str], int],
) -> None:
    scores = classification_scores(confusion)
    total = sum(confusion.values())
    correct = sum(n for (expected, actual), n in confusion.items() if expected == actual)
    if total == 0:
        macro = (scores.accuracy, scores.macro_precision, scores.macro_recall, scores.macro_f1)
        assert all(math.isnan(score) for score in macro)
    else:
        assert scores.accuracy == correct / total
        assert 0.0 <= scores.macro_f1 <= 1.0
        assert scores.evaluations == total


prices = st.floats(0, 1000, allow_nan=False)
counts = st.integers(0, 10**7)


@given(prices, prices, prices, counts, counts, counts, counts)
def test_cost_is_additive_in_requests_and_never_negative(
    input_price: float,
    output_price: float,
    cached_price: float,
    input_tokens: int,
    output_tokens: int,
    cached: int,
    more_output: int,
) -> None:
    price = ModelPrice(input=input_price, output=output_price, cached_input=cached_price)
    cached = min(cached, input_tokens)
    one = price.cost(input_tokens, output_tokens, cached)
    assert one >= 0.0
    both = price.cost(input_tokens, output_tokens + more_output, cached)
    extra = price.cost(0, more_output, 0)
    assert math.isclose(both, one + extra, rel_tol=1e-9, abs_tol=1e-12)


@given(st.integers(1, 10**6), st.sampled_from(["ms", "s", "m", "h", "d", ""]))
def test_durations_scale_by_their_unit(number: int, unit: str) -> None:
    factor = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "": 1.0}[unit]
    assert parse_duration(f"{number}{unit}") == number * factor


@given(st.one_of(st.integers(), st.text(max_size=30), st.none(), st.floats()))
def test_every_error_gets_one_of_the_documented_categories(error: object) -> None:
    assert classify_error(error) in ERROR_CATEGORIES
