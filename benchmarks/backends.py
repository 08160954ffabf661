"""Exporter benchmarks, printed as one table with ``benchmarks/hot_path.py``'s helpers.

``python benchmarks/backends.py`` runs the full sizes, ``--quick`` scaled-down ones.
Every ratio is measured within the run that prints it:

1. ns per pre-built ``InferenceCompleted`` emitted into ``InferenceCollector`` (6
   versions): (a) no exporters; (b) auto-export feeding four broken backends: a
   Pushgateway port that refuses connections, an OTLP port that accepts connections
   and never answers (timeout 1 s), StatsD and DogStatsD ports with nothing listening;
   (c) the same exporters feeding working local sinks (HTTP 200, drained UDP sockets;
   threads of this process, so (c) pays for them too). Auto-export runs during its own
   batches only; a ``NullExporter`` counts the rounds, ``metrics_export_errors_total``
   the failures.
2. Prometheus scrape of 1,000 versions: ``snapshot()`` + ``PrometheusExporter.render``
   beside prometheus_client's ``generate_latest`` over native metrics of the same data.
3. OTLP payload of the same: ``snapshot()`` + ``OTLPExporter``'s ``MetricsData`` + the
   SDK's protobuf encoder, beside the OpenTelemetry SDK's collect + the same encoder.
4. One StatsD / DogStatsD export of the same (a fresh exporter: every series is sent),
   beside the ``datadog`` client alone sending the same lines.

Batches are interleaved (A, B, C, A, B, C, ...) after a warm-up each; medians are shown.
``main`` returns 1 when a target is missed, else 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import prometheus_client as prom
import structlog
from datadog.dogstatsd.base import DogStatsd
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)

from benchmarks.hot_path import (
    Row,
    _events,
    _interleave,
    _latencies,
    _timed,
    _wired,
    _work,
    report,
    run_section,
)
from exporters._statsd_lines import COUNTER, DEFAULT_FIRST_WINDOW, DeltaTracker
from exporters.null import NullExporter
from exporters.otlp import OTLPExporter
from exporters.prometheus import PrometheusExporter, PushgatewayTarget
from exporters.statsd import DogStatsDExporter, StatsDExporter
from metrics_core import names
from metrics_core.clock import ManualClock
from metrics_core.events import InferenceCompleted, InferenceFailed, InferenceStarted
from metrics_core.facade import Metrics
from metrics_core.registry.aggregating import DEFAULT_HISTOGRAM_BUCKETS, DEFAULT_TIMER_BUCKETS_MS
from metrics_core.snapshot import CounterSeries

_HOST = "127.0.0.1"
_POOL = 50_000  # pre-built events, replayed to fill a recording batch
_TARGET = 1.25  # b/a: "full speed" within the noise of export threads on 2 cores

Record = tuple[str, str, float, int, bool]
"""Per request: model, version, latency (ms), output tokens, failed."""


@dataclass(frozen=True)
class Sizes:
    """How big each part of a run is."""

    events: int  # per recording batch
    repeats: int
    interval: float  # auto-export period, seconds
    versions: int
    per_version: int


FULL = Sizes(events=200_000, repeats=7, interval=0.1, versions=1_000, per_version=20)
QUICK = Sizes(events=50_000, repeats=3, interval=0.1, versions=200, per_version=20)


def _timer(call: Callable[[], object]) -> Callable[[], int]:
    return lambda: _timed(call)


def _ms(ns: float) -> str:
    return f"{ns / 1e6:,.1f} ms"


def _kib(size: int) -> str:
    return f"{size / 1024:,.0f} KiB"


# -- local backends, working and broken -----------------------------------------------


class _UdpSink:
    """A UDP socket drained by a thread, counting packets."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # hold a burst
        self.sock.bind((_HOST, 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.packets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="bench-udp-sink", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        buffer = bytearray(65_536)
        while not self._stop.is_set():
            try:
                self.sock.recv_into(buffer)
            except TimeoutError:
                continue
            except OSError:
                return
            self.packets += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.sock.close()


class _Ok(BaseHTTPRequestHandler):
    """Reads the body of a POST (OTLP) or PUT (Pushgateway) and answers 200."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self) -> None:
        self.do_POST()

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing."""


@contextmanager
def _http_sink() -> Iterator[int]:
    server = ThreadingHTTPServer((_HOST, 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(2.0)


@contextmanager
def _black_hole() -> Iterator[int]:
    """A TCP port whose connections the kernel accepts and nobody reads or answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        sock.listen(128)
        yield int(sock.getsockname()[1])


def _dead_port(kind: socket.SocketKind) -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """Failures are logged as usual (and paid for), but written nowhere."""
    root, handler = logging.getLogger(), logging.NullHandler()
    root.addHandler(handler)
    with open(os.devnull, "w") as devnull:
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(devnull))
        try:
            yield
        finally:
            structlog.reset_defaults()
            root.removeHandler(handler)


# -- 1. recording while backends are broken -------------------------------------------


def _exporting(
    metrics: Metrics, prom_port: int, otlp: int | None, udp: int, dog: int
) -> NullExporter:
    """Add the backends' exporters, and a round counter, to ``metrics``."""
    gateway = PushgatewayTarget(f"http://{_HOST}:{prom_port}", "bench", timeout=1.0)
    metrics.export_to(PrometheusExporter(pushgateway=gateway), name="prom")
    if otlp is not None:
        endpoint = f"http://{_HOST}:{otlp}/v1/metrics"
        metrics.export_to(OTLPExporter(endpoint, timeout=1.0), name="otlp")
    metrics.export_to(StatsDExporter(_HOST, udp), name="statsd")
    metrics.export_to(DogStatsDExporter(_HOST, dog, origin_detection=False), name="dogstatsd")
    ticks = NullExporter()
    metrics.export_to(ticks, name="ticks")
    return ticks


def _recorder(
    metrics: Metrics, events: list[InferenceCompleted], rounds: int, interval: float | None
) -> Callable[[], int]:
    """One timed batch; auto-export (when ``interval`` is set) runs during it only."""

    def loop() -> None:
        emit = metrics.bus.emit
        for _ in range(rounds):
            for event in events:
                emit(event)

    def run() -> int:
        if interval is None:
            return _timed(loop)
        metrics.start_auto_export(interval)
        try:
            return _timed(loop)
        finally:
            metrics.stop_auto_export()  # waits for a hung export: not timed

    return run


def _outcome(metrics: Metrics, ticks: NullExporter) -> str:
    failed = sorted(
        f"{s.tags['exporter']} {s.tags['reason']} x{s.total:,.0f}"
        for s in metrics.snapshot().find(names.EXPORT_ERRORS_TOTAL)
        if isinstance(s, CounterSeries)
    )
    return f"{ticks.exports} export rounds; failed: {', '.join(failed) or 'none'}"


def recording(sizes: Sizes) -> list[Row]:
    """Section 1: ns per event with no, broken and working exporters."""
    pool = _events(_work(min(sizes.events, _POOL)))
    rounds = max(1, sizes.events // len(pool))
    tcp, udp = socket.SOCK_STREAM, socket.SOCK_DGRAM
    with ExitStack() as stack:
        hole = stack.enter_context(_black_hole())
        http = stack.enter_context(_http_sink())
        sinks = [_UdpSink(), _UdpSink()]
        for sink in sinks:
            stack.callback(sink.close)
        wired = {name: _wired() for name in ("a", "b", "b'", "c")}
        for metrics in wired.values():
            stack.callback(metrics.close, 3.0)
        ticks = {
            "b": _exporting(wired["b"], _dead_port(tcp), hole, _dead_port(udp), _dead_port(udp)),
            "b'": _exporting(wired["b'"], _dead_port(tcp), None, _dead_port(udp), _dead_port(udp)),
            "c": _exporting(wired["c"], http, http, sinks[0].port, sinks[1].port),
        }
        runs = {
            name: _recorder(metrics, pool, rounds, sizes.interval if name in ticks else None)
            for name, metrics in wired.items()
        }
        ns = {k: v / (rounds * len(pool)) for k, v in _interleave(runs, sizes.repeats).items()}
        outcomes = {name: _outcome(wired[name], counter) for name, counter in ticks.items()}
        outcomes["c"] += f"; UDP packets received {sum(sink.packets for sink in sinks):,}"
    every = f"auto-export every {sizes.interval:g} s"
    rows = [
        Row(f"recording, (a) no exporters, {rounds * len(pool):,} events/batch",
            f"{ns['a']:,.0f} ns"),
    ]  # fmt: skip
    for name, label, target in (
        ("b", "4 broken backends (OTLP hangs)", _TARGET),
        ("b'", "3 broken backends failing fast (no OTLP)", None),
        ("c", "4 working backends", None),
    ):
        ratio = ns[name] / ns["a"]
        goal = f"{name}/a <= {target}x" if target else f"{name}/a, info"
        rows += [
            Row(f"recording, ({name}) {label}, {every}", f"{ns[name]:,.0f} ns",
                ratio=f"{ratio:.2f}x", target=goal,
                passed=None if target is None else ratio <= target),
            Row(f"  ({name}) {outcomes[name]}"),
        ]  # fmt: skip
    return rows


# -- 1,000 versions, and the contenders holding the same data -------------------------


def _populated(sizes: Sizes) -> tuple[Metrics, list[Record]]:
    """``versions`` versions, ``per_version`` requests each over a minute; 1 in 10 fails once."""
    clock = ManualClock(1_700_000_000.0)
    metrics = _wired(clock)
    total = sizes.versions * sizes.per_version
    latencies = _latencies(total, seed=5)
    records: list[Record] = []
    emit = metrics.bus.emit
    for k in range(total):
        clock.set(1_700_000_000.0 + k * 60.0 / total)
        j = k % sizes.versions
        m, v, ms, tokens = f"model-{j // 10:03d}", f"v{j % 10}", latencies[k], 50 + k % 200
        failed = k < sizes.versions and j % 10 == 3
        emit(InferenceStarted(model_name=m, version=v))
        if failed:
            emit(InferenceFailed(model_name=m, version=v, duration_ms=ms, error_type="timeout"))
        else:
            emit(InferenceCompleted(model_name=m, version=v, duration_ms=ms, output_tokens=tokens))
        records.append((m, v, ms, tokens, failed))
    return metrics, records


def _prometheus_registry(records: list[Record]) -> prom.CollectorRegistry:
    registry, mv = prom.CollectorRegistry(), ["model_name", "version"]
    requests = prom.Counter("model_inference_requests", "Requests.", mv, registry=registry)
    errors = prom.Counter(
        "model_inference_errors", "Errors.", ["error_type", *mv], registry=registry
    )
    in_flight = prom.Gauge("model_inference_in_flight", "In flight.", mv, registry=registry)
    latency = prom.Histogram(
        "model_inference_latency_seconds",
        "Latency.",
        mv,
        registry=registry,
        buckets=[b / 1000 for b in DEFAULT_TIMER_BUCKETS_MS],
    )
    tokens = prom.Histogram(
        "gen_ai_client_token_usage",
        "Tokens.",
        ["gen_ai_token_type", *mv],
        registry=registry,
        buckets=list(DEFAULT_HISTOGRAM_BUCKETS),
    )
    for model, version, ms, count, failed in records:
        in_flight.labels(model, version).set(0)
        requests.labels(model, version).inc()
        latency.labels(model, version).observe(ms / 1000)
        if failed:
            errors.labels("timeout", model, version).inc()
        else:
            tokens.labels("output", model, version).observe(count)
    return registry


def _otel_reader(records: list[Record], exponential: bool) -> InMemoryMetricReader:
    if exponential:
        views = [
            View(instrument_type=Histogram, aggregation=ExponentialBucketHistogramAggregation())
        ]
    else:
        views = [
            View(instrument_name=name, aggregation=ExplicitBucketHistogramAggregation(bounds))
            for name, bounds in (
                (names.LATENCY, DEFAULT_TIMER_BUCKETS_MS),
                (names.TOKEN_USAGE, DEFAULT_HISTOGRAM_BUCKETS),
            )
        ]
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader], views=views).get_meter("bench")
    requests = meter.create_counter(names.REQUESTS_TOTAL)
    errors = meter.create_counter(names.ERRORS_TOTAL)
    in_flight = meter.create_gauge(names.IN_FLIGHT)
    latency = meter.create_histogram(names.LATENCY, unit="ms")
    tokens = meter.create_histogram(names.TOKEN_USAGE)
    for model, version, ms, count, failed in records:
        attributes = {names.MODEL_NAME: model, names.VERSION: version}
        in_flight.set(0, attributes)
        requests.add(1, attributes)
        latency.record(ms, attributes)
        if failed:
            errors.add(1, {names.ERROR_TYPE: "timeout", **attributes})
        else:
            tokens.record(count, {names.TOKEN_TYPE: "output", **attributes})
    return reader


# -- 2. Prometheus scrape -------------------------------------------------------------


def scrape(sizes: Sizes, metrics: Metrics, records: list[Record]) -> list[Row]:
    """Section 2: snapshot + render beside prometheus_client's ``generate_latest``."""
    plain, summaries = PrometheusExporter(quantiles=()), PrometheusExporter()
    prom.disable_created_metrics()  # type: ignore[no-untyped-call]  # ours has no _created
    try:
        registry = _prometheus_registry(records)
        outputs: dict[str, Callable[[], str]] = {
            "plain": lambda: plain.render(metrics.snapshot()),
            "summaries": lambda: summaries.render(metrics.snapshot()),
            "prom": lambda: prom.generate_latest(registry).decode(),
        }
        texts = {name: make() for name, make in outputs.items()}
        ns = _interleave({name: _timer(make) for name, make in outputs.items()}, sizes.repeats)
    finally:
        prom.enable_created_metrics()  # type: ignore[no-untyped-call]

    def shape(text: str) -> str:
        samples = sum(1 for line in text.splitlines() if not line.startswith("#"))
        return f"{_kib(len(text))}, {samples:,} samples"

    theirs = _ms(ns["prom"])
    return [
        Row(f"Prometheus scrape, {sizes.versions:,} versions: snapshot + render", _ms(ns["plain"]),
            theirs, ratio=f"{ns['plain'] / ns['prom']:.2f}x", target="ours/prom, info"),
        Row("  same + windowed quantile summaries (the default)", _ms(ns["summaries"]), theirs,
            ratio=f"{ns['summaries'] / ns['prom']:.2f}x", target="ours/prom, info"),
        Row("  text (without / with summaries)",
            f"{shape(texts['plain'])} / {shape(texts['summaries'])}", shape(texts["prom"])),
    ]  # fmt: skip


# -- 3. OTLP payload ------------------------------------------------------------------


def otlp(sizes: Sizes, metrics: Metrics, records: list[Record]) -> list[Row]:
    """Section 3: snapshot -> ``MetricsData`` -> protobuf, beside the SDK's collect + encode."""
    explicit = OTLPExporter(explicit_buckets={names.LATENCY: None, names.TOKEN_USAGE: None})
    rows: list[Row] = []
    for kind, exporter, reader in (
        ("explicit", explicit, _otel_reader(records, exponential=False)),
        ("exponential", OTLPExporter(), _otel_reader(records, exponential=True)),
    ):

        def ours(e: OTLPExporter = exporter) -> bytes:
            return bytes(encode_metrics(e._metrics_data(metrics.snapshot())).SerializeToString())

        def theirs(r: InMemoryMetricReader = reader) -> bytes:
            data = r.get_metrics_data()
            assert data is not None
            return bytes(encode_metrics(data).SerializeToString())

        size_ours, size_theirs = len(ours()), len(theirs())
        ns = _interleave({"ours": _timer(ours), "otel": _timer(theirs)}, sizes.repeats)
        exporter.close()
        rows += [
            Row(f"OTLP build + encode, {sizes.versions:,} versions, {kind} histograms",
                _ms(ns["ours"]), otel=_ms(ns["otel"]), ratio=f"{ns['ours'] / ns['otel']:.2f}x",
                target="ours/OTel, info"),
            Row(f"  protobuf payload ({kind})", _kib(size_ours), otel=_kib(size_theirs)),
        ]  # fmt: skip
    return rows


# -- 4. StatsD ------------------------------------------------------------------------


def statsd(sizes: Sizes, metrics: Metrics) -> list[Row]:
    """Section 4: one full StatsD / DogStatsD export, and the datadog client alone."""
    snapshot = metrics.snapshot()
    lines = DeltaTracker("", DEFAULT_FIRST_WINDOW).lines(snapshot)
    calls = [(ln.key, ln.value, [f"{k}:{v}" for k, v in ln.tags], ln.type) for ln in lines]
    last: dict[str, StatsDExporter | DogStatsDExporter] = {}
    with ExitStack() as stack:
        sink = _UdpSink()
        stack.callback(sink.close)
        client = DogStatsd(host=_HOST, port=sink.port, disable_telemetry=True, max_buffer_len=1432)
        stack.callback(client.close_socket)

        def export(kind: str) -> int:
            if kind == "statsd":
                exporter: StatsDExporter | DogStatsDExporter = StatsDExporter(_HOST, sink.port)
            else:
                exporter = DogStatsDExporter(_HOST, sink.port, origin_detection=False)
            last[kind] = exporter
            stack.callback(exporter.close)
            return _timed(lambda: exporter.export(snapshot))

        def datadog_alone() -> None:
            with client:  # buffered: packets of up to 1,432 bytes, as the exporters'
                for key, value, tags, kind in calls:
                    (client.count if kind == COUNTER else client.gauge)(key, value, tags=tags)

        runs = {
            "statsd": lambda: export("statsd"),
            "dog": lambda: export("dogstatsd"),
            "datadog": _timer(datadog_alone),
        }
        ns = _interleave(runs, sizes.repeats)
        time.sleep(0.2)  # let the sink drain the last packets
        received = sink.packets

    def sent(kind: str) -> str:
        r = last[kind].last_send
        return "n/a" if r is None else f"{r.lines:,} lines, {r.packets:,} packets, {_kib(r.bytes)}"

    label = f"{sizes.versions:,} versions, first export (every series)"
    return [
        Row(f"StatsDExporter.export, {label}", _ms(ns["statsd"])),
        Row(f"  {sent('statsd')}"),
        Row(f"DogStatsDExporter.export, {label}", _ms(ns["dog"]),
            ratio=f"{ns['dog'] / ns['datadog']:.2f}x", target="/ datadog alone, info"),
        Row(f"  {sent('dogstatsd')}"),
        Row("  datadog DogStatsd alone: the same lines, tags pre-built", _ms(ns["datadog"])),
        Row(f"  UDP packets received by the sink over all runs: {received:,}"),
    ]  # fmt: skip


# -- main -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print one table; 1 if a target is missed, else 0."""
    parser = argparse.ArgumentParser(prog="backends", description="Backend exporter benchmarks.")
    parser.add_argument("--quick", action="store_true", help="scaled-down sizes")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL

    def run() -> list[Row]:
        with _quiet_logs():
            rows = run_section("recording", lambda: recording(sizes))
            metrics, records = _populated(sizes)
            rows += run_section("prometheus", lambda: scrape(sizes, metrics, records))
            rows += run_section("otlp", lambda: otlp(sizes, metrics, records))
            rows += run_section("statsd", lambda: statsd(sizes, metrics))
        return rows

    return report(
        f"{'quick' if args.quick else 'full'}; {sizes.repeats} interleaved repeats, "
        "median; gc disabled in timed loops",
        run,
    )


if __name__ == "__main__":
    sys.exit(main())
