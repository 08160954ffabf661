"""The live dashboard page: one self-contained HTML file shipped as package data.

``dashboard.html`` loads nothing from elsewhere (no CDN, no web fonts, no
external scripts, styles or images): its CSS and JavaScript are inline and it
draws its charts on ``<canvas>`` itself, so it works offline and behind any
proxy. It opens an ``EventSource`` on the *relative* URL ``metrics/stream``,
so the page works at ``/dashboard`` and under any mount prefix
(``/observability/dashboard`` reads ``/observability/metrics/stream``), and
passes its own ``?window=`` parameter on to the stream.

``metrics_app`` (``integrations.asgi``) serves it at ``GET /dashboard``.
"""

from __future__ import annotations

import functools
from importlib import resources

__all__ = ["DASHBOARD_CONTENT_TYPE", "dashboard_html"]

DASHBOARD_CONTENT_TYPE = "text/html; charset=utf-8"
"""The ``Content-Type`` to serve :func:`dashboard_html` with."""


@functools.cache
def dashboard_html() -> bytes:
    """The dashboard page, UTF-8 encoded HTML, read once from the package.

    >>> dashboard_html().startswith(b"<!doctype html>")
    True
    """
    return resources.files("integrations").joinpath("dashboard.html").read_bytes()
