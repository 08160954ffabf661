"""Checks of exporter settings, run in the constructors.

A bad host, URL or stream fails where it is given, with a ``ValueError`` or
``TypeError`` naming the parameter, instead of at the first export.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from metrics_core._validation import shown


def check_host(host: object, field: str = "host") -> str:
    """Return ``host`` if it is a non-empty string without whitespace."""
    if not isinstance(host, str) or not host or any(c.isspace() for c in host):
        raise ValueError(f"'{field}' must be a non-empty host name or address: {shown(host)}")
    return host


def check_http_url(url: object, field: str, *, scheme_optional: bool = False) -> str:
    """Return ``url`` if it is an ``http(s)://host[:port][/path]`` URL.

    With ``scheme_optional``, ``host:port`` is accepted too (``http://`` is assumed).
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"'{field}' must be an http(s) URL: {shown(url)}")
    full = url if not scheme_optional or "://" in url else f"http://{url}"
    try:
        parts = urlsplit(full)
        port = parts.port  # raises ValueError when not a number in 0..65535
    except ValueError:
        raise ValueError(f"'{field}' must be an http(s) URL: {shown(url)}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ValueError(f"'{field}' must be an http(s) URL with a host: {shown(url)}")
    if any(c.isspace() for c in url):
        raise ValueError(f"'{field}' must be an http(s) URL without spaces: {shown(url)}")
    return url


def check_stream(stream: Any, field: str = "stream") -> Any:
    """Return ``stream`` if it is ``None`` or has a callable ``write``."""
    if stream is not None and not callable(getattr(stream, "write", None)):
        raise TypeError(f"'{field}' must be a text stream with write(): {shown(stream)}")
    return stream
