"""``HttpCollector``: HTTP request duration and requests in flight, as OpenTelemetry names them."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import ClassVar

from collectors._cache import cache_once, step_count
from collectors.base import BaseCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.events import Event, HttpRequestFinished, HttpRequestStarted
from metrics_core.registry import Registry
from metrics_core.registry.protocol import BoundInstrument
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

KNOWN_METHODS: frozenset[str] = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
"""The methods recorded as themselves; any other is recorded as ``_OTHER``."""

OTHER_METHOD = "_OTHER"
"""The ``http.request.method`` of a method outside :data:`KNOWN_METHODS`."""


def normalize_method(method: str) -> str:
    """``method`` if it is a known HTTP method, else ``_OTHER`` (bounds the series count)."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


class HttpCollector(BaseCollector):
    """Records HTTP server requests as the OpenTelemetry HTTP semantic conventions name them.

    - ``HttpRequestStarted`` -> ``http.server.active_requests`` +1 (gauge, tagged
      ``http.request.method`` and ``url.scheme``).
    - ``HttpRequestFinished`` -> ``http.server.active_requests`` -1 (never below 0) and
      ``http.server.request.duration`` (timer, ms; Prometheus shows
      ``http_server_request_duration_seconds``) tagged ``http.route``,
      ``http.request.method``, ``http.response.status_code``, ``url.scheme``, and
      ``error.type`` when the app raised.

    The in-flight gauge carries no route: the route is matched after the request
    starts, and OpenTelemetry's ``http.server.active_requests`` has none either.
    ``MetricsMiddleware`` emits both events; other servers can emit them too.
    """

    subscriptions: ClassVar[Mapping[type[Event], str]] = {
        HttpRequestStarted: "on_started",
        HttpRequestFinished: "on_finished",
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._durations: dict[tuple[str, ...], BoundInstrument] = {}
        self._active: dict[tuple[str, str], BoundInstrument] = {}
        self._in_flight: dict[tuple[str, str], int] = {}

    def bind(self, registry: Registry, bus: EventBus) -> None:
        """Keep the registry; instruments bound to an earlier one are dropped."""
        super().bind(registry, bus)
        with self._lock:
            self._durations = {}
            self._active = {}
            self._in_flight = {}

    def on_started(self, event: HttpRequestStarted) -> None:
        """Count the request in flight."""
        self._move((normalize_method(event.method), event.scheme), +1)

    def on_finished(self, event: HttpRequestFinished) -> None:
        """Count the request out of flight and record its duration."""
        method = normalize_method(event.method)
        self._move((method, event.scheme), -1)
        key = (event.route, method, str(event.status_code), event.scheme, event.error_type or "")
        found = self._durations.get(key)
        if found is None:
            found = cache_once(self._durations, key, self._lock, lambda: self._duration(key))
        found.record(event.duration_ms)

    def _duration(self, key: tuple[str, ...]) -> BoundInstrument:
        route, method, status, scheme, error_type = key
        tags = {
            names.HTTP_ROUTE: route,
            names.HTTP_METHOD: method,
            names.HTTP_STATUS_CODE: status,
            names.URL_SCHEME: scheme,
        }
        if error_type:
            tags[names.HTTP_ERROR_TYPE] = error_type
        return self.registry.instrument(MetricKind.TIMER, names.HTTP_SERVER_DURATION, Tags(tags))

    def _move(self, key: tuple[str, str], step: int) -> None:
        gauge = self._active.get(key)
        if gauge is None:
            method, scheme = key
            tags = Tags({names.HTTP_METHOD: method, names.URL_SCHEME: scheme})
            gauge = cache_once(
                self._active,
                key,
                self._lock,
                lambda: self.registry.instrument(
                    MetricKind.GAUGE, names.HTTP_SERVER_ACTIVE_REQUESTS, tags
                ),
            )
        # Under the lock: the count and the gauge move together across threads.
        with self._lock:
            count = step_count(self._in_flight, key, step)
            if count is not None:
                gauge.record(count)
