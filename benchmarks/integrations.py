"""What the integrations cost on the request path, printed as one table.

``python benchmarks/integrations.py`` runs the full sizes, ``--quick`` scaled-down
ones, ``--server`` adds a real server loaded by ``wrk`` (not with ``--quick``).
Every ratio is measured within the run that prints it:

1. ns per call of a no-op function decorated with ``track_inference`` (a bus with an
   ``InferenceCollector``), beside the same function undecorated, hand-written
   prometheus_client instrumentation (in-flight Gauge, Counter, Histogram, each
   ``.labels(model, version)`` per call) and the OpenTelemetry SDK's (an up/down
   counter, a counter and a histogram with attributes; then also a tracer span):
   sync and async functions, a sync generator of 20 chunks, ``inference_span``.
2. ns per request of ``MetricsMiddleware`` called directly (no server, no sockets)
   around a trivial ASGI app and around a one-route FastAPI app, beside no
   middleware, a hand-written prometheus_client middleware of the same shape
   (duration Histogram by route/method/status, in-flight Gauge) and
   ``opentelemetry-instrumentation-asgi``'s ``OpenTelemetryMiddleware`` (a
   MeterProvider, and a TracerProvider with no exporter, sampled or sampled off).
3. ``--server``: req/s of uvicorn (``integrations.server.serve_app``) serving the
   FastAPI app with each middleware, loaded by ``wrk`` in turns, A, B, C, D, A, ...,
   and the CPU time the server thread spent per request (what wrk's own share of
   the two cores cannot blur).

Batches are interleaved after a warm-up each and medians shown; the cyclic garbage
collector is off inside timed loops. Every row is information: ``main`` returns 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import prometheus_client as prom
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from benchmarks.hot_path import Row, _interleave, _timed, report, run_section
from collectors.inference import InferenceCollector
from integrations._asgi import ASGIApp, Message, Receive, Scope, Send
from integrations.asgi import MetricsMiddleware
from integrations.tracking import inference_span, track_inference
from metrics_core.bus import EventBus
from metrics_core.facade import Metrics
from metrics_core.registry.aggregating import DEFAULT_TIMER_BUCKETS_MS

_P = ParamSpec("_P")
_R = TypeVar("_R")
_MODEL, _VERSION = "chat", "v1"
_ATTRIBUTES = {"model_name": _MODEL, "version": _VERSION}
_CHUNKS = 20
_ROUTE = "/items/{item_id}"
_BUCKETS_S = [b / 1000 for b in DEFAULT_TIMER_BUCKETS_MS]
_PACKAGES = ("opentelemetry-instrumentation-asgi", "fastapi", "starlette", "uvicorn")


@dataclass(frozen=True)
class Sizes:
    """How big each part of a run is."""

    calls: int  # per decorator batch
    requests: int  # per ASGI batch
    repeats: int
    server_seconds: float  # per wrk run
    server_rounds: int


FULL = Sizes(calls=10_000, requests=3_000, repeats=7, server_seconds=3.0, server_rounds=5)
QUICK = Sizes(calls=2_000, requests=600, repeats=5, server_seconds=2.0, server_rounds=3)


def _wired() -> Metrics:
    return Metrics(bus=EventBus()).collect(InferenceCollector())


def _ns(value: float) -> str:
    return f"{value:,.0f} ns"


def _compare(measure: str, ns: dict[str, float], ours: str, prom_: str, otel: str) -> Row:
    """A row of three contenders; the ratio cell holds ours/prom and OTel/ours."""
    return Row(
        measure,
        _ns(ns[ours]),
        _ns(ns[prom_]),
        _ns(ns[otel]),
        ratio=f"ours/prom {ns[ours] / ns[prom_]:.2f}x, OTel/ours {ns[otel] / ns[ours]:.2f}x",
    )


def _drive(coroutine: Coroutine[Any, Any, object]) -> None:
    """Run a coroutine that never suspends, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("the benchmarked coroutine suspended: it needs an event loop")


# -- the contenders' hand-written instrumentation -------------------------------------


class _Prometheus:
    """What one would write by hand with prometheus_client, per model version."""

    def __init__(self) -> None:
        registry, labels = prom.CollectorRegistry(), ["model_name", "version"]
        self.requests = prom.Counter("requests", "Requests.", labels, registry=registry)
        self.errors = prom.Counter("errors", "Errors.", [*labels, "error_type"], registry=registry)
        self.latency = prom.Histogram(
            "latency_seconds", "Latency.", labels, registry=registry, buckets=_BUCKETS_S
        )
        self.ttft = prom.Histogram(
            "ttft_seconds", "TTFT.", labels, registry=registry, buckets=_BUCKETS_S
        )
        self.chunks = prom.Histogram("chunks", "Chunks.", labels, registry=registry)
        self.in_flight = prom.Gauge("in_flight", "In flight.", labels, registry=registry)

    def function(self, func: Callable[_P, _R]) -> Callable[_P, _R]:
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            gauge = self.in_flight.labels(_MODEL, _VERSION)
            gauge.inc()
            start = time.perf_counter()
            try:
                result = func(*args, **kwargs)
            except BaseException as error:
                self.errors.labels(_MODEL, _VERSION, type(error).__name__).inc()
                raise
            finally:
                self.requests.labels(_MODEL, _VERSION).inc()
                self.latency.labels(_MODEL, _VERSION).observe(time.perf_counter() - start)
                gauge.dec()
            return result

        return wrapper

    def coroutine(self, func: Callable[_P, Awaitable[_R]]) -> Callable[_P, Coroutine[Any, Any, _R]]:
        async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            gauge = self.in_flight.labels(_MODEL, _VERSION)
            gauge.inc()
            start = time.perf_counter()
            try:
                result = await func(*args, **kwargs)
            except BaseException as error:
                self.errors.labels(_MODEL, _VERSION, type(error).__name__).inc()
                raise
            finally:
                self.requests.labels(_MODEL, _VERSION).inc()
                self.latency.labels(_MODEL, _VERSION).observe(time.perf_counter() - start)
                gauge.dec()
            return result

        return wrapper

    def generator(self, func: Callable[_P, Iterator[_R]]) -> Callable[_P, Iterator[_R]]:
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Iterator[_R]:
            gauge = self.in_flight.labels(_MODEL, _VERSION)
            gauge.inc()
            start, chunks = time.perf_counter(), 0
            try:
                for item in func(*args, **kwargs):
                    if not chunks:
                        self.ttft.labels(_MODEL, _VERSION).observe(time.perf_counter() - start)
                    chunks += 1
                    yield item
            except BaseException as error:
                self.errors.labels(_MODEL, _VERSION, type(error).__name__).inc()
                raise
            finally:
                self.requests.labels(_MODEL, _VERSION).inc()
                self.latency.labels(_MODEL, _VERSION).observe(time.perf_counter() - start)
                self.chunks.labels(_MODEL, _VERSION).observe(chunks)
                gauge.dec()

        return wrapper

    def block(self) -> None:
        """The idiomatic context managers around an empty block."""
        with (
            self.in_flight.labels(_MODEL, _VERSION).track_inprogress(),
            self.latency.labels(_MODEL, _VERSION).time(),
        ):
            self.requests.labels(_MODEL, _VERSION).inc()


class _OTel:
    """The same with the OpenTelemetry SDK; ``spans`` adds a tracer span per call."""

    def __init__(self, spans: bool) -> None:
        meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("bench")
        self.requests = meter.create_counter("requests")
        self.errors = meter.create_counter("errors")
        self.latency = meter.create_histogram("latency", unit="ms")
        self.ttft = meter.create_histogram("ttft", unit="ms")
        self.chunks = meter.create_histogram("chunks")
        self.in_flight = meter.create_up_down_counter("in_flight")
        self.tracer = TracerProvider().get_tracer("bench") if spans else None

    def _failed(self, error: BaseException) -> None:
        self.errors.add(1, {**_ATTRIBUTES, "error_type": type(error).__name__})

    def _done(self, start: float) -> None:
        self.requests.add(1, _ATTRIBUTES)
        self.latency.record((time.perf_counter() - start) * 1000, _ATTRIBUTES)
        self.in_flight.add(-1, _ATTRIBUTES)

    def function(self, func: Callable[_P, _R]) -> Callable[_P, _R]:
        def metered(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            self.in_flight.add(1, _ATTRIBUTES)
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            except BaseException as error:
                self._failed(error)
                raise
            finally:
                self._done(start)

        tracer = self.tracer
        if tracer is None:
            return metered

        def traced(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with tracer.start_as_current_span("inference", attributes=_ATTRIBUTES):
                return metered(*args, **kwargs)

        return traced

    def coroutine(self, func: Callable[_P, Awaitable[_R]]) -> Callable[_P, Coroutine[Any, Any, _R]]:
        async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            self.in_flight.add(1, _ATTRIBUTES)
            start = time.perf_counter()
            try:
                return await func(*args, **kwargs)
            except BaseException as error:
                self._failed(error)
                raise
            finally:
                self._done(start)

        return wrapper

    def generator(self, func: Callable[_P, Iterator[_R]]) -> Callable[_P, Iterator[_R]]:
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Iterator[_R]:
            self.in_flight.add(1, _ATTRIBUTES)
            start, chunks = time.perf_counter(), 0
            try:
                for item in func(*args, **kwargs):
                    if not chunks:
                        self.ttft.record((time.perf_counter() - start) * 1000, _ATTRIBUTES)
                    chunks += 1
                    yield item
            except BaseException as error:
                self._failed(error)
                raise
            finally:
                self.chunks.record(chunks, _ATTRIBUTES)
                self._done(start)

        return wrapper

    def block(self) -> None:
        """The same updates inline around an empty block."""
        self.in_flight.add(1, _ATTRIBUTES)
        start = time.perf_counter()
        try:
            pass
        finally:
            self._done(start)


# -- 1. the decorator -----------------------------------------------------------------


def _echo(k: int) -> int:
    return k


async def _echo_async(k: int) -> int:
    return k


def _stream(k: int) -> Iterator[int]:
    yield from range(k, k + _CHUNKS)


def _sync_runner(func: Callable[[int], object], calls: int) -> Callable[[], int]:
    def loop() -> None:
        for k in range(calls):
            func(k)

    return lambda: _timed(loop)


def _async_runner(func: Callable[[int], Awaitable[object]], calls: int) -> Callable[[], int]:
    async def batch() -> None:
        for k in range(calls):
            await func(k)

    return lambda: _timed(lambda: _drive(batch()))


def _stream_runner(func: Callable[[int], Iterator[int]], calls: int) -> Callable[[], int]:
    def loop() -> None:
        for k in range(calls):
            for _ in func(k):
                pass

    return lambda: _timed(loop)


def _block_runner(block: Callable[[], object], calls: int) -> Callable[[], int]:
    def loop() -> None:
        for _ in range(calls):
            block()

    return lambda: _timed(loop)


def decorator(sizes: Sizes) -> list[Row]:
    """Section 1: ns per call of decorated functions, ours beside the hand-written ones."""
    n, metrics = sizes.calls, _wired()
    ours = track_inference(_MODEL, _VERSION, bus=metrics)
    idle = track_inference(_MODEL, _VERSION, bus=EventBus())  # a bus nobody listens to
    hand, otel, traced = _Prometheus(), _OTel(spans=False), _OTel(spans=True)

    def span_block() -> None:
        with inference_span(_MODEL, _VERSION, bus=metrics):
            pass

    def otel_span_block() -> None:
        assert traced.tracer is not None
        with traced.tracer.start_as_current_span("inference", attributes=_ATTRIBUTES):
            traced.block()

    cases: list[tuple[str, dict[str, Callable[[], int]]]] = [
        ("sync function", {
            "bare": _sync_runner(_echo, n),
            "ours": _sync_runner(ours(_echo), n),
            "idle": _sync_runner(idle(_echo), n),
            "prom": _sync_runner(hand.function(_echo), n),
            "otel": _sync_runner(otel.function(_echo), n),
            "span": _sync_runner(traced.function(_echo), n),
        }),
        ("async function", {
            "bare": _async_runner(_echo_async, n),
            "ours": _async_runner(ours(_echo_async), n),
            "prom": _async_runner(hand.coroutine(_echo_async), n),
            "otel": _async_runner(otel.coroutine(_echo_async), n),
        }),
        (f"sync generator, {_CHUNKS} chunks", {
            "bare": _stream_runner(_stream, n // 4),
            "ours": _stream_runner(ours(_stream), n // 4),
            "prom": _stream_runner(hand.generator(_stream), n // 4),
            "otel": _stream_runner(otel.generator(_stream), n // 4),
        }),
        ("'with inference_span()', empty block", {
            "bare": _block_runner(lambda: None, n),
            "ours": _block_runner(span_block, n),
            "prom": _block_runner(hand.block, n),
            "otel": _block_runner(otel.block, n),
            "span": _block_runner(otel_span_block, n),
        }),
    ]  # fmt: skip
    rows: list[Row] = []
    for label, runners in cases:
        calls = n // 4 if "generator" in label else n
        ns = {k: v / calls for k, v in _interleave(runners, sizes.repeats).items()}
        bare = ns.pop("bare")
        added = {k: v - bare for k, v in ns.items()}
        rows += [
            _compare(f"{label}: ns per call", ns, "ours", "prom", "otel"),
            _compare("  added to the bare call", added, "ours", "prom", "otel"),
            Row(f"  bare call ({'empty loop step' if 'with' in label else 'undecorated'})",
                _ns(bare)),
        ]  # fmt: skip
        if "span" in ns:
            rows.append(
                Row("  OTel with a tracer span too (recorded, no exporter)", otel=_ns(ns["span"]),
                    ratio=f"OTel/ours {ns['span'] / ns['ours']:.2f}x")
            )  # fmt: skip
        if "idle" in ns:
            rows.append(Row("  ours on a bus with no collector", _ns(ns["idle"])))
    return rows


# -- 2. ASGI middleware, called directly ----------------------------------------------


async def _trivial_app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def _fastapi_app() -> ASGIApp:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get(_ROUTE)
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    return app


def _fixed_route(scope: Scope) -> str:
    return _ROUTE


class _PrometheusMiddleware:
    """A hand-written pure-ASGI prometheus_client middleware of the same shape as ours."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        registry = prom.CollectorRegistry()
        self.duration = prom.Histogram(
            "http_server_request_duration_seconds",
            "Duration.",
            ["http_route", "http_request_method", "http_response_status_code"],
            registry=registry,
            buckets=_BUCKETS_S,
        )
        self.active = prom.Gauge(
            "http_server_active_requests", "In flight.", ["http_request_method"], registry=registry
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, status = scope["method"], 500
        gauge = self.active.labels(method)
        gauge.inc()
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path_format", None) or _ROUTE
            self.duration.labels(route, method, str(status)).observe(time.perf_counter() - start)
            gauge.dec()


def _otel_middleware(app: ASGIApp, sampled: bool) -> ASGIApp:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    tracers = TracerProvider() if sampled else TracerProvider(sampler=ALWAYS_OFF)
    wrapped: ASGIApp = OpenTelemetryMiddleware(app, tracer_provider=tracers, meter_provider=meters)
    return wrapped


def _scope() -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/items/42",
        "raw_path": b"/items/42",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


def _asgi_runner(app: ASGIApp, requests: int, loop: asyncio.AbstractEventLoop) -> Callable[[], int]:
    template = _scope()
    request: Message = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> Message:
        return request

    async def send(message: Message) -> None:
        pass

    async def batch() -> None:
        for _ in range(requests):
            scope = dict(template)  # the app may write to its scope
            scope["state"] = {}
            await app(scope, receive, send)

    return lambda: _timed(lambda: loop.run_until_complete(batch()))


def asgi(sizes: Sizes) -> list[Row]:
    """Section 2: ns per request through each middleware, called directly."""
    rows: list[Row] = []
    loop = asyncio.new_event_loop()
    try:
        for label, app, route_of in (
            ("trivial ASGI app", _trivial_app, _fixed_route),
            ("one-route FastAPI app", _fastapi_app(), None),
        ):
            apps: dict[str, ASGIApp] = {
                "bare": app,
                "ours": MetricsMiddleware(app, _wired(), route_of=route_of),
                "prom": _PrometheusMiddleware(app),
                "otel": _otel_middleware(app, sampled=True),
                "unsampled": _otel_middleware(app, sampled=False),
            }
            n = sizes.requests
            runners = {name: _asgi_runner(each, n, loop) for name, each in apps.items()}
            ns = {k: v / n for k, v in _interleave(runners, sizes.repeats).items()}
            bare = ns.pop("bare")
            added = {k: v - bare for k, v in ns.items()}
            rows += [
                _compare(f"ASGI, {label}: ns per request", ns, "ours", "prom", "otel"),
                _compare("  added by the middleware", added, "ours", "prom", "otel"),
                Row("  no middleware", _ns(bare)),
                Row("  OTel with the tracer sampling off: per request, added",
                    otel=f"{_ns(ns['unsampled'])}, {_ns(added['unsampled'])}",
                    ratio=f"OTel/ours {added['unsampled'] / added['ours']:.2f}x (added)"),
            ]  # fmt: skip
    finally:
        loop.close()
    return rows


# -- 3. a real server under wrk -------------------------------------------------------


def _thread_cpu_s(thread: threading.Thread) -> float:
    """CPU seconds (user + system) ``thread`` has used, from /proc."""
    stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(url: str, seconds: float, connections: int) -> tuple[float, int]:
    """Requests per second and requests done, from one ``wrk -t1`` run."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(next(ln for ln in out.splitlines() if "Requests/sec" in ln).split()[-1])
    done = int(next(ln for ln in out.splitlines() if "requests in" in ln).split()[0])
    return rate, done


def server(sizes: Sizes, connections: int = 8) -> list[Row]:
    """Section 3: uvicorn + FastAPI under wrk, each middleware in turn, A, B, C, D, A, ..."""
    if shutil.which("wrk") is None:
        return [Row("server throughput", "n/a (wrk not installed)")]
    from integrations.server import serve_app

    builders: dict[str, Callable[[ASGIApp], ASGIApp]] = {
        "bare": lambda app: app,
        "ours": lambda app: MetricsMiddleware(app, _wired()),
        "prom": _PrometheusMiddleware,
        "otel": lambda app: _otel_middleware(app, sampled=True),
    }
    servers = {name: serve_app(build(_fastapi_app())) for name, build in builders.items()}
    rates: dict[str, list[float]] = {name: [] for name in servers}
    cpu: dict[str, list[float]] = {name: [] for name in servers}
    try:
        threads = {t.name: t for t in threading.enumerate()}
        for running in servers.values():  # warm-up
            _wrk(f"{running.url}/items/42", 1, connections)
        for _ in range(sizes.server_rounds):
            for name, running in servers.items():
                thread = threads[f"uvicorn-{running.port}"]
                before = _thread_cpu_s(thread)
                rate, done = _wrk(f"{running.url}/items/42", sizes.server_seconds, connections)
                rates[name].append(rate)
                cpu[name].append((_thread_cpu_s(thread) - before) / done * 1e6)
    finally:
        for running in servers.values():
            running.stop()
    rps = {name: statistics.median(values) for name, values in rates.items()}
    us = {name: statistics.median(values) for name, values in cpu.items()}

    def spread(name: str) -> str:
        return f"{min(rates[name]):,.0f}..{max(rates[name]):,.0f}"

    label = (
        f"wrk -t1 -c{connections}, {sizes.server_rounds} x {sizes.server_seconds:g} s each, median"
    )
    return [
        Row(f"server: uvicorn + FastAPI, req/s ({label})", f"{rps['ours']:,.0f}",
            f"{rps['prom']:,.0f}", f"{rps['otel']:,.0f}",
            ratio=f"ours/none {rps['ours'] / rps['bare']:.3f}x, "
                  f"prom/none {rps['prom'] / rps['bare']:.3f}x, "
                  f"OTel/none {rps['otel'] / rps['bare']:.3f}x"),
        Row("  req/s, no middleware", f"{rps['bare']:,.0f}"),
        Row("  req/s min..max over the rounds", spread("ours"), spread("prom"), spread("otel")),
        Row("  server thread CPU per request (no middleware: "
            f"{us['bare']:,.0f} us)", f"{us['ours']:,.0f} us", f"{us['prom']:,.0f} us",
            f"{us['otel']:,.0f} us",
            ratio=f"added: ours {us['ours'] - us['bare']:+,.0f} us, "
                  f"prom {us['prom'] - us['bare']:+,.0f} us, "
                  f"OTel {us['otel'] - us['bare']:+,.0f} us"),
    ]  # fmt: skip


# -- main -----------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "missing"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print one table; always 0 (every row is information)."""
    parser = argparse.ArgumentParser(prog="integrations", description="Integration benchmarks.")
    parser.add_argument("--quick", action="store_true", help="scaled-down sizes")
    parser.add_argument("--server", action="store_true", help="also load uvicorn with wrk")
    args = parser.parse_args(argv)
    if args.quick and args.server:
        parser.error("--server is not part of --quick")
    sizes = QUICK if args.quick else FULL

    def run() -> list[Row]:
        rows = run_section("decorator", lambda: decorator(sizes))
        rows += run_section("asgi", lambda: asgi(sizes))
        if args.server:
            rows += run_section("server", lambda: server(sizes))
        return rows

    versions = ", ".join(f"{name} {_version(name)}" for name in _PACKAGES)
    return report(
        f"{'quick' if args.quick else 'full'}; {sizes.calls:,} calls / {sizes.requests:,} "
        f"requests per batch, {sizes.repeats} interleaved repeats, median; gc disabled in "
        f"timed loops; {versions}",
        run,
    )


if __name__ == "__main__":
    sys.exit(main())
