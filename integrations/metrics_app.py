"""``metrics_app``: pure ASGI, serving ``/metrics``, JSON queries, a live stream, a dashboard.

Routes, relative to wherever the app is mounted (it honours ``root_path``, so
``app.mount("/observability", metrics_app(metrics))`` serves
``/observability/metrics``):

- ``GET /metrics``: Prometheus text format 0.0.4, or OpenMetrics 1.0.0 when the
  ``Accept`` header asks for it (gzip when accepted);
- ``GET /metrics/versions?window=5m``: every version's ``VersionMetrics`` as JSON, with
  ``"enabled"`` (false, and no versions, while recording is off); ``&by=provider`` splits
  each version by a kept dimension, ``&where=provider:openai`` filters (the stream too);
- ``GET /metrics/compare?model=..&baseline=..&candidate=..&window=5m``: a ``Comparison``
  (``&where=provider:openai`` compares those requests only);
- ``GET /metrics/stream?window=1m``: server-sent events, one ``metrics`` event with the
  ``/metrics/versions`` JSON at once and then every ``stream_interval`` seconds;
- ``GET /metrics/history?since=24h&step=5m``: per-step ``VersionMetrics`` from memory and
  the history store (``integrations._history_payloads``);
- WebSocket ``/metrics/stream`` (or ``/metrics/ws``): the same, as JSON messages typed
  ``metrics.update`` (``integrations._websocket``);
- ``GET /dashboard``: the live dashboard page (``integrations.dashboard``).

Other paths answer 404, other methods 405, a bad parameter 400 with a JSON body
naming it. Queries and rendering run in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from exporters._accept import OPENMETRICS_CONTENT_TYPE, wants_openmetrics
from integrations._asgi import TEXT_TYPE, Receive, Scope, Send, drain_body, send_body, send_json
from integrations._history_payloads import history_payload, history_request
from integrations._payloads import (
    BadParameterError,
    comparison_payload,
    parse_by,
    parse_where,
    parse_window,
    required,
    versions_payload,
)
from integrations._websocket import WEBSOCKET_PATHS, refuse_websocket, stream_websocket
from integrations.dashboard import DASHBOARD_CONTENT_TYPE, dashboard_html
from metrics_core import names
from metrics_core.compare import Comparison
from metrics_core.facade import Metrics
from metrics_core.logs import get_logger
from metrics_core.query import QUERY_NAMES

if TYPE_CHECKING:
    from exporters.prometheus import PrometheusExporter

__all__ = ["MetricsApp", "metrics_app"]

_log = get_logger("integrations.metrics_app")

_PROMETHEUS_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
_OPENMETRICS_TYPE = OPENMETRICS_CONTENT_TYPE.encode()
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass events through at once
]
_DEFAULT_COMPARE_WINDOW = 300.0
_STREAM_WINDOWS_CACHED = 8


def _route_path(scope: Scope) -> str:
    """The path below the mount point (Starlette's rule: ``path`` minus ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        path = path[len(root) :]
    return path or "/"


class MetricsApp:
    """The ASGI app that :func:`metrics_app` returns."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        prometheus: PrometheusExporter | None = None,
        stream_interval: float = 1.0,
        stream_window: float = 60.0,
    ) -> None:
        if not 0 < stream_interval < float("inf"):
            raise ValueError(f"'stream_interval' must be > 0 seconds: {stream_interval!r}")
        if not 0 < stream_window < float("inf"):
            raise ValueError(f"'stream_window' must be > 0 seconds: {stream_window!r}")
        self.metrics = metrics
        self.stream_interval = stream_interval
        self.stream_window = stream_window
        self._prometheus = prometheus
        self._lock = threading.Lock()
        # One query per window and interval, whatever the number of stream clients.
        self._stream_lock = threading.Lock()
        self._stream_cache: dict[tuple[Any, ...], tuple[float, bytes]] = {}
        self._routes: dict[str, Callable[[Scope, Receive, Send, dict[str, str]], Any]] = {
            "/metrics": self._metrics,
            "/metrics/versions": self._versions,
            "/metrics/compare": self._compare,
            "/metrics/stream": self._stream,
            "/metrics/history": self._history,
            "/dashboard": self._dashboard_page,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one ASGI connection (lifespan acknowledged; WebSockets on the stream only)."""
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind == "websocket":
            if _route_path(scope) in WEBSOCKET_PATHS:
                await stream_websocket(self, scope, receive, send)
            else:
                await refuse_websocket(receive, send)
            return
        handler = self._routes.get(_route_path(scope))
        if handler is None:
            await send_body(send, 404, b"not found\n", TEXT_TYPE)
            return
        if scope["method"] != "GET":
            await send_body(send, 405, b"method not allowed\n", TEXT_TYPE, ((b"allow", b"GET"),))
            return
        await drain_body(receive)
        query = dict(
            parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        )
        try:
            await handler(scope, receive, send, query)
        except BadParameterError as error:
            await send_json(send, 400, error.payload())

    # -- the endpoints --------------------------------------------------------------------

    async def _metrics(self, scope: Scope, receive: Receive, send: Send, _: dict[str, str]) -> None:
        request_headers = dict(scope.get("headers", ()))
        openmetrics = wants_openmetrics(request_headers.get(b"accept", b"").decode("latin-1"))
        body = await asyncio.to_thread(self._render, openmetrics)
        headers: tuple[tuple[bytes, bytes], ...] = ()
        accept = request_headers.get(b"accept-encoding", b"")
        if b"gzip" in accept:
            # Level 1: most of the size gain for a fraction of the default level's time.
            body = gzip.compress(body, compresslevel=1)
            headers = ((b"content-encoding", b"gzip"),)
        content_type = _OPENMETRICS_TYPE if openmetrics else _PROMETHEUS_TYPE
        await send_body(send, 200, body, content_type, headers)

    async def _versions(self, _s: Scope, _r: Receive, send: Send, query: dict[str, str]) -> None:
        window = parse_window(query.get("window"), self.stream_window)
        by, where = parse_by(query.get("by")), parse_where(query.get("where"))
        await send_json(send, 200, await asyncio.to_thread(self.split_versions, window, by, where))

    async def _compare(self, _s: Scope, _r: Receive, send: Send, query: dict[str, str]) -> None:
        model = required(query, "model")
        baseline = required(query, "baseline")
        candidate = required(query, "candidate")
        window = parse_window(query.get("window"), _DEFAULT_COMPARE_WINDOW)
        where = parse_where(query.get("where"))
        comparison = await asyncio.to_thread(
            self._comparison, model, baseline, candidate, window, where
        )
        await send_json(send, 200, comparison_payload(comparison, window))

    async def _stream(self, _s: Scope, receive: Receive, send: Send, query: dict[str, str]) -> None:
        window = parse_window(query.get("window"), self.stream_window)
        by, where = parse_by(query.get("by")), parse_where(query.get("where"))
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        disconnected = asyncio.ensure_future(_wait_for_disconnect(receive))
        prefix = b"retry: 2000\n"  # EventSource: reconnect after 2 s if the stream drops
        try:
            while not disconnected.done():
                data = await asyncio.to_thread(self.stream_data, window, by, where)
                message = prefix + b"event: metrics\ndata: " + data + b"\n\n"
                prefix = b""
                await send({"type": "http.response.body", "body": message, "more_body": True})
                await asyncio.wait({disconnected}, timeout=self.stream_interval)
            # A real disconnect makes this a no-op; a stopping server gets a complete response.
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away while we wrote (ASGI 2.4 servers raise)
            pass
        finally:
            disconnected.cancel()

    async def _history(self, _s: Scope, _r: Receive, send: Send, query: dict[str, str]) -> None:
        history_request(query)  # a bad parameter answers 400 before any work
        await send_json(send, 200, await asyncio.to_thread(history_payload, self.metrics, query))

    async def _dashboard_page(self, _s: Scope, _r: Receive, send: Send, _: dict[str, str]) -> None:
        page = dashboard_html()  # read once per process
        headers = ((b"cache-control", b"no-cache"),)
        await send_body(send, 200, page, DASHBOARD_CONTENT_TYPE.encode(), headers)

    # -- work done in threads --------------------------------------------------------------

    def versions(self, window: float) -> dict[str, Any]:
        """The ``/metrics/versions`` payload over ``window`` seconds."""
        if not self.metrics.enabled:
            return {**versions_payload({}, window), "enabled": False}
        return {**versions_payload(self.metrics.get_all_metrics(window), window), "enabled": True}

    def split_versions(
        self, window: float, by: tuple[str, ...], where: dict[str, str] | None
    ) -> dict[str, Any]:
        """The payload split ``by`` kept dimensions, of the requests matching ``where``."""
        if not by and where is None:
            return self.versions(window)
        if not self.metrics.enabled:
            return {**versions_payload({}, window), "enabled": False}
        found = self.metrics.get_all_metrics(window, by=by, where=where)
        return {**versions_payload(found, window), "enabled": True}

    def stream_data(
        self, window: float, by: tuple[str, ...] = (), where: dict[str, str] | None = None
    ) -> bytes:
        """The stream's JSON line for ``window``, shared by every client for half an interval.

        Ten open dashboards cost one query per interval, not ten: a client asking within
        ``stream_interval / 2`` of the last query of the same window gets its bytes. The
        cache keeps the 8 most recently queried windows (``?window=`` is the client's).
        """
        key = (window, by, tuple(sorted((where or {}).items())), where is None)
        with self._stream_lock:
            cached = self._stream_cache.get(key)
            if cached is not None and time.monotonic() - cached[0] < self.stream_interval / 2:
                return cached[1]
            payload = self.split_versions(window, by, where)
            data = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")
            self._stream_cache.pop(key, None)
            self._stream_cache[key] = (time.monotonic(), data)
            while len(self._stream_cache) > _STREAM_WINDOWS_CACHED:
                del self._stream_cache[next(iter(self._stream_cache))]
            return data

    def _comparison(
        self,
        model: str,
        baseline: str,
        candidate: str,
        window: float,
        where: dict[str, str] | None = None,
    ) -> Comparison:
        # Unknown names are a caller's typo far more often than a version with no traffic.
        match = {names.MODEL_NAME: model}
        known = {
            v for _, v in self.metrics.registry.snapshot(names=QUERY_NAMES, match=match).versions()
        }
        if not known:
            raise BadParameterError("model", model, "has no recorded versions")
        for parameter, version in (("baseline", baseline), ("candidate", candidate)):
            if version not in known:
                raise BadParameterError(parameter, version, f"is not a version of {model!r}")
        if where is not None:
            return self.metrics.compare(model, baseline, candidate, window, where=where)
        return self.metrics.compare(model, baseline, candidate, window)

    def _render(self, openmetrics: bool = False) -> bytes:
        with self._lock:
            if self._prometheus is None:
                # Imported here: the JSON endpoints work without the 'prometheus' extra.
                from exporters.prometheus import PrometheusExporter  # noqa: PLC0415

                self._prometheus = PrometheusExporter()
            prometheus = self._prometheus
        snapshot = self.metrics.snapshot()
        if openmetrics:
            return prometheus.render_openmetrics(snapshot)
        return prometheus.render(snapshot).encode("utf-8")

    def __repr__(self) -> str:
        return (
            f"MetricsApp(stream_interval={self.stream_interval!r}, "
            f"stream_window={self.stream_window!r})"
        )


def metrics_app(
    metrics: Metrics,
    *,
    prometheus: PrometheusExporter | None = None,
    stream_interval: float = 1.0,
    stream_window: float = 60.0,
) -> MetricsApp:
    """A pure-ASGI app serving ``metrics`` (routes in the module docstring), mountable anywhere.

    ``/metrics`` renders a fresh snapshot of ``metrics`` with ``prometheus`` (its
    buckets, quantiles and summary window), or a default ``PrometheusExporter``; the
    exporter is not added to ``metrics``. ``stream_window`` is the default window of
    ``/metrics/versions`` and ``/metrics/stream`` (seconds).
    """
    return MetricsApp(
        metrics,
        prometheus=prometheus,
        stream_interval=stream_interval,
        stream_window=stream_window,
    )


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _lifespan(receive: Receive, send: Send) -> None:
    """Served alone, the app has nothing to start or stop: acknowledge both."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
