"""``MetricsMiddleware``: HTTP request metrics for any ASGI app, FastAPI and Starlette included.

Pure ASGI, no framework import. For each ``http`` request it emits
``HttpRequestStarted`` when the request reaches the app and
``HttpRequestFinished`` once the last response body message is sent (so a
streaming response is timed to its end, and background tasks that run after
it are not), or when the app raises: then with status 500 if no response had
started, and the exception goes on to the server unchanged. ``lifespan`` and
``websocket`` scopes pass through untouched. An ``HttpCollector`` on the given
``Metrics`` turns the events into ``http.server.request.duration`` and
``http.server.active_requests``.

The ``http.route`` tag is the route template, never the raw path, so that series
stay few. Starlette and FastAPI routers store the matched route in
``scope["route"]`` (the scope dict the middleware was given, which they update
in place); its ``path_format`` joined to the prefix of the mounts matched on the
way (what they added to ``scope["root_path"]``) is the template, e.g.
``/api/items/{item_id}``. A request no router matched asks ``route_of(scope)``,
and else gets ``unmatched_route``. A mount whose path has parameters puts their
values in the prefix: keep those out of mount paths, or give ``route_of``.

``metrics_app`` (the ``/metrics``, JSON, stream and dashboard endpoints) is
re-exported here from ``integrations.metrics_app``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from collectors.http import HttpCollector
from integrations._asgi import ASGIApp, Message, Receive, Scope, Send
from integrations.metrics_app import MetricsApp, metrics_app
from metrics_core.events import HttpRequestFinished, HttpRequestStarted
from metrics_core.facade import Metrics
from metrics_core.logs import get_logger

__all__ = ["UNMATCHED_ROUTE", "MetricsApp", "MetricsMiddleware", "RouteOf", "metrics_app"]

_log = get_logger("integrations.asgi")

UNMATCHED_ROUTE = "unmatched"
"""The ``http.route`` of requests no router matched (404s, mostly)."""

RouteOf = Callable[[Scope], "str | None"]
"""Maps a request's scope to its route template, or ``None`` when it cannot tell."""

# Guards the check-then-collect of ensure_http_collector across threads; holds no state.
_COLLECT_LOCK = threading.Lock()


def ensure_http_collector(metrics: Metrics) -> HttpCollector:
    """The ``HttpCollector`` collected on ``metrics``, collecting one if there is none."""
    with _COLLECT_LOCK:
        for collector in metrics.collectors:
            if isinstance(collector, HttpCollector):
                return collector
        collector = HttpCollector()
        metrics.collect(collector)
        return collector


def framework_route(scope: Scope, root_path: str) -> str | None:
    """The route template Starlette or FastAPI matched, or ``None``.

    ``root_path`` is the scope's ``root_path`` when the request reached the
    middleware: what the routers added to it since is the prefix of the mounts
    they matched.
    """
    now_root = scope.get("root_path", "")
    prefix = now_root[len(root_path) :] if now_root.startswith(root_path) else ""
    route = scope.get("route")
    path_format = getattr(route, "path_format", None)
    if isinstance(path_format, str) and hasattr(route, "endpoint"):
        # A Route: its path is relative to the mounts matched above it.
        return prefix + path_format or "/"
    if prefix:
        # A Mount of an app that is no router (a metrics_app, say), which Starlette
        # stores as the route and FastAPI does not: its path is all of the prefix.
        return prefix + "/{path}"
    return None


class MetricsMiddleware:
    """Measures every HTTP request of ``app`` into ``metrics`` (see the module docstring).

    Works as ``app.add_middleware(MetricsMiddleware, metrics=metrics)`` in FastAPI and
    Starlette, or wrapping any ASGI app: ``MetricsMiddleware(app, metrics)``. Collects
    an ``HttpCollector`` on ``metrics`` unless one is there already.

    :param route_of: route template of a request no Starlette/FastAPI router matched.
    :param unmatched_route: the ``http.route`` when nothing gives a template.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        *,
        route_of: RouteOf | None = None,
        unmatched_route: str = UNMATCHED_ROUTE,
    ) -> None:
        if not isinstance(unmatched_route, str) or not unmatched_route:
            raise ValueError(f"'unmatched_route' must be a non-empty string: {unmatched_route!r}")
        self.app = app
        self.metrics = metrics
        self._emit = metrics.bus.emit
        self._route_of = route_of
        self._unmatched = unmatched_route
        ensure_http_collector(metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass non-HTTP scopes through; time HTTP requests around the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        scheme: str = scope.get("scheme") or "http"
        root_path: str = scope.get("root_path", "")
        emit = self._emit
        emit(HttpRequestStarted(method=method, scheme=scheme))
        start = time.perf_counter()
        status = 0
        finished = False

        async def send_and_time(message: Message) -> None:
            nonlocal status, finished
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
            elif kind == "http.response.body" and not finished and not message.get("more_body"):
                # Recorded before the last write, so a client that got the response
                # finds the request counted.
                finished = True
                self._finish(scope, root_path, method, scheme, status, start, None)
            await send(message)

        try:
            await self.app(scope, receive, send_and_time)
        except BaseException as error:
            if not finished:
                finished = True
                self._finish(
                    scope, root_path, method, scheme, status or 500, start, type(error).__name__
                )
            raise
        if not finished:  # the app returned without finishing a response
            finished = True
            self._finish(scope, root_path, method, scheme, status or 500, start, None)

    def _finish(
        self,
        scope: Scope,
        root_path: str,
        method: str,
        scheme: str,
        status: int,
        start: float,
        error_type: str | None,
    ) -> None:
        duration_ms = (time.perf_counter() - start) * 1000.0
        route = framework_route(scope, root_path)
        if route is None and self._route_of is not None:
            try:
                route = self._route_of(scope)
            except Exception:  # a broken route_of must not break the response
                _log.exception("route_of_failed", path=scope.get("path"))
        try:
            event = HttpRequestFinished(
                method=method,
                route=route or self._unmatched,
                status_code=status,
                duration_ms=duration_ms,
                scheme=scheme,
                error_type=error_type,
            )
        except ValueError:  # a status outside 100..599, say: the app's bug, not the client's
            _log.exception("http_request_not_recorded", method=method, status=status)
            return
        self._emit(event)
