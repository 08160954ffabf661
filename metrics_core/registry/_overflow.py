"""Where a new tag set goes when its metric is full: the overflow scheme.

A metric holds at most ``max_series_per_metric`` series of its own. A new tag
set beyond that folds into an overflow series, coarsest last:

1. ``{model_name, version, overflow="true"}``: the version keeps its own counts
   (one noisy version cannot hide another's errors), while the metric has fewer
   than ``budget`` such per-version overflow series;
2. ``{model_name, overflow="true"}``: the model keeps its counts once the versions
   are too many, while the metric has fewer than ``budget`` per-model ones;
3. ``{overflow="true"}``: everything else.

``budget`` is 10 % of ``max_series_per_metric`` (at least 1), so a metric never
holds more than ``max_series_per_metric + 2 * budget + 1`` series,
whatever the traffic; every folded value is counted in
``metrics_cardinality_overflow_total{metric}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from metrics_core.names import MODEL_NAME, VERSION
from metrics_core.tags import Tags

OVERFLOW = "overflow"
"""The tag key marking an overflow series."""

OVERFLOW_TAGS = Tags({OVERFLOW: "true"})
"""The tags of the series that folds a metric's excess tag sets when nothing is kept."""


def overflow_budget(max_series_per_metric: int) -> int:
    """How many per-version or per-model overflow series a metric may add: 10 %, at least 1."""
    return max(1, max_series_per_metric // 10)


class Folding:
    """Picks the overflow series of a full metric; not thread-safe (the registry's lock)."""

    __slots__ = ("_budget", "_kept")

    def __init__(self, max_series_per_metric: int) -> None:
        self._budget = overflow_budget(max_series_per_metric)
        # (metric, tags kept besides "overflow") -> overflow series of that shape
        self._kept: dict[tuple[str, int], int] = {}

    def target(self, name: str, tags: Tags, family: Mapping[Tags, object]) -> Tags:
        """The tags ``tags`` of the full metric ``name`` fold into."""
        model = tags.get(MODEL_NAME)
        if model is None:
            return OVERFLOW_TAGS
        version = tags.get(VERSION)
        # Keys known valid and values already strings: the unchecked constructor (this
        # runs for every folded value).
        per_model = Tags._trusted({MODEL_NAME: model, OVERFLOW: "true"})
        candidates = (
            (per_model,)
            if version is None
            else (Tags._trusted({MODEL_NAME: model, VERSION: version, OVERFLOW: "true"}), per_model)
        )
        for candidate in candidates:
            if candidate in family:
                return candidate
            shape = (name, len(candidate))
            kept = self._kept.get(shape, 0)
            if kept < self._budget:
                self._kept[shape] = kept + 1
                return candidate
        return OVERFLOW_TAGS

    def recount(self, name: str, family: Mapping[Tags, object]) -> None:
        """Count the kept overflow series of ``name`` again (after expired series were dropped)."""
        for size in (2, 3):
            kept = sum(1 for tags in family if OVERFLOW in tags and len(tags) == size)
            if kept:
                self._kept[name, size] = kept
            else:
                self._kept.pop((name, size), None)

    def clear(self) -> None:
        """Forget every count (the registry was cleared)."""
        self._kept.clear()
