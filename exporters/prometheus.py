"""``PrometheusExporter``: snapshots as a Prometheus scrape endpoint, text and Pushgateway pushes.

The exporter is a prometheus_client custom collector on a ``CollectorRegistry``
of its own (never the global one). At every scrape it reads a fresh snapshot
from the ``Metrics`` it is attached to, or the last exported one when used
alone, and turns each metric into families (names by ``exporters._naming``):

- counters: ``counter`` families, samples ending in ``_total``;
- gauges: ``gauge`` families;
- histograms and timers: a ``histogram`` family with explicit buckets (timers in
  seconds, named ``..._seconds``), plus a ``summary`` family named with
  ``_window`` before the unit suffix (``model_inference_latency_window_seconds``)
  whose ``quantile`` samples cover a sliding window (60 s by default) while
  ``_count`` and ``_sum`` are cumulative, as client_golang summaries do.

Bucket counts are the registry's own explicit buckets (configured per metric
with ``AggregatingRegistry(buckets=...)``), so they are exact. The exporter's
``buckets`` option re-buckets a metric for export: a bound that is also a
recorded bound is exact; any other is read off the all-time sketch, where an
observation within 1.09 % of the bound may land in the neighbouring bucket.

``serve()`` and ``render()`` write the text format 0.0.4 straight from the
snapshot, the text ``generate_latest`` would write from ``collect()``'s
families, several times faster (a scrape of 1,000 busy versions is dominated
by the windowed quantiles).
"""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from socketserver import ThreadingMixIn
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import attrs
from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, default_handler
from prometheus_client.metrics_core import Metric

from exporters._openmetrics import (
    OPENMETRICS_CONTENT_TYPE,
    encode_openmetrics,
    wants_openmetrics,
)
from exporters._prometheus_families import (
    SUMMARY_INFIX,
    FamilyBuilder,
    Labeled,
    check_bounds,
    summary_name,
)
from exporters._prometheus_sinks import (
    MetricSink,
    TextSink,
    new_numbers,
    trim_numbers,
)
from exporters._settings import check_http_url
from metrics_core._round_cache import RoundCache
from metrics_core._validation import as_number, check_seconds, shown
from metrics_core.exporting import SnapshotSource
from metrics_core.logs import get_logger
from metrics_core.snapshot import Snapshot, Window, window_seconds

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_PORT",
    "DEFAULT_PUSH_TIMEOUT",
    "DEFAULT_QUANTILES",
    "DEFAULT_SUMMARY_WINDOW",
    "SUMMARY_INFIX",
    "PrometheusExporter",
    "PrometheusServer",
    "PushgatewayTarget",
    "summary_name",
]

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_log = get_logger("exporters.prometheus")

DEFAULT_PORT = 9464
"""The port ``serve()`` listens on by default (OpenTelemetry's Prometheus exporter port)."""

DEFAULT_ADDRESS = "127.0.0.1"
"""``serve()`` binds the loopback interface unless told otherwise."""

DEFAULT_QUANTILES: tuple[float, ...] = (0.5, 0.95, 0.99)
"""The quantiles of the windowed summaries."""

DEFAULT_SUMMARY_WINDOW = 60.0
"""Seconds of the sliding window the summary quantiles cover."""

_EMPTY = Snapshot(0.0, ())

DEFAULT_PUSH_TIMEOUT = 5.0
"""Seconds a Pushgateway push may take before it fails."""

DEFAULT_IDLE_TIMEOUT = 10.0
"""Seconds a scrape connection may send nothing before ``serve()`` closes it."""


def _read_only(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@attrs.frozen(slots=True)
class PushgatewayTarget:
    """Where ``PrometheusExporter.export`` pushes every snapshot.

    :param url: the Pushgateway, ``http://host:9091`` (``http://`` is assumed when missing).
    :param job: the ``job`` label of the pushed group.
    :param grouping_key: further labels identifying the group (``{"instance": "worker-1"}``).
    :param timeout: seconds a push may take before it fails.
    """

    url: str = attrs.field()
    job: str = attrs.field()
    grouping_key: Mapping[str, str] = attrs.field(factory=dict, converter=_read_only)
    timeout: float = attrs.field(default=DEFAULT_PUSH_TIMEOUT)

    @url.validator
    def _check_url(self, _: attrs.Attribute[str], value: str) -> None:
        check_http_url(value, "url", scheme_optional=True)

    @job.validator
    def _check_job(self, _: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError(f"'job' must be a non-empty string: {shown(value)}")

    @timeout.validator
    def _check_timeout(self, _: attrs.Attribute[float], value: float) -> None:
        check_seconds(value, "timeout")


class PrometheusServer:
    """A running ``/metrics`` endpoint, as returned by :meth:`PrometheusExporter.serve`."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._stopped = False
        self.address: str = str(server.server_address[0])
        """The address bound."""
        self.port: int = int(server.server_address[1])
        """The port bound (the one picked when ``serve(port=0)``)."""

    @property
    def url(self) -> str:
        """The scrape URL, ``http://address:port/metrics``."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}/metrics"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)

    def __repr__(self) -> str:
        return f"PrometheusServer(url={self.url!r})"


class PrometheusExporter:
    """Expose snapshots to Prometheus: scrape endpoint, text rendering, Pushgateway.

    >>> from metrics_core.snapshot import Snapshot
    >>> PrometheusExporter().render(Snapshot(0.0, ()))
    ''

    :param buckets: explicit bucket bounds per recorded metric name, in the exported
        unit (seconds for timers), replacing the registry's bounds for that metric.
    :param quantiles: the summary quantiles; empty for no summaries.
    :param summary_window: the sliding window of the summary quantiles (seconds or timedelta).
    :param pushgateway: push every exported snapshot there (push errors raise from
        ``export()``, so ``Metrics`` counts them).

    Thread-safe: scrapes run in server threads while ``export()`` stores snapshots.
    """

    def __init__(
        self,
        *,
        buckets: Mapping[str, Sequence[float]] | None = None,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        summary_window: Window = DEFAULT_SUMMARY_WINDOW,
        pushgateway: PushgatewayTarget | None = None,
    ) -> None:
        self._buckets = {name: check_bounds(name, b) for name, b in (buckets or {}).items()}
        for q in quantiles:
            if not 0.0 <= as_number(q, "quantiles") <= 1.0:
                raise ValueError(f"'quantiles' must be within [0, 1]: {shown(q)}")
        self._quantiles = tuple(float(q) for q in quantiles)
        self._window = window_seconds(summary_window)
        if pushgateway is not None and not isinstance(pushgateway, PushgatewayTarget):
            raise TypeError(f"'pushgateway' must be a PushgatewayTarget: {shown(pushgateway)}")
        self._pushgateway = pushgateway
        self._lock = threading.Lock()
        self._source: SnapshotSource | None = None
        self._last: Snapshot | None = None
        self._servers: list[PrometheusServer] = []
        self._warned: set[str] = set()
        # Kept between renders: each series' labels and line beginnings, number texts.
        self._labels: RoundCache[Labeled] = RoundCache()
        self._lines: RoundCache[tuple[str, ...]] = RoundCache()
        self._numbers = new_numbers()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self)

    @property
    def registry(self) -> CollectorRegistry:
        """A registry of its own (never the global one) holding just this exporter.

        For prometheus_client's tools (``make_wsgi_app``, ``generate_latest``); ``serve()``
        and ``render()`` write the same families without it, faster.
        """
        return self._registry

    # -- the Exporter and PullExporter protocols -----------------------------------------

    def attach(self, source: SnapshotSource) -> None:
        """Read a fresh snapshot from ``source`` at every scrape (``Metrics.export_to`` does)."""
        with self._lock:
            self._source = source

    def export(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` for scrapes without a source; push it if a Pushgateway is set."""
        with self._lock:
            self._last = snapshot
        if self._pushgateway is not None:
            self._push(snapshot, self._pushgateway)

    def close(self) -> None:
        """Stop every server started by :meth:`serve`."""
        with self._lock:
            servers, self._servers = self._servers, []
        for server in servers:
            server.stop()

    # -- reading -------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """What a scrape shows: a fresh snapshot from the source, else the last exported one."""
        with self._lock:
            source, last = self._source, self._last
        if source is not None:
            return source()
        return last if last is not None else _EMPTY

    def collect(self) -> Iterator[Metric]:
        """The metric families of :meth:`snapshot` (prometheus_client's collector protocol)."""
        return iter(self.families(self.snapshot()))

    def families(self, snapshot: Snapshot) -> list[Metric]:
        """The prometheus_client metric families of ``snapshot``, sorted by name."""
        sink = MetricSink()
        self._builder().build(snapshot, sink)
        self._labels.turn()
        return sink.families

    def render(self, snapshot: Snapshot | None = None) -> str:
        """The text exposition format (0.0.4) of ``snapshot``, or of what a scrape shows now.

        The same text as ``generate_latest`` over :meth:`families`, written directly.
        """
        sink = TextSink(self._lines, self._numbers)
        self._builder().build(self.snapshot() if snapshot is None else snapshot, sink)
        self._lines.turn()
        self._labels.turn()
        trim_numbers(self._numbers)
        return "".join(sink.parts)

    def render_openmetrics(self, snapshot: Snapshot | None = None) -> bytes:
        """The OpenMetrics text format (1.0.0) of ``snapshot``, or of what a scrape shows now.

        What ``serve()`` answers a scraper whose ``Accept`` header asks for
        ``application/openmetrics-text`` (Prometheus does by default).
        """
        return encode_openmetrics(self.families(self.snapshot() if snapshot is None else snapshot))

    def _builder(self) -> FamilyBuilder:
        return FamilyBuilder(
            self._buckets, self._quantiles, self._window, self._warned, self._labels
        )

    # -- serving and pushing --------------------------------------------------------------

    def serve(
        self,
        port: int = DEFAULT_PORT,
        address: str = DEFAULT_ADDRESS,
        *,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> PrometheusServer:
        """Serve :meth:`render`'s text at ``/metrics`` from a daemon thread.

        A scraper that asks for OpenMetrics (``Accept: application/openmetrics-text``,
        as Prometheus does) gets :meth:`render_openmetrics` instead.

        Binds ``127.0.0.1`` unless ``address`` says otherwise (``"0.0.0.0"`` for
        every interface); ``port=0`` picks a free port (see the returned
        handle's ``port``). :meth:`close` stops it, as does the handle's ``stop()``.
        A connection that sends nothing for ``idle_timeout`` seconds is closed, so idle
        or stalled clients cannot hold the server's threads.
        """
        timeout = check_seconds(idle_timeout, "idle_timeout")
        handler = type("_IdleTimeoutHandler", (_QuietHandler,), {"timeout": timeout})
        server_class = _ThreadingServer6 if ":" in address else _ThreadingServer
        server = make_server(
            address, port, self._wsgi_app, server_class=server_class, handler_class=handler
        )
        # A short poll interval: stop() waits for the loop to notice, up to one interval.
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="prometheus-http",
            daemon=True,
        )
        thread.start()
        handle = PrometheusServer(server, thread)
        with self._lock:
            self._servers.append(handle)
        _log.info("prometheus_serving", url=handle.url)
        return handle

    def push(
        self,
        gateway: str,
        job: str,
        grouping_key: Mapping[str, str] | None = None,
        *,
        timeout: float = DEFAULT_PUSH_TIMEOUT,
    ) -> None:
        """Push what a scrape shows now to a Pushgateway, replacing the group's metrics.

        The group is ``job`` plus ``grouping_key``. Raises ``OSError`` when the
        gateway is unreachable, answers an error or takes over ``timeout`` seconds.
        """
        self._push(self.snapshot(), PushgatewayTarget(gateway, job, grouping_key or {}, timeout))

    def _push(self, snapshot: Snapshot, target: PushgatewayTarget) -> None:
        body = self.render(snapshot).encode("utf-8")

        # push_to_gateway builds the URL (escaping the grouping key) and sends the
        # request; the body is render()'s text rather than its own slower encoding.
        def send(
            url: str,
            method: str,
            timeout: float | None,
            headers: list[tuple[str, str]],
            data: bytes,
        ) -> Callable[[], None]:
            return default_handler(url, method, timeout, headers, body)

        push_to_gateway(
            target.url,
            target.job,
            CollectorRegistry(auto_describe=False),
            dict(target.grouping_key),
            timeout=target.timeout,
            handler=send,
        )

    def _wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: scrape /metrics\n"]
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        openmetrics = wants_openmetrics(environ.get("HTTP_ACCEPT", ""))
        try:
            body = self.render_openmetrics() if openmetrics else self.render().encode("utf-8")
        except Exception as error:  # a broken source fails the scrape, not the server
            _log.exception("prometheus_scrape_failed")
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [f"scrape failed: {error!r}\n".encode()]
        content_type = OPENMETRICS_CONTENT_TYPE if openmetrics else CONTENT_TYPE_PLAIN_0_0_4
        headers = [("Content-Type", content_type)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            # Level 1: most of the size gain for a fraction of the default level's time.
            body = gzip.compress(body, compresslevel=1)
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [body]

    def __repr__(self) -> str:
        return (
            f"PrometheusExporter(quantiles={self._quantiles!r}, "
            f"summary_window={self._window!r}, pushgateway={self._pushgateway!r})"
        )


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: a scrape a second would flood stderr."""

    def handle(self) -> None:
        """Answer one request; a client idle past the socket timeout is dropped quietly."""
        try:
            super().handle()
        except TimeoutError:
            self.close_connection = True


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # Scrape threads must not hold up interpreter exit.
    daemon_threads = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6
