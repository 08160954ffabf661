"""Content negotiation of a scrape: OpenMetrics 1.0 when the scraper asks for it.

Prometheus servers (2.x and later) send ``Accept: application/openmetrics-text;
version=1.0.0,...;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1``: they prefer
OpenMetrics, which carries ``# UNIT`` and ends with ``# EOF`` (a truncated
scrape is detected). A scraper that does not name it gets the text format 0.0.4.
The families are the same either way; prometheus_client's OpenMetrics encoder
writes them (counters as ``name_total`` under the family ``name``).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest

from exporters._accept import OPENMETRICS_CONTENT_TYPE, wants_openmetrics

__all__ = ["OPENMETRICS_CONTENT_TYPE", "encode_openmetrics", "wants_openmetrics"]


class _Families:
    """The one-method collector protocol ``generate_latest`` reads families from."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def encode_openmetrics(families: Iterable[Metric]) -> bytes:
    """``families`` in the OpenMetrics text format 1.0.0, ``# EOF`` included."""
    encoded: bytes = generate_latest(_Families(families))  # type: ignore[no-untyped-call]
    return encoded
