"""HttpCollector: request duration and in-flight requests from known event sequences."""

from __future__ import annotations

import threading

import pytest

from collectors import HttpCollector
from collectors.http import OTHER_METHOD, normalize_method
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import HttpRequestFinished, HttpRequestStarted
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import DistributionSeries, GaugeSeries

T0 = 1_700_000_000.0


@pytest.fixture
def env() -> tuple[EventBus, Metrics]:
    bus = EventBus()
    metrics = Metrics(bus=bus, registry=AggregatingRegistry(clock=ManualClock(T0)))
    metrics.collect(HttpCollector())
    return bus, metrics


def duration_tags(route: str, status: int, method: str = "GET", **extra: str) -> dict[str, str]:
    return {
        names.HTTP_ROUTE: route,
        names.HTTP_METHOD: method,
        names.HTTP_STATUS_CODE: str(status),
        names.URL_SCHEME: "http",
        **extra,
    }


def active(metrics: Metrics, method: str = "GET") -> float:
    series = metrics.snapshot().get(
        names.HTTP_SERVER_ACTIVE_REQUESTS, {names.HTTP_METHOD: method, names.URL_SCHEME: "http"}
    )
    assert isinstance(series, GaugeSeries)
    return series.value


def finished(
    route: str, status: int, duration_ms: float, method: str = "GET", error_type: str | None = None
) -> HttpRequestFinished:
    return HttpRequestFinished(
        method=method,
        route=route,
        status_code=status,
        duration_ms=duration_ms,
        error_type=error_type,
    )


def test_a_request_moves_the_gauge_and_records_its_duration(
    env: tuple[EventBus, Metrics],
) -> None:
    bus, metrics = env
    bus.emit(HttpRequestStarted(method="GET"))
    bus.emit(HttpRequestStarted(method="GET"))
    assert active(metrics) == 2
    bus.emit(finished("/items/{item_id}", 200, 12.5))
    assert active(metrics) == 1
    bus.emit(finished("/items/{item_id}", 200, 7.5))
    assert active(metrics) == 0

    series = metrics.snapshot().get(
        names.HTTP_SERVER_DURATION, duration_tags("/items/{item_id}", 200)
    )
    assert isinstance(series, DistributionSeries)
    assert (series.count, series.total) == (2, 20.0)


def test_routes_statuses_and_errors_are_separate_series(env: tuple[EventBus, Metrics]) -> None:
    bus, metrics = env
    for event in (
        finished("/a", 200, 1.0),
        finished("/a", 404, 2.0),
        finished("/b", 200, 3.0),
        finished("/a", 500, 4.0, error_type="RuntimeError"),
    ):
        bus.emit(event)
    counts = {
        tuple(sorted(s.tags.items())): s.count
        for s in metrics.snapshot()
        if s.name == names.HTTP_SERVER_DURATION and isinstance(s, DistributionSeries)
    }
    assert counts == {
        tuple(sorted(duration_tags("/a", 200).items())): 1,
        tuple(sorted(duration_tags("/a", 404).items())): 1,
        tuple(sorted(duration_tags("/b", 200).items())): 1,
        tuple(sorted(duration_tags("/a", 500, **{"error.type": "RuntimeError"}).items())): 1,
    }


def test_unknown_methods_are_folded_into_other(env: tuple[EventBus, Metrics]) -> None:
    bus, metrics = env
    assert normalize_method("PATCH") == "PATCH"
    assert normalize_method("get") == OTHER_METHOD  # methods are case-sensitive
    bus.emit(HttpRequestStarted(method="BREW"))
    assert active(metrics, OTHER_METHOD) == 1
    bus.emit(finished("/pot", 418, 1.0, method="BREW"))
    assert active(metrics, OTHER_METHOD) == 0
    series = metrics.snapshot().get(
        names.HTTP_SERVER_DURATION, duration_tags("/pot", 418, method=OTHER_METHOD)
    )
    assert isinstance(series, DistributionSeries) and series.count == 1


def test_the_gauge_never_goes_below_zero(env: tuple[EventBus, Metrics]) -> None:
    bus, metrics = env
    bus.emit(finished("/", 200, 1.0))  # a request that started before the collector
    assert active(metrics) == 0
    bus.emit(HttpRequestStarted(method="GET"))
    assert active(metrics) == 1


def test_concurrent_requests_are_counted_exactly(env: tuple[EventBus, Metrics]) -> None:
    bus, metrics = env
    threads, per_thread = 8, 500

    def work(n: int) -> None:
        for _ in range(per_thread):
            bus.emit(HttpRequestStarted(method="POST"))
            bus.emit(finished(f"/r{n % 2}", 201, 1.0, method="POST"))

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    snapshot = metrics.snapshot()
    for route in ("/r0", "/r1"):
        series = snapshot.get(names.HTTP_SERVER_DURATION, duration_tags(route, 201, method="POST"))
        assert isinstance(series, DistributionSeries)
        assert series.count == threads // 2 * per_thread
    assert active(metrics, "POST") == 0


def test_rebinding_drops_the_old_instruments() -> None:
    collector = HttpCollector()
    first = Metrics(bus=EventBus()).collect(collector)
    first.bus.emit(HttpRequestStarted(method="GET"))
    first.close()
    bus = EventBus()
    second = Metrics(bus=bus).collect(collector)
    bus.emit(finished("/", 200, 1.0))
    assert second.snapshot().get(names.HTTP_SERVER_DURATION, duration_tags("/", 200)) is not None
    assert active(second) == 0
