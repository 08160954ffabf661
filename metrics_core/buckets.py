"""Explicit bucket bounds made for particular metrics, used by default.

``AggregatingRegistry`` counts a histogram's explicit buckets (the ones Prometheus
exports) from bounds chosen per metric name: the ``buckets`` argument first, then
``DEFAULT_BUCKETS`` here, then its generic defaults for timers and histograms.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from metrics_core import names

CONFIDENCE_BUCKETS: tuple[float, ...] = (
    0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99,
)  # fmt: skip
"""Bounds for values in 0..1 (``model_prediction_confidence``): finer near 1, where
confident models put most predictions."""

DEFAULT_BUCKETS: Mapping[str, tuple[float, ...]] = MappingProxyType(
    {names.PREDICTION_CONFIDENCE: CONFIDENCE_BUCKETS}
)
"""Metric name -> the explicit bucket bounds it gets unless the registry is told otherwise."""
