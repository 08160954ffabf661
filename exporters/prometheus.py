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
import itertools
import math
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from socketserver import ThreadingMixIn
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import attrs
import structlog
from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, default_handler
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.utils import floatToGoString

from exporters._naming import (
    MS_PER_SECOND,
    description,
    in_export_unit,
    prometheus_label,
    prometheus_name,
)
from metrics_core.exporting import SnapshotSource
from metrics_core.sketch import BucketData, bucket_index, bucket_upper
from metrics_core.snapshot import (
    CounterSeries,
    DistributionSeries,
    GaugeSeries,
    Series,
    Snapshot,
    Window,
    window_seconds,
)
from metrics_core.values import MetricKind

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_log = structlog.get_logger("exporters.prometheus")

DEFAULT_PORT = 9464
"""The port ``serve()`` listens on by default (OpenTelemetry's Prometheus exporter port)."""

DEFAULT_ADDRESS = "127.0.0.1"
"""``serve()`` binds the loopback interface unless told otherwise."""

DEFAULT_QUANTILES: tuple[float, ...] = (0.5, 0.95, 0.99)
"""The quantiles of the windowed summaries."""

DEFAULT_SUMMARY_WINDOW = 60.0
"""Seconds of the sliding window the summary quantiles cover."""

DEFAULT_PUSH_TIMEOUT = 5.0
"""Seconds a Pushgateway push may take before it fails."""

SUMMARY_INFIX = "_window"
"""Inserted into a distribution's name (before its unit) to name its summary family."""

# Base-unit suffixes that must stay last in a name, so the summary infix goes before them.
_UNIT_SUFFIXES = ("seconds", "bytes", "ratio", "celsius", "watts", "joules", "meters", "volts")
# Tag keys that would clash with the labels histograms and summaries add themselves;
# renamed as Prometheus renames clashing target labels.
_RESERVED_LABELS = {"le": "exported_le", "quantile": "exported_quantile"}
_EMPTY = Snapshot(0.0, ())
_go_float: Callable[[float], str] = floatToGoString


def summary_name(name: str, kind: MetricKind) -> str:
    """The summary family name of the histogram or timer ``name``.

    ``_window`` goes before a trailing base unit and after anything else:
    ``model_inference_latency`` (a timer) gives ``model_inference_latency_window_seconds``,
    ``gen_ai.client.token.usage`` gives ``gen_ai_client_token_usage_window``.
    """
    family = prometheus_name(name, kind)
    unit = _unit_of(family)
    if unit:
        return f"{family[: -len(unit) - 1]}{SUMMARY_INFIX}_{unit}"
    return family + SUMMARY_INFIX


def _unit_of(family: str) -> str:
    """The base unit ``family`` ends with, if any (OpenMetrics' ``# UNIT``)."""
    stem = family.removesuffix("_total")
    return next((unit for unit in _UNIT_SUFFIXES if stem.endswith("_" + unit)), "")


def _label_name(key: str) -> str:
    label = prometheus_label(key)
    return _RESERVED_LABELS.get(label, label)


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

    url: str
    job: str
    grouping_key: Mapping[str, str] = attrs.field(factory=dict, converter=_read_only)
    timeout: float = attrs.field(default=DEFAULT_PUSH_TIMEOUT)

    @timeout.validator
    def _check_timeout(self, _: attrs.Attribute[float], value: float) -> None:
        if not 0 < value < math.inf:
            raise ValueError(f"'timeout' must be > 0 seconds and finite: {value!r}")


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
        self._buckets = {name: _check_bounds(name, b) for name, b in (buckets or {}).items()}
        for q in quantiles:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"'quantiles' must be within [0, 1]: {q!r}")
        self._quantiles = tuple(quantiles)
        self._window = window_seconds(summary_window)
        self._pushgateway = pushgateway
        self._lock = threading.Lock()
        self._source: SnapshotSource | None = None
        self._last: Snapshot | None = None
        self._servers: list[PrometheusServer] = []
        self._warned: set[str] = set()
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
        sink = _MetricSink()
        self._builder().build(snapshot, sink)
        return sink.families

    def render(self, snapshot: Snapshot | None = None) -> str:
        """The text exposition format (0.0.4) of ``snapshot``, or of what a scrape shows now.

        The same text as ``generate_latest`` over :meth:`families`, written directly.
        """
        sink = _TextSink()
        self._builder().build(self.snapshot() if snapshot is None else snapshot, sink)
        return "".join(sink.parts)

    def _builder(self) -> _FamilyBuilder:
        return _FamilyBuilder(self._buckets, self._quantiles, self._window, self._warned)

    # -- serving and pushing --------------------------------------------------------------

    def serve(self, port: int = DEFAULT_PORT, address: str = DEFAULT_ADDRESS) -> PrometheusServer:
        """Serve :meth:`render`'s text at ``/metrics`` from a daemon thread.

        Binds ``127.0.0.1`` unless ``address`` says otherwise (``"0.0.0.0"`` for
        every interface); ``port=0`` picks a free port (see the returned
        handle's ``port``). :meth:`close` stops it, as does the handle's ``stop()``.
        """
        server_class = _ThreadingServer6 if ":" in address else _ThreadingServer
        server = make_server(
            address, port, self._wsgi_app, server_class=server_class, handler_class=_QuietHandler
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
        try:
            body = self.render().encode("utf-8")
        except Exception as error:  # a broken source fails the scrape, not the server
            _log.exception("prometheus_scrape_failed")
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [f"scrape failed: {error!r}\n".encode()]
        headers = [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)]
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


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # Scrape threads must not hold up interpreter exit.
    daemon_threads = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


def _check_bounds(name: str, bounds: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(b) for b in bounds if b != math.inf)
    if (
        not values
        or not all(math.isfinite(b) for b in values)
        or any(a >= b for a, b in itertools.pairwise(values))
    ):
        raise ValueError(f"'buckets[{name!r}]' must be a non-empty increasing sequence: {bounds!r}")
    return values


# -- from a snapshot to families ------------------------------------------------------------

# The label a histogram bucket (``le``) or a summary quantile adds to a series' labels.
_Extra = tuple[str, str] | None


class _Sink(Protocol):
    """Where the family builder writes: metric family objects or text."""

    def family(self, name: str, kind: str, documentation: str, unit: str) -> None:
        """Start the family ``name`` (a counter's without ``_total``)."""

    def sample(self, name: str, labels: dict[str, str], value: float, extra: _Extra = None) -> None:
        """Add a sample; ``labels`` is the same object for every sample of a series."""

    def buckets(self, name: str, labels: dict[str, str], les: list[str], counts: list[int]) -> None:
        """Add the ``_bucket`` samples of a histogram series, one per ``le``."""


class _MetricSink:
    """Builds prometheus_client metric families (for ``collect()``)."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def family(self, name: str, kind: str, documentation: str, unit: str) -> None:
        family: Metric
        if kind == "counter":
            family = CounterMetricFamily(name, documentation, unit=unit)
        elif kind == "gauge":
            family = GaugeMetricFamily(name, documentation, unit=unit)
        elif kind == "histogram":
            family = HistogramMetricFamily(name, documentation, unit=unit)
        else:
            family = SummaryMetricFamily(name, documentation, unit=unit)
        self.families.append(family)

    def sample(self, name: str, labels: dict[str, str], value: float, extra: _Extra = None) -> None:
        # add_sample, not add_metric: series of one metric may carry different tag keys
        # (the overflow series has only ``overflow``).
        # A copy per sample: consumers of collect() own what they are given.
        self.families[-1].add_sample(
            name, dict(labels) if extra is None else {**labels, extra[0]: extra[1]}, value
        )

    def buckets(self, name: str, labels: dict[str, str], les: list[str], counts: list[int]) -> None:
        family = self.families[-1]
        for le, count in zip(les, counts, strict=True):
            family.add_sample(name, {**labels, "le": le}, count)


class _TextSink:
    """Writes the text format 0.0.4 exactly as ``generate_latest`` would.

    A series' label text is built once for all its samples, and the text of
    repeated values once per render: several times faster than ``generate_latest``.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._labels: dict[str, str] | None = None
        self._pairs: list[tuple[str, str]] = []
        self._plain = ""
        self._around: dict[str, tuple[str, str]] = {}
        self._numbers: dict[float, str] = {}

    def family(self, name: str, kind: str, documentation: str, unit: str) -> None:
        if kind == "counter":
            name += "_total"
        doc = documentation.replace("\\", r"\\").replace("\n", r"\n")
        self.parts.append(f"# HELP {name} {doc}\n# TYPE {name} {kind}\n")

    def sample(self, name: str, labels: dict[str, str], value: float, extra: _Extra = None) -> None:
        if labels is not self._labels:
            self._start_series(labels)
        number = self._numbers.get(value)
        if number is None:
            number = _go_float(value)
            if not math.isnan(value):  # NaN equals no key: caching it would only grow the dict
                self._numbers[value] = number
        if extra is None:
            inner = self._plain
        else:
            key, text = extra  # "le" or "quantile": numbers, no escaping needed
            around = self._around.get(key)
            if around is None:
                around = self._around[key] = self._split_at(key)
            inner = f'{around[0]}{key}="{text}"{around[1]}'
        self.parts.append(f"{name}{{{inner}}} {number}\n" if inner else f"{name} {number}\n")

    def buckets(self, name: str, labels: dict[str, str], les: list[str], counts: list[int]) -> None:
        if labels is not self._labels:
            self._start_series(labels)
        around = self._around.get("le")
        if around is None:
            around = self._around["le"] = self._split_at("le")
        before, after = around
        numbers = self._numbers
        append = self.parts.append
        for le, count in zip(les, counts, strict=True):
            number = numbers.get(count)
            if number is None:
                number = numbers[count] = _go_float(count)
            append(f'{name}{{{before}le="{le}"{after}}} {number}\n')

    def _start_series(self, labels: dict[str, str]) -> None:
        self._labels = labels
        self._pairs = sorted((key, f'{key}="{_escape(value)}"') for key, value in labels.items())
        self._plain = ",".join(pair for _, pair in self._pairs)
        self._around = {}

    def _split_at(self, key: str) -> tuple[str, str]:
        """The label text before and after ``key`` in sorted order, commas included."""
        before = "".join(pair + "," for k, pair in self._pairs if k < key)
        after = "".join("," + pair for k, pair in self._pairs if k > key)
        return before, after


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


# (family name, type, unit) of one exported family of a recorded metric.
_Plan = tuple[str, str, str]
_SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
}


class _FamilyBuilder:
    """Walks one snapshot into a sink, family by family in name order."""

    def __init__(
        self,
        buckets: Mapping[str, tuple[float, ...]],
        quantiles: tuple[float, ...],
        window: float,
        warned: set[str],
    ) -> None:
        self._buckets = buckets
        self._quantiles = quantiles
        self._quantile_labels = [_go_float(q) for q in quantiles]
        self._window = window
        self._warned = warned
        self._label_names: dict[str, str] = {}
        self._le: dict[tuple[MetricKind, tuple[float, ...]], list[str]] = {}
        self._now = 0.0

    def build(self, snapshot: Snapshot, sink: _Sink) -> None:
        """Write every family of ``snapshot`` to ``sink``."""
        by_metric: dict[tuple[str, MetricKind], list[Series]] = {}
        for series in snapshot:
            by_metric.setdefault((series.name, series.kind), []).append(series)
        self._now = snapshot.taken_at
        taken: dict[str, str] = {}  # sample name -> the recorded metric that owns it
        work: list[tuple[_Plan, str, list[tuple[dict[str, str], Series]]]] = []
        for (name, kind), members in sorted(by_metric.items(), key=lambda item: item[0][0]):
            plans = [plan for plan in self._plans(name, kind) if self._claim(plan, name, taken)]
            if plans:
                labeled = [(self._labels(series), series) for series in members]
                labeled.sort(key=lambda pair: tuple(pair[0].items()))
                work.extend((plan, name, labeled) for plan in plans)
        work.sort(key=lambda item: item[0][0])
        writers = {
            "counter": self._write_counter,
            "gauge": self._write_gauge,
            "histogram": self._write_histogram,
            "summary": self._write_summary,
        }
        for (family, kind_text, unit), name, labeled_series in work:
            help_text = description(name)
            if kind_text == "summary":
                help_text += f" Quantiles over a sliding {self._window:g} s window."
            sink.family(family, kind_text, help_text, unit)
            write = writers[kind_text]
            for labels, series in labeled_series:
                write(sink, family, name, series, labels)

    def _plans(self, name: str, kind: MetricKind) -> list[_Plan]:
        family = prometheus_name(name, kind)
        unit = _unit_of(family)
        if kind is MetricKind.COUNTER:
            return [(family.removesuffix("_total"), "counter", unit)]
        if kind is MetricKind.GAUGE:
            return [(family, "gauge", unit)]
        plans = [(family, "histogram", unit)]
        if self._quantiles:
            plans.append((summary_name(name, kind), "summary", unit))
        return plans

    def _claim(self, plan: _Plan, name: str, taken: dict[str, str]) -> bool:
        """Reserve the sample names of a family; ``False`` (warned once) on a clash."""
        family, kind_text, _ = plan
        samples = [family + suffix for suffix in _SAMPLE_SUFFIXES[kind_text]]
        clash = next((sample for sample in [family, *samples] if sample in taken), None)
        if clash is None:
            taken.update(dict.fromkeys([family, *samples], name))
            return True
        if name not in self._warned:
            self._warned.add(name)
            _log.warning("prometheus_name_clash", metric=name, sample=clash, owner=taken[clash])
        return False

    def _labels(self, series: Series) -> dict[str, str]:
        names = self._label_names
        labels = {}
        for key, value in series.tags.items():
            label = names.get(key)
            if label is None:
                label = names[key] = _label_name(key)
            labels[label] = value
        return labels

    def _write_counter(
        self, sink: _Sink, family: str, _: str, series: Series, labels: dict[str, str]
    ) -> None:
        assert isinstance(series, CounterSeries)
        sink.sample(family + "_total", labels, series.total)

    def _write_gauge(
        self, sink: _Sink, family: str, _: str, series: Series, labels: dict[str, str]
    ) -> None:
        assert isinstance(series, GaugeSeries)
        sink.sample(family, labels, series.value)

    def _write_histogram(
        self, sink: _Sink, family: str, name: str, series: Series, labels: dict[str, str]
    ) -> None:
        assert isinstance(series, DistributionSeries)
        configured = self._buckets.get(name)
        if configured is None:
            bounds = series.bucket_bounds
            cumulative = list(itertools.accumulate(series.bucket_counts))
        else:
            bounds = configured
            if series.kind is MetricKind.TIMER:
                bounds = tuple(b * MS_PER_SECOND for b in configured)
            cumulative = _rebucket(series, bounds)
        key = (series.kind, bounds)
        les = self._le.get(key)
        if les is None:
            unit_bounds = configured or [in_export_unit(b, series.kind) for b in bounds]
            les = self._le[key] = [*map(_go_float, unit_bounds), "+Inf"]
        sink.buckets(family + "_bucket", labels, les, cumulative)
        sink.sample(family + "_count", labels, cumulative[-1])
        sink.sample(family + "_sum", labels, _export_total(series))

    def _write_summary(
        self, sink: _Sink, family: str, _: str, series: Series, labels: dict[str, str]
    ) -> None:
        assert isinstance(series, DistributionSeries)
        # client_golang's convention: quantiles over the window, count and sum cumulative.
        window = series.window_summary(self._window, self._now)
        values = window.quantiles(*self._quantiles)
        for label, value in zip(self._quantile_labels, values, strict=True):
            sink.sample(family, labels, in_export_unit(value, series.kind), ("quantile", label))
        sink.sample(family + "_count", labels, sum(series.bucket_counts))
        sink.sample(family + "_sum", labels, _export_total(series))


def _export_total(series: DistributionSeries) -> float:
    # The sum of the parts' sums: no need to merge their sketches for it.
    return in_export_unit(math.fsum(part.total for part in series.all_time_parts), series.kind)


def _rebucket(series: DistributionSeries, bounds: tuple[float, ...]) -> list[int]:
    """Cumulative counts at ``bounds`` (recorded unit) and ``+Inf``, exact where possible."""
    recorded = series.bucket_bounds
    cumulative = list(itertools.accumulate(series.bucket_counts))
    out: list[int] = []
    data: BucketData | None = None
    for bound in bounds:
        index = _index_of(recorded, bound)
        if index is not None:
            out.append(cumulative[index])
        else:
            data = data if data is not None else series.all_time
            out.append(_count_at_most(data, bound))
    out.append(cumulative[-1])
    return out


def _index_of(bounds: tuple[float, ...], bound: float) -> int | None:
    # Close, not equal: 0.035 s * 1000 is 35.00000000000001 ms.
    return next((i for i, b in enumerate(bounds) if math.isclose(b, bound, rel_tol=1e-9)), None)


def _count_at_most(data: BucketData, bound: float) -> int:
    """Observations ``<= bound`` by the sketch.

    Exact outside ``(minimum, maximum)``; inside, exact but for the one sketch bucket
    that straddles ``bound``, which is left out.
    """
    if bound >= data.maximum:
        return data.count
    if bound < data.minimum:
        return 0
    neg_offset, negative = data.negative
    pos_offset, positive = data.positive
    if bound < 0:
        # Negative buckets hold |v|: v <= bound for every value of a bucket starting at >= -bound.
        first = bucket_index(-bound) + 1
        return sum(negative[max(0, first - neg_offset) :])
    below = sum(negative) + data.zeros
    if bound == 0:
        return below
    last = bucket_index(bound)
    if bucket_upper(last) > bound:
        last -= 1
    return below + sum(positive[: max(0, last - pos_offset + 1)])
