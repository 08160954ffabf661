"""Hot-path, query, snapshot and memory benchmarks, printed as one table.

``python benchmarks/hot_path.py`` runs the full sizes, ``--quick`` scaled-down ones,
``--breakdown`` adds rows timing each piece of one event, of the render and of a slot
rotation. Every number is measured in the run that prints it:

1. ns per event through ``bus.emit(InferenceCompleted(...))`` -> ``InferenceCollector``
   -> ``AggregatingRegistry`` (three updates: requests, latency, output tokens), beside
   prometheus_client and the OpenTelemetry SDK making the same three updates.
2. p50/p95/p99 of a 5-minute window holding 100k latencies (``Metrics.get_metrics``).
3. ``snapshot()`` plus ``ConsoleExporter.render`` of 1,000 model versions.
4. RSS over 2M events into 6 versions (well past 1 h of retention), and the traced
   bytes of one latency series filled with an hour of traffic.

Timed loops run with the cyclic garbage collector disabled (refcounting still frees;
the collector runs between batches). Contenders' batches are interleaved (A, B, C, A,
B, C, ...) after one warm-up batch each, so machine noise hits all alike, and the
median batch is reported. ``main`` returns 1 when a target is missed, else 0.
"""

from __future__ import annotations

import argparse
import gc
import io
import math
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors.inference import InferenceCollector
from exporters.console import ConsoleExporter
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import InferenceCompleted
from metrics_core.facade import Metrics
from metrics_core.query import all_version_metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.registry.aggregating import DEFAULT_HISTOGRAM_BUCKETS, DEFAULT_TIMER_BUCKETS_MS
from metrics_core.snapshot import DistributionSeries
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

_PAIRS = tuple((m, v) for m in ("gpt-small", "bert-base", "resnet50") for v in ("v1", "v2"))
_MIB = 1024 * 1024
_START = 1_700_000_000.0

Work = list[tuple[str, str, float, int]]
"""Per event: model, version, duration (ms), output tokens."""


@dataclass(frozen=True)
class Sizes:
    """How big each part of a run is."""

    batch: int
    repeats: int
    query_events: int
    versions: int
    events_per_version: int
    rss_checkpoints: tuple[int, ...]
    series_seconds: int
    dense_rate: int


FULL = Sizes(
    batch=50_000,
    repeats=7,
    query_events=100_000,
    versions=1_000,
    events_per_version=20,
    rss_checkpoints=(200_000, 1_000_000, 2_000_000),
    series_seconds=3_600,
    dense_rate=1_000,
)
QUICK = Sizes(
    batch=10_000,
    repeats=5,
    query_events=100_000,
    versions=1_000,
    events_per_version=20,
    rss_checkpoints=(20_000, 60_000, 100_000),
    series_seconds=3_600,
    dense_rate=300,
)


@dataclass(frozen=True)
class Row:
    """One line of the table; ``passed`` is ``None`` for information rows."""

    measure: str
    ours: str = "-"
    prometheus: str = "-"
    otel: str = "-"
    ratio: str = "-"
    target: str = "info"
    passed: bool | None = None


def _check(measure: str, ours: str, target: str, passed: bool) -> Row:
    return Row(measure, ours, target=target, passed=passed)


# -- helpers --------------------------------------------------------------------------


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Disable the cyclic collector for a timed loop."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _timed(loop: Callable[[], object]) -> int:
    """Nanoseconds ``loop()`` takes, with the cyclic collector paused."""
    with _gc_paused():
        start = time.perf_counter_ns()
        loop()
        return time.perf_counter_ns() - start


def _interleave(contenders: dict[str, Callable[[], int]], repeats: int) -> dict[str, float]:
    """Median of each contender's batch: one warm-up each, then A, B, C, A, B, C, ..."""
    for run in contenders.values():
        run()
    samples: dict[str, list[int]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            samples[name].append(run())
    return {name: statistics.median(values) for name, values in samples.items()}


def _latencies(count: int, seed: int = 7, sigma: float = 0.6) -> list[float]:
    """Lognormal latencies in ms, median 80 ms; sigma 0.6 puts p99 near 325 ms."""
    rng = random.Random(seed)
    mu = math.log(80.0)
    return [rng.lognormvariate(mu, sigma) for _ in range(count)]


def _work(count: int) -> Work:
    latencies = _latencies(count)
    rng = random.Random(11)
    return [(*_PAIRS[k % len(_PAIRS)], latencies[k], rng.randint(20, 800)) for k in range(count)]


def _events(work: Work) -> list[InferenceCompleted]:
    return [
        InferenceCompleted(model_name=m, version=v, duration_ms=ms, output_tokens=t)
        for m, v, ms, t in work
    ]


def _wired(clock: ManualClock | None = None) -> Metrics:
    registry = AggregatingRegistry(clock=clock)
    return Metrics(bus=EventBus(), registry=registry).collect(InferenceCollector())


def _exact_quantile(ordered: Sequence[float], q: float) -> float:
    """numpy's default ('linear') quantile of sorted values."""
    h = q * (len(ordered) - 1)
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


# -- 1. the hot path ------------------------------------------------------------------


def _ours_built(metrics: Metrics, work: Work) -> Callable[[], int]:
    def run() -> int:
        bus, event = metrics.bus, InferenceCompleted
        with _gc_paused():
            start = time.perf_counter_ns()
            for model, version, ms, tokens in work:
                bus.emit(
                    event(model_name=model, version=version, duration_ms=ms, output_tokens=tokens)
                )
            return time.perf_counter_ns() - start

    return run


def _ours_prebuilt(metrics: Metrics, events: list[InferenceCompleted]) -> Callable[[], int]:
    def run() -> int:
        bus = metrics.bus
        with _gc_paused():
            start = time.perf_counter_ns()
            for event in events:
                bus.emit(event)
            return time.perf_counter_ns() - start

    return run


def _prometheus(work: Work) -> Callable[[], int] | None:
    try:
        import prometheus_client as prom
    except ImportError:
        return None
    registry = prom.CollectorRegistry()
    labels = ["model_name", "version"]
    requests = prom.Counter("model_inference_requests", "Requests.", labels, registry=registry)
    latency = prom.Histogram(
        "model_inference_latency_seconds",
        "Latency.",
        labels,
        registry=registry,
        buckets=[b / 1000 for b in DEFAULT_TIMER_BUCKETS_MS],
    )
    tokens = prom.Histogram(
        "gen_ai_client_token_usage",
        "Output tokens.",
        labels,
        registry=registry,
        buckets=list(DEFAULT_HISTOGRAM_BUCKETS),
    )
    in_seconds = [(m, v, ms / 1000, t) for m, v, ms, t in work]

    def run() -> int:
        req, lat, tok = requests, latency, tokens
        with _gc_paused():
            start = time.perf_counter_ns()
            for model, version, seconds, count in in_seconds:
                req.labels(model, version).inc()
                lat.labels(model, version).observe(seconds)
                tok.labels(model, version).observe(count)
            return time.perf_counter_ns() - start

    return run


def _otel(work: Work) -> Callable[[], int] | None:
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    except ImportError:
        return None
    meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("benchmarks")
    requests = meter.create_counter("model_inference_requests")
    latency = meter.create_histogram("model_inference_latency", unit="ms")
    tokens = meter.create_histogram("gen_ai.client.token.usage")

    def run() -> int:
        req, lat, tok = requests, latency, tokens
        with _gc_paused():
            start = time.perf_counter_ns()
            for model, version, ms, count in work:
                attributes = {"model_name": model, "version": version}
                req.add(1, attributes)
                lat.record(ms, attributes)
                tok.record(count, attributes)
            return time.perf_counter_ns() - start

    return run


def hot_path(sizes: Sizes) -> list[Row]:
    """Section 1: ns per event, ours beside prometheus_client and the OTel SDK."""
    work = _work(sizes.batch)
    metrics = _wired()
    contenders = {
        "built": _ours_built(metrics, work),
        "prebuilt": _ours_prebuilt(metrics, _events(work)),
    }
    for name, runner in (("prom", _prometheus(work)), ("otel", _otel(work))):
        if runner is not None:
            contenders[name] = runner
    ns = {k: v / sizes.batch for k, v in _interleave(contenders, sizes.repeats).items()}
    prom, otel = ns.get("prom"), ns.get("otel")

    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:,.0f} ns"

    rows = []
    for label, key in (("event built per call + emit", "built"), ("pre-built event", "prebuilt")):
        ours = ns[key]
        rows.append(Row(f"{label}, ns/event", cell(ours), cell(prom), cell(otel)))
        if prom is not None:
            ratio = ours / prom
            rows.append(
                Row(
                    f"  ours / prometheus_client ({key})",
                    ratio=f"{ratio:.2f}x",
                    target="<= 1.0x (aim 0.5x)",
                    passed=ratio <= 1.0,
                )
            )
        if otel is not None:
            ratio = otel / ours
            rows.append(
                Row(
                    f"  OTel / ours ({key})",
                    ratio=f"{ratio:.2f}x",
                    target=">= 4x",
                    passed=ratio >= 4.0,
                )
            )
    return rows


# -- 2. the windowed query ------------------------------------------------------------


def query(sizes: Sizes) -> list[Row]:
    """Section 2: ``get_metrics`` over 5 minutes holding ``query_events`` latencies."""
    clock = ManualClock(_START)
    metrics = _wired(clock)
    window = 300.0
    latencies = _latencies(sizes.query_events, seed=3)
    for k, ms in enumerate(latencies):
        # Set, not advanced: summed float steps would drift past the window's first slot.
        clock.set(_START + k * window / sizes.query_events)
        metrics.bus.emit(InferenceCompleted(model_name="gpt-small", version="v2", duration_ms=ms))
    for _ in range(7):
        metrics.get_metrics("gpt-small", "v2", window)
    samples = [_timed(lambda: metrics.get_metrics("gpt-small", "v2", window)) for _ in range(101)]
    result = metrics.get_metrics("gpt-small", "v2", window)
    ordered = sorted(latencies)
    got = (result.p50_latency_ms, result.p95_latency_ms, result.p99_latency_ms)
    qs = (0.5, 0.95, 0.99)
    error = max(abs(g / _exact_quantile(ordered, q) - 1) for g, q in zip(got, qs, strict=True))
    ms = statistics.median(samples) / 1e6
    return [
        _check(
            f"p50/p95/p99 of a 5-min window, {sizes.query_events:,} events, ms",
            f"{ms:.3f} ms",
            "<= 1 ms",
            ms <= 1.0,
        ),
        Row(
            f"  requests in window {result.request_count:,}; max quantile error vs exact",
            f"{error * 100:.2f} %",
        ),
    ]


# -- 3. snapshot and console render ---------------------------------------------------


def _many_versions(sizes: Sizes) -> Metrics:
    """``sizes.versions`` versions with ``events_per_version`` events each, over a minute."""
    clock = ManualClock(_START)
    metrics = _wired(clock)
    versions = [(f"model-{k // 10:03d}", f"v{k % 10}") for k in range(sizes.versions)]
    total = sizes.versions * sizes.events_per_version
    latencies = _latencies(total, seed=5)
    for k in range(total):
        clock.set(_START + k * 60.0 / total)
        model, version = versions[k % sizes.versions]
        metrics.bus.emit(
            InferenceCompleted(
                model_name=model,
                version=version,
                duration_ms=latencies[k],
                output_tokens=50 + k % 200,
            )
        )
    return metrics


def snapshot_render(sizes: Sizes) -> list[Row]:
    """Section 3: snapshot and console render of ``sizes.versions`` versions."""
    metrics = _many_versions(sizes)
    exporter = ConsoleExporter(stream=io.StringIO())
    snapshot = metrics.snapshot()
    shown = exporter.render(snapshot).count("\n") - 2  # less the title and column headers
    if shown != sizes.versions:
        raise RuntimeError(f"rendered {shown} versions, expected {sizes.versions}")
    ns = _interleave(
        {
            "both": lambda: _timed(lambda: exporter.render(metrics.snapshot())),
            "snapshot": lambda: _timed(metrics.snapshot),
            "render": lambda: _timed(lambda: exporter.render(snapshot)),
        },
        max(sizes.repeats, 7),
    )
    ms = {name: value / 1e6 for name, value in ns.items()}
    label = f"{sizes.versions:,} versions ({len(snapshot):,} series)"
    return [
        _check(
            f"snapshot + console render, {label}, ms",
            f"{ms['both']:.1f} ms",
            "<= 100 ms",
            ms["both"] <= 100.0,
        ),
        Row("  snapshot() alone, ms", f"{ms['snapshot']:.1f} ms"),
        Row("  ConsoleExporter.render(snapshot) alone, ms", f"{ms['render']:.1f} ms"),
    ]


# -- 4. memory ------------------------------------------------------------------------


def rss(sizes: Sizes) -> list[Row]:
    """Section 4a: process RSS while 6 versions record far past one hour of retention."""
    try:
        import psutil
    except ImportError:
        return [Row("RSS growth", "n/a (psutil missing)")]
    process = psutil.Process()
    checkpoints = sizes.rss_checkpoints
    # 65 simulated minutes by the first checkpoint: every ring is full from there on.
    step = 3_900.0 / checkpoints[0]
    clock = ManualClock(_START)
    metrics = _wired(clock)
    pool = _work(10_007)
    readings: list[tuple[int, int]] = []
    done = 0
    started = time.perf_counter()
    for checkpoint in checkpoints:
        emit = metrics.bus.emit
        for k in range(done, checkpoint):
            clock.set(_START + k * step)
            model, version, ms, tokens = pool[k % len(pool)]
            emit(
                InferenceCompleted(
                    model_name=model, version=version, duration_ms=ms, output_tokens=tokens
                )
            )
        done = checkpoint
        gc.collect()
        readings.append((checkpoint, int(process.memory_info().rss)))
    elapsed = time.perf_counter() - started
    growth = readings[-1][1] - readings[0][1]
    return [
        _check(
            f"RSS growth {checkpoints[0]:,} -> {checkpoints[-1]:,} events, 6 versions",
            f"{growth / _MIB:+.2f} MiB",
            "flat (<= 1 MiB)",
            growth <= _MIB,
        ),
        *(
            Row(
                f"  RSS after {n:,} events ({n * step / 3600:.1f} h simulated)",
                f"{value / _MIB:.1f} MiB",
            )
            for n, value in readings
        ),
        Row(f"  {done:,} events recorded in {elapsed:.1f} s (clock-driven slot rotations)"),
    ]


def series_bytes(rate: int, seconds: int, sigma: float = 0.6) -> Row:
    """Section 4b: traced bytes of one latency series after ``seconds`` at ``rate``/s.

    ``sigma`` is the lognormal spread: the wider it is, the more buckets each slot spans.
    """
    pool = _latencies(100_003, seed=rate, sigma=sigma)
    clock = ManualClock(_START)
    registry = AggregatingRegistry(clock=clock)
    tags = Tags({names.MODEL_NAME: "gpt-small", names.VERSION: "v1"})
    # A first series, untraced: what the process pays once (type caches of the code
    # paths a series takes) is not a cost of the series measured.
    warm = registry.instrument(MetricKind.TIMER, names.LATENCY, Tags({names.MODEL_NAME: "warm"}))
    for k in range(rate * 70):
        clock.set(_START + k / rate)
        warm.record(pool[k % len(pool)])
    clock.set(_START)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        record = registry.instrument(MetricKind.TIMER, names.LATENCY, tags).record
        size = len(pool)
        for k in range(rate * seconds):
            clock.set(_START + k / rate)
            record(pool[k % size])
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    kib = (after - before) / 1024
    label = f"bytes per latency series, {seconds / 3600:g} h at {rate:,} events/s"
    if sigma != 0.6:
        return Row(
            f"  same, wide spread (sigma {sigma:g}, p99/p50 = 16)",
            f"{kib:.1f} KiB",
            target="info; budget 256 KiB",
        )
    return _check(label, f"{kib:.1f} KiB", "<= 256 KiB", kib <= 256)


# -- breakdown ------------------------------------------------------------------------


def _pieces_ns(pieces: Sequence[tuple[str, Callable[[], object]]], repeats: int) -> list[float]:
    """Median ns of each piece, the pieces' runs interleaved like the contenders'."""

    def timer_of(loop: Callable[[], object]) -> Callable[[], int]:
        return lambda: _timed(loop)

    medians = _interleave({label: timer_of(loop) for label, loop in pieces}, repeats)
    return [medians[label] for label, _ in pieces]


def breakdown(sizes: Sizes) -> list[Row]:
    """Where the time goes: each piece of one event, of the render, of a rotation."""
    return _event_pieces(sizes) + _prometheus_pieces(sizes) + _render_pieces(sizes)


def _event_pieces(sizes: Sizes) -> list[Row]:
    work = _work(sizes.batch)
    events = _events(work)
    values = [ms for _, _, ms, _ in work]
    metrics = _wired()
    collector = InferenceCollector()
    registry = AggregatingRegistry()
    collector.bind(registry, EventBus())
    collector.on_completed(events[0])  # creates the series behind the instruments
    inst = collector._instruments(*_PAIRS[0])
    series = registry._timers[names.LATENCY][inst.tags]
    noop_bus = EventBus()
    noop_bus.subscribe(InferenceCompleted, lambda event: None)
    lock, clock, tags = registry._lock, registry.clock, inst.tags

    def build() -> None:
        make = InferenceCompleted
        for m, v, ms, t in work:
            make(model_name=m, version=v, duration_ms=ms, output_tokens=t)

    def validate() -> None:
        for event in events:
            event.__attrs_post_init__()

    def dispatch() -> None:
        emit = noop_bus.emit
        for event in events:
            emit(event)

    def collect() -> None:
        on_completed = collector.on_completed
        for event in events:
            on_completed(event)

    def whole() -> None:
        emit = metrics.bus.emit
        for event in events:
            emit(event)

    def counter() -> None:
        record = inst.requests.record
        for _ in values:
            record(1.0)

    def timer() -> None:
        record = inst.latency.record
        for ms in values:
            record(ms)

    def histogram() -> None:
        record = inst.output_tokens.record
        for _, _, _, t in work:
            record(t)

    def live_series() -> None:
        record = series.record
        for ms in values:
            record(ms)

    def by_name() -> None:
        record, name = registry.timer, names.LATENCY
        for ms in values:
            record(name, tags, ms)

    def lock_clock() -> None:
        for _ in values:
            with lock:
                clock()

    def overhead() -> None:
        for _ in work:
            pass

    pieces: list[tuple[str, Callable[[], None]]] = [
        ("for loop over the work list (overhead)", overhead),
        ("InferenceCompleted(...) construction", build),
        ("  of which __attrs_post_init__ (validation)", validate),
        ("bus.emit to one no-op listener (dispatch)", dispatch),
        ("collector.on_completed(event), 3 updates", collect),
        ("bus.emit -> collector -> registry (pre-built)", whole),
        ("  Instrument.record counter (requests)", counter),
        ("  Instrument.record timer (latency)", timer),
        ("  Instrument.record histogram (tokens)", histogram),
        ("  LiveDistribution.record (timer, no wrapper)", live_series),
        ("  registry.timer(name, tags, ms) by name", by_name),
        ("  'with lock: clock()' alone", lock_clock),
    ]
    rows = [
        Row(f"breakdown: {label}", f"{ns / len(work):,.0f} ns")
        for (label, _), ns in zip(pieces, _pieces_ns(pieces, sizes.repeats), strict=True)
    ]
    rows.append(
        Row("breakdown: rotation of one timer slot (100 obs/s, tiers full)", _rotation_cost())
    )
    return rows


def _rotation_cost(rate: int = 100, seconds: int = 3_600) -> str:
    """Per second and series: a clock-driven run minus the same records in one slot."""
    values = _latencies(rate * seconds, seed=13)

    def run(step: float) -> int:
        clock = ManualClock(_START)
        record = (
            AggregatingRegistry(clock=clock)
            .instrument(MetricKind.TIMER, names.LATENCY, Tags({"k": "v"}))
            .record
        )
        set_clock = clock.set

        def loop() -> None:
            for k, ms in enumerate(values):
                set_clock(_START + k * step)
                record(ms)

        return _timed(loop)

    rotating = statistics.median(run(1.0 / rate) for _ in range(3))
    still = statistics.median(run(0.0) for _ in range(3))
    return f"{(rotating - still) / seconds / 1000:,.1f} us"


def _prometheus_pieces(sizes: Sizes) -> list[Row]:
    try:
        import prometheus_client as prom
    except ImportError:
        return []
    work = _work(sizes.batch)
    registry = prom.CollectorRegistry()
    counter = prom.Counter("c", "c", ["model_name", "version"], registry=registry)
    histogram = prom.Histogram("h", "h", ["model_name", "version"], registry=registry)
    counter_child = counter.labels(*_PAIRS[0])
    histogram_child = histogram.labels(*_PAIRS[0])

    def labels() -> None:
        for m, v, _, _ in work:
            counter.labels(m, v)

    def inc() -> None:
        for _ in work:
            counter_child.inc()

    def observe() -> None:
        for _, _, ms, _ in work:
            histogram_child.observe(ms)

    pieces = [("labels(m, v)", labels), ("child.inc()", inc), ("child.observe(x)", observe)]
    return [
        Row(f"breakdown: prometheus_client {label}", prometheus=f"{ns / len(work):,.0f} ns")
        for (label, _), ns in zip(pieces, _pieces_ns(pieces, sizes.repeats), strict=True)
    ]


def _render_pieces(sizes: Sizes) -> list[Row]:
    metrics = _many_versions(sizes)
    registry = metrics.registry
    snapshot = metrics.snapshot()
    now = snapshot.taken_at
    distributions = [s for s in snapshot.series if isinstance(s, DistributionSeries)]
    summaries = [s.window_summary(60.0, now) for s in distributions if s.name == names.LATENCY]
    exporter = ConsoleExporter(stream=io.StringIO())
    pieces: list[tuple[str, Callable[[], object]]] = [
        ("snapshot(): counters only", lambda: registry.snapshot(names=[names.REQUESTS_TOTAL])),
        ("snapshot(): latency timers only", lambda: registry.snapshot(names=[names.LATENCY])),
        ("snapshot(): token histograms only", lambda: registry.snapshot(names=[names.TOKEN_USAGE])),
        ("render(snapshot)", lambda: exporter.render(snapshot)),
        ("  all_version_metrics(snapshot, 60)", lambda: all_version_metrics(snapshot, 60.0)),
        (
            "    window_summary(60) of every distribution",
            lambda: [s.window_summary(60.0, now) for s in distributions],
        ),
        (
            "    p50/p95/p99 of every latency summary",
            lambda: [s.quantiles(0.5, 0.95, 0.99) for s in summaries],
        ),
    ]
    return [
        Row(f"breakdown: {label}, {sizes.versions:,} versions", f"{ns / 1e6:.1f} ms")
        for (label, _), ns in zip(pieces, _pieces_ns(pieces, max(sizes.repeats, 7)), strict=True)
    ]


# -- output ---------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "missing"


def environment() -> list[str]:
    """Lines naming the interpreter, the machine and the package versions."""
    packages = (
        "attrs",
        "blinker",
        "structlog",
        "prometheus_client",
        "opentelemetry-sdk",
        "psutil",
        "numpy",
    )
    return [
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.platform()}",
        f"cpus: {os.cpu_count()}, machine: {platform.machine()}",
        "packages: " + ", ".join(f"{name} {_version(name)}" for name in packages),
    ]


def format_table(rows: Sequence[Row]) -> str:
    """The rows as one aligned text table."""
    header = ("measure", "ours", "prometheus_client", "OTel SDK", "ratio", "target", "pass")
    lines = [header] + [
        (
            row.measure,
            row.ours,
            row.prometheus,
            row.otel,
            row.ratio,
            row.target,
            "-" if row.passed is None else ("pass" if row.passed else "FAIL"),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        " | ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    text.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(text)


def run_section(name: str, run: Callable[[], list[Row]]) -> list[Row]:
    """The rows of ``run``; how long it took goes to stderr."""
    started = time.perf_counter()
    rows = run()
    print(f"  {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows


def report(mode: str, run: Callable[[], list[Row]]) -> int:
    """Print the environment and ``mode``, then ``run``'s rows as one table and the targets met.

    Returns 1 if a target is missed, else 0: the exit status of a benchmark script.
    """
    started = time.perf_counter()
    for line in environment():
        print(line)
    print(f"mode: {mode}")
    rows = run()
    missed = sum(row.passed is False for row in rows)
    print()
    print(format_table(rows))
    print()
    print(
        f"targets met: {sum(row.passed is True for row in rows)}, missed: {missed}; "
        f"total run time {time.perf_counter() - started:.1f} s"
    )
    return 1 if missed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print one table; 1 if a target is missed, else 0."""
    parser = argparse.ArgumentParser(prog="hot_path", description="Hot-path benchmarks.")
    parser.add_argument("--quick", action="store_true", help="scaled-down sizes")
    parser.add_argument("--breakdown", action="store_true", help="time each piece too")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    sections: list[tuple[str, Callable[[], list[Row]]]] = [
        ("hot path", lambda: hot_path(sizes)),
        ("query", lambda: query(sizes)),
        ("snapshot + render", lambda: snapshot_render(sizes)),
        ("rss", lambda: rss(sizes)),
        (
            "bytes per series",
            lambda: [
                series_bytes(100, sizes.series_seconds),
                series_bytes(sizes.dense_rate, sizes.series_seconds),
                series_bytes(sizes.dense_rate, sizes.series_seconds, sigma=1.2),
            ],
        ),
    ]
    if args.breakdown:
        sections.append(("breakdown", lambda: breakdown(sizes)))
    return report(
        f"{'quick' if args.quick else 'full'}; {sizes.batch:,} events per batch, "
        f"{sizes.repeats} interleaved repeats, median; gc disabled in timed loops",
        lambda: [row for name, section in sections for row in run_section(name, section)],
    )


if __name__ == "__main__":
    sys.exit(main())
