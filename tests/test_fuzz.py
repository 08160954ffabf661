"""The standing fuzz suite: hostile input through the public API (issue #10).

Random events, tag sets, values, names and exporter settings go through
``Metrics``, the bus and the registry. Invariants, checked on every example:

- only ``ValueError`` or ``TypeError`` escape; no listener fails on an accepted event;
- a rejected call changes nothing, and an accepted one changes only its own series:
  every version's request count is exactly what was accepted for it;
- every exporter still renders, and ``promtool`` accepts the Prometheus text.

Derandomized and bounded in examples, so it runs in ``make test`` in seconds.
"""

from __future__ import annotations

import functools
import io
import math
import shutil
import socket
import subprocess
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import structlog
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from collectors import InferenceCollector, QualityCollector, ReliabilityCollector
from exporters import (
    ConsoleExporter,
    LogExporter,
    OTLPExporter,
    PrometheusExporter,
    StatsDExporter,
)
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import (
    CircuitBreakerChanged,
    DriftMeasured,
    FirstTokenReceived,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
    PredictionEvaluated,
    RetryAttempted,
)
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries, Snapshot

T0 = 1_700_000_000.0
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Anything a caller might pass where a number belongs.
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=1e6),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.integers(min_value=0, max_value=10_000),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.fractions(max_denominator=100),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.just(complex(1, 1)),
)
# Names and tag values with the characters that break joined keys and backends.
VALID_NAMES = st.sampled_from(["bert", "v1", "v2", "a:b", "b:c", "a", "c", "x\\", "le", "é"])
NAMES = st.one_of(
    VALID_NAMES,
    VALID_NAMES,
    VALID_NAMES,
    st.sampled_from(["", "__name__"]),
    st.text(alphabet='ab:_.\\"\n é', max_size=6),
)
# Mostly plausible values, so that accepted calls reach the collectors and the registry.
LATENCIES = st.one_of(st.floats(0, 1e4), st.integers(0, 10**6), NUMBERS)
SUCCESS = st.one_of(st.booleans(), st.booleans(), st.booleans(), NUMBERS)
ANY = st.one_of(NUMBERS, NAMES)
TAG_KEYS = st.one_of(
    st.sampled_from(["a.b", "a_b", "le", "quantile", "__name__", "exported_le", "model_name"]),
    st.text(alphabet="ab_.1", min_size=0, max_size=4),
)
TAGS = st.dictionaries(TAG_KEYS, st.one_of(NAMES, st.integers(), st.booleans()), max_size=3)
METRIC_NAMES = st.one_of(
    st.sampled_from(["requests", "requests_total", "lat", "lat.ms", "lat_ms", "g"]),
    st.text(alphabet="ab_.:1", min_size=0, max_size=5),
)


@functools.cache
def _sink() -> socket.socket:
    """A UDP socket the StatsD exporters send to (unread: the kernel drops what overflows)."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    return sink


def _sink_port() -> int:
    return int(_sink().getsockname()[1])


class World:
    """A Metrics with every per-model collector, a manual clock, and what was accepted."""

    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.registry = AggregatingRegistry(clock=self.clock)
        self.metrics = (
            Metrics(bus=EventBus(), registry=self.registry)
            .collect(InferenceCollector())
            .collect(QualityCollector(refresh_interval=0.0))
            .collect(ReliabilityCollector())
        )
        self.prometheus = PrometheusExporter()
        self.metrics.export_to(self.prometheus, name="prometheus")
        self.requests: dict[tuple[str, str], int] = {}
        self.exporters = 1

    def accepted_request(self, model: str, version: str) -> None:
        self.requests[model, version] = self.requests.get((model, version), 0) + 1


def _state(snapshot: Snapshot) -> dict[tuple[str, Any], tuple[float, ...]]:
    state: dict[tuple[str, Any], tuple[float, ...]] = {}
    for series in snapshot:
        if isinstance(series, CounterSeries):
            state[series.name, series.tags] = (series.total,)
        elif isinstance(series, GaugeSeries):
            state[series.name, series.tags] = (series.value,)
        elif isinstance(series, DistributionSeries):
            state[series.name, series.tags] = (series.count, series.total)
    return state


Action = Callable[[World], None]


def _inference(model: str, version: str, latency: Any, success: Any, error: Any) -> Action:
    def act(world: World) -> None:
        world.metrics.record_inference(model, version, latency, success, error)
        world.accepted_request(model, version)

    return act


def _event(build: Callable[[], Any], counts_request: bool = False) -> Action:
    def act(world: World) -> None:
        event = build()
        world.metrics.bus.emit(event)
        if counts_request:
            world.accepted_request(event.model_name, event.version)

    return act


def _registry(kind: str, name: Any, tags: Any, value: Any) -> Action:
    def act(world: World) -> None:
        getattr(world.registry, kind)(name, tags, value)

    return act


def _exporter(build: Callable[[], Any]) -> Action:
    def act(world: World) -> None:
        exporter = build()
        world.exporters += 1
        world.metrics.export_to(exporter, name=f"fuzz_{world.exporters}", timeout=5.0)

    return act


def _query(window: Any) -> Action:
    def act(world: World) -> None:
        world.metrics.get_all_metrics(window)

    return act


def _settings(value: Any) -> Action:
    def act(world: World) -> None:
        world.metrics.start_auto_export(value)
        world.metrics.stop_auto_export()

    return act


ACTIONS = st.one_of(
    st.builds(_inference, NAMES, NAMES, LATENCIES, SUCCESS, NAMES | st.none()),
    st.builds(
        lambda m, v, d, t, c, conf, out: _event(
            lambda: InferenceCompleted(
                model_name=m,
                version=v,
                duration_ms=d,
                time_to_first_token_ms=t,
                cost_usd=c,
                confidence=conf,
                output_tokens=out,
            ),
            counts_request=True,
        ),
        NAMES,
        NAMES,
        NUMBERS,
        NUMBERS | st.none(),
        NUMBERS | st.none(),
        NUMBERS | st.none(),
        st.none() | NUMBERS,
    ),
    st.builds(
        lambda m, v, d, e: _event(
            lambda: InferenceFailed(model_name=m, version=v, duration_ms=d, error_type=e),
            counts_request=True,
        ),
        NAMES,
        NAMES,
        NUMBERS,
        NAMES,
    ),
    st.builds(
        lambda m, v, r: _event(lambda: InferenceStarted(model_name=m, version=v, request_id=r)),
        NAMES,
        NAMES,
        NAMES | st.none(),
    ),
    st.builds(
        lambda m, v, t, r: _event(
            lambda: FirstTokenReceived(
                model_name=m, version=v, time_to_first_token_ms=t, request_id=r
            )
        ),
        NAMES,
        NAMES,
        NUMBERS,
        NAMES | st.none(),
    ),
    st.builds(
        lambda m, v, k, s, th: _event(
            lambda: DriftMeasured(model_name=m, version=v, kind=k, score=s, threshold=th)
        ),
        NAMES,
        NAMES,
        NAMES,
        NUMBERS,
        NUMBERS | st.none(),
    ),
    st.builds(
        lambda m, v, e, a: _event(
            lambda: PredictionEvaluated(model_name=m, version=v, expected=e, actual=a)
        ),
        NAMES,
        NAMES,
        NAMES,
        NAMES,
    ),
    st.builds(
        lambda m, v, at, e, d: _event(
            lambda: RetryAttempted(model_name=m, version=v, attempt=at, error_type=e, delay_ms=d)
        ),
        NAMES,
        NAMES,
        NUMBERS,
        NAMES,
        NUMBERS,
    ),
    st.builds(
        lambda m, v, p, s: _event(
            lambda: CircuitBreakerChanged(model_name=m, version=v, previous=p, state=s)
        ),
        NAMES,
        NAMES,
        st.sampled_from(["open", "closed", "half_open"]) | NAMES,
        st.sampled_from(["open", "closed", "half_open"]) | ANY,
    ),
    st.builds(
        _registry,
        st.sampled_from(["counter", "gauge", "histogram", "timer"]),
        METRIC_NAMES | ANY,
        TAGS | st.none() | NAMES,
        NUMBERS,
    ),
    st.builds(
        lambda q, w: _exporter(lambda: PrometheusExporter(quantiles=q, summary_window=w)),
        st.lists(NUMBERS, max_size=3),
        NUMBERS,
    ),
    st.builds(
        lambda w, s: _exporter(lambda: ConsoleExporter(stream=s, window=w)),
        NUMBERS,
        st.sampled_from([None, 5, "x"]).map(lambda s: io.StringIO() if s is None else s),
    ),
    st.builds(lambda w, lv: _exporter(lambda: LogExporter(window=w, level=lv)), NUMBERS, NAMES),
    st.builds(
        lambda h, p: _exporter(lambda: StatsDExporter(host=h, port=_sink_port() if p else p)),
        st.sampled_from(["127.0.0.1", "", None, "a b"]),
        st.sampled_from([1, 0, -1, 70_000, "x", None]),
    ),
    st.builds(
        lambda e, t: _exporter(lambda: OTLPExporter(endpoint=e, timeout=t)),
        st.sampled_from(["notaurl", "http://", "ftp://x", "http://127.0.0.1:99999"]) | NAMES,
        NUMBERS,
    ),
    st.builds(_query, NUMBERS),
    st.builds(_settings, NUMBERS.filter(lambda v: not (isinstance(v, (int, float)) and v > 0))),
)


def _promtool(text: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is not on PATH: run scripts/install-test-servers.sh"
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr + text


def _gauge(value: Any) -> Action:
    def act(world: World) -> None:
        world.metrics.record_active_connections("bert", "v1", value)

    return act


def _cost(value: Any) -> Action:
    return _event(
        lambda: InferenceCompleted(
            model_name="bert", version="v1", duration_ms=1.0, cost_usd=value
        ),
        counts_request=True,
    )


# The reproductions of issue #10, so the suite always covers them.
KNOWN = [
    _inference("bert", "v1", 10.0, True, None),
    _inference("bert", "v1", 10**400, True, None),
    _inference("bert", "v1", Decimal("12.5"), True, None),
    _inference("a:b", "c", 10.0, True, None),
    _inference("a", "b:c", 10.0, "yes", None),
    _inference("a", "b:c", 10.0, False, "E"),
    _gauge(3),
    _gauge(10**400),
    _cost(1e308),
    _cost(1e308),
    _registry("counter", "c", {"__name__": "x"}, 1.0),
    _registry("counter", "c", {"a.b": "x"}, 1.0),
    _registry("counter", "c", {"a_b": "x"}, 1.0),
    _registry("timer", "t", {"le": "1"}, 1.0),
    _registry("counter", "c", {}, None),
    _exporter(lambda: StatsDExporter(host=None)),  # type: ignore[arg-type]
    _settings(math.inf),
]


@FUZZ
@example(KNOWN, [1.5] * len(KNOWN))
@given(st.lists(ACTIONS, min_size=1, max_size=25), st.lists(st.floats(0, 90), max_size=25))
def test_hostile_input_is_refused_cleanly_and_never_corrupts(
    actions: list[Action], advances: list[float]
) -> None:
    world = World()
    listener_errors: list[BaseException] = []
    world.metrics.bus.on_listener_error(lambda _e, _l, error: listener_errors.append(error))
    try:
        with structlog.testing.capture_logs():
            for i, act in enumerate(actions):
                before = _state(world.registry.snapshot())
                try:
                    act(world)
                except (ValueError, TypeError):
                    assert _state(world.registry.snapshot()) == before
                assert listener_errors == []
                if i < len(advances):
                    world.clock.advance(advances[i])
            outcomes = world.metrics.export(deadline=10.0)
    finally:
        world.metrics.close(deadline=2.0)
    assert [o.status for o in outcomes] == ["ok"] * len(outcomes), outcomes
    every = world.metrics.get_all_metrics(window=3600)
    counted = {(m.model_name, m.version): m.request_count for m in every.values()}
    for key, requests in world.requests.items():
        assert counted.get(key, 0) == requests, (key, counted)
    assert all(math.isfinite(s.total) for s in world.registry.snapshot().counters())
    _promtool(world.prometheus.render())


@FUZZ
@given(st.lists(st.tuples(NAMES, NAMES, TAGS), min_size=1, max_size=40))
def test_names_and_tags_never_break_the_scrape(rows: list[tuple[str, str, dict[str, Any]]]) -> None:
    registry = AggregatingRegistry(clock=ManualClock(T0), max_series_per_metric=5)
    recorded = 0
    for model, version, tags in rows:
        for kind in ("counter", "timer"):
            try:
                getattr(registry, kind)(
                    names.REQUESTS_TOTAL if kind == "counter" else names.LATENCY,
                    {**tags, "model_name": model, "version": version},
                    1.0,
                )
            except (ValueError, TypeError):
                continue
            recorded += kind == "counter"
    snapshot = registry.snapshot()
    total = sum(s.total for s in snapshot.counters() if s.name == names.REQUESTS_TOTAL)
    assert total == recorded
    exporter = PrometheusExporter()
    exporter.export(snapshot)
    _promtool(exporter.render())
