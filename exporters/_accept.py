"""Whether a scraper asks for OpenMetrics; importable without prometheus_client."""

from __future__ import annotations

OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
"""The content type of an OpenMetrics 1.0.0 answer."""

_MEDIA_TYPE = "application/openmetrics-text"


def wants_openmetrics(accept: str) -> bool:
    """Whether an ``Accept`` header asks for OpenMetrics (with a non-zero quality)."""
    for item in accept.split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        if media.lower() != _MEDIA_TYPE:
            continue
        quality = next((p[2:] for p in parameters if p.lower().startswith("q=")), "1")
        try:
            if float(quality) > 0:
                return True
        except ValueError:
            continue
    return False
