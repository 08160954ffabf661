"""MetricsMiddleware in real FastAPI and Starlette apps served by uvicorn on free ports."""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route

from collectors import HttpCollector
from integrations._asgi import Message, Receive, Scope, Send
from integrations.asgi import UNMATCHED_ROUTE, MetricsMiddleware, metrics_app
from integrations.server import RunningServer, serve_app
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.facade import Metrics
from metrics_core.snapshot import DistributionSeries, GaugeSeries


class BoomError(RuntimeError):
    """What the failing endpoints raise."""


def get(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def durations(metrics: Metrics) -> dict[tuple[str, str, str], int]:
    """(route, method, status) -> request count, for every duration series."""
    found: dict[tuple[str, str, str], int] = {}
    for series in metrics.snapshot():
        if series.name == names.HTTP_SERVER_DURATION and isinstance(series, DistributionSeries):
            tags = series.tags
            key = (tags[names.HTTP_ROUTE], tags[names.HTTP_METHOD], tags[names.HTTP_STATUS_CODE])
            found[key] = found.get(key, 0) + series.count
    return found


def duration_series(metrics: Metrics, route: str, status: int = 200) -> DistributionSeries:
    for series in metrics.snapshot():
        if (
            series.name == names.HTTP_SERVER_DURATION
            and series.tags[names.HTTP_ROUTE] == route
            and series.tags[names.HTTP_STATUS_CODE] == str(status)
            and isinstance(series, DistributionSeries)
        ):
            return series
    raise AssertionError(f"no duration series for {route} {status}: {durations(metrics)}")


def in_flight(metrics: Metrics, method: str = "GET") -> float:
    series = metrics.snapshot().get(
        names.HTTP_SERVER_ACTIVE_REQUESTS, {names.HTTP_METHOD: method, names.URL_SCHEME: "http"}
    )
    return series.value if isinstance(series, GaugeSeries) else 0.0


class Gate:
    """Holds a slow endpoint until the test has looked at the in-flight gauge."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    async def wait(self) -> None:
        self.entered.set()
        while not self.release.is_set():
            await asyncio.sleep(0.01)


async def three_chunks() -> AsyncIterator[bytes]:
    for n in range(3):
        await asyncio.sleep(0.1)
        yield f"chunk {n}\n".encode()


def fastapi_app(metrics: Metrics, gate: Gate) -> FastAPI:
    app = FastAPI()
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.post("/items")
    async def create() -> JSONResponse:
        return JSONResponse({"ok": True}, status_code=201)

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await gate.wait()
        return {"slow": True}

    @app.get("/boom")
    async def boom() -> None:
        raise BoomError("endpoint failed")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(three_chunks(), media_type="text/plain")

    app.mount("/observability", metrics_app(metrics))
    return app


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    metrics = Metrics(bus=EventBus())
    yield metrics
    metrics.close()


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    yield gate
    gate.release.set()


@pytest.fixture
def fastapi_server(metrics: Metrics, gate: Gate) -> Iterator[RunningServer]:
    with serve_app(fastapi_app(metrics, gate)) as server:
        yield server


def test_one_series_per_route_template_with_exact_counts(
    metrics: Metrics, fastapi_server: RunningServer
) -> None:
    for item_id in (1, 2, 3):
        assert get(f"{fastapi_server.url}/items/{item_id}") == (
            200,
            f'{{"item_id":{item_id}}}'.encode(),
        )
    assert get(f"{fastapi_server.url}/items", method="POST")[0] == 201
    assert durations(metrics) == {
        ("/items/{item_id}", "GET", "200"): 3,
        ("/items", "POST", "201"): 1,
    }
    series = duration_series(metrics, "/items/{item_id}")
    assert dict(series.tags) == {
        names.HTTP_ROUTE: "/items/{item_id}",
        names.HTTP_METHOD: "GET",
        names.HTTP_STATUS_CODE: "200",
        names.URL_SCHEME: "http",
    }


def test_unmatched_paths_and_validation_errors_keep_a_bounded_route(
    metrics: Metrics, fastapi_server: RunningServer
) -> None:
    for path in ("/nope/1", "/nope/2", "/items/not-a-number", "/items/7"):
        get(fastapi_server.url + path)
    assert durations(metrics) == {
        (UNMATCHED_ROUTE, "GET", "404"): 2,
        ("/items/{item_id}", "GET", "422"): 1,
        ("/items/{item_id}", "GET", "200"): 1,
    }


def test_the_in_flight_gauge_rises_during_a_slow_request_and_falls_after(
    metrics: Metrics, fastapi_server: RunningServer, gate: Gate
) -> None:
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(get, fastapi_server.url + "/slow")
        assert gate.entered.wait(10)
        assert in_flight(metrics) == 1
        gate.release.set()
        assert pending.result(10) == (200, b'{"slow":true}')
    assert in_flight(metrics) == 0
    assert durations(metrics) == {("/slow", "GET", "200"): 1}


def test_an_endpoint_that_raises_is_a_counted_500(
    metrics: Metrics, fastapi_server: RunningServer
) -> None:
    assert get(fastapi_server.url + "/boom")[0] == 500
    assert durations(metrics) == {("/boom", "GET", "500"): 1}
    assert in_flight(metrics) == 0


def test_the_middleware_re_raises_what_the_app_raised(metrics: Metrics) -> None:
    seen: list[BaseException] = []

    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raise BoomError("before any response")

    inner = MetricsMiddleware(failing, metrics, route_of=lambda scope: "/failing")

    async def probe(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await inner(scope, receive, send)
        except BoomError as error:
            seen.append(error)
            raise

    with serve_app(probe) as server:
        assert get(server.url + "/anything")[0] == 500  # uvicorn's own answer
    assert [str(error) for error in seen] == ["before any response"]
    series = duration_series(metrics, "/failing", 500)
    assert series.tags[names.HTTP_ERROR_TYPE] == "BoomError"
    assert series.count == 1


def test_a_streaming_response_is_timed_to_its_last_chunk(
    metrics: Metrics, fastapi_server: RunningServer
) -> None:
    assert get(fastapi_server.url + "/stream") == (200, b"chunk 0\nchunk 1\nchunk 2\n")
    series = duration_series(metrics, "/stream")
    assert series.count == 1
    assert series.total >= 300.0  # three chunks 100 ms apart


def test_many_concurrent_clients_are_counted_exactly(
    metrics: Metrics, fastapi_server: RunningServer
) -> None:
    clients, per_client = 16, 20

    def client(n: int) -> list[int]:
        connection = http.client.HTTPConnection("127.0.0.1", fastapi_server.port, timeout=10)
        statuses = []
        for k in range(per_client):
            connection.request("GET", f"/items/{n * per_client + k}")
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        connection.close()
        return statuses

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    assert results == [[200] * per_client] * clients
    assert durations(metrics) == {("/items/{item_id}", "GET", "200"): clients * per_client}
    assert in_flight(metrics) == 0


def test_a_mounted_metrics_app_is_measured_under_its_mount(
    metrics: Metrics, fastapi_server: RunningServer
) -> None:
    assert get(fastapi_server.url + "/observability/metrics")[0] == 200
    assert get(fastapi_server.url + "/observability/metrics/versions")[0] == 200
    assert durations(metrics) == {("/observability/{path}", "GET", "200"): 2}


async def user(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"user {request.path_params['uid']}")


def starlette_app(metrics: Metrics) -> Starlette:
    return Starlette(
        routes=[
            Route("/", lambda request: PlainTextResponse("home")),
            Mount("/api", routes=[Mount("/v1", routes=[Route("/users/{uid}", user)])]),
            Mount("/ops", app=metrics_app(metrics)),
        ],
        middleware=[Middleware(MetricsMiddleware, metrics=metrics)],
    )


def test_starlette_nested_mounts_give_the_full_template(metrics: Metrics) -> None:
    with serve_app(starlette_app(metrics)) as server:
        for uid in ("a", "b", "c"):
            assert get(f"{server.url}/api/v1/users/{uid}") == (200, f"user {uid}".encode())
        assert get(server.url + "/") == (200, b"home")
        assert get(server.url + "/ops/metrics")[0] == 200
        assert get(server.url + "/api/v2/users/a")[0] == 404
    assert durations(metrics) == {
        ("/api/v1/users/{uid}", "GET", "200"): 3,
        ("/", "GET", "200"): 1,
        ("/ops/{path}", "GET", "200"): 1,
        ("/api/{path}", "GET", "404"): 1,  # matched the /api mount, then nothing in it
    }


def test_a_plain_asgi_app_uses_route_of_then_the_fixed_label(metrics: Metrics) -> None:
    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def route_of(scope: Scope) -> str | None:
        return "/known" if scope["path"].startswith("/known") else None

    app = MetricsMiddleware(plain, metrics, route_of=route_of, unmatched_route="other")
    with serve_app(app) as server:
        for path in ("/known/1", "/known/2", "/x", "/y"):
            assert get(server.url + path)[0] == 204
    assert durations(metrics) == {("/known", "GET", "204"): 2, ("other", "GET", "204"): 2}


def test_the_collector_is_collected_once_however_many_middlewares(metrics: Metrics) -> None:
    own = HttpCollector()
    metrics.collect(own)
    app = MetricsMiddleware(MetricsMiddleware(starlette_app(metrics), metrics), metrics)
    assert [c for c in metrics.collectors if isinstance(c, HttpCollector)] == [own]
    fresh = Metrics(bus=EventBus())
    MetricsMiddleware(starlette_app(fresh), fresh)
    MetricsMiddleware(starlette_app(fresh), fresh)
    assert sum(isinstance(c, HttpCollector) for c in fresh.collectors) == 1
    fresh.close()
    with serve_app(app) as server:
        get(server.url + "/")
    # Three middlewares (two outside, one inside the app) emit three events, into one collector.
    assert durations(metrics) == {("/", "GET", "200"): 3}


def test_lifespan_and_websocket_scopes_pass_through_untouched(metrics: Metrics) -> None:
    calls: list[tuple[Scope, Receive, Send]] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append((scope, receive, send))

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        pass

    middleware = MetricsMiddleware(inner, metrics)
    for scope in ({"type": "lifespan"}, {"type": "websocket", "path": "/ws"}):
        asyncio.run(middleware(scope, receive, send))
    assert [(c[0]["type"], c[1], c[2]) for c in calls] == [
        ("lifespan", receive, send),
        ("websocket", receive, send),
    ]
    assert durations(metrics) == {}


def test_a_bad_route_of_never_breaks_the_response(metrics: Metrics) -> None:
    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"fine"})

    def broken(scope: Scope) -> str:
        raise KeyError("no route")

    with serve_app(MetricsMiddleware(plain, metrics, route_of=broken)) as server:
        assert get(server.url + "/") == (200, b"fine")
    assert durations(metrics) == {(UNMATCHED_ROUTE, "GET", "200"): 1}
    assert in_flight(metrics) == 0


def test_bad_arguments_raise_naming_them(metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="'unmatched_route' must be a non-empty string: ''"):
        MetricsMiddleware(lambda s, r, w: None, metrics, unmatched_route="")  # type: ignore[arg-type,return-value]


def test_timing_covers_the_body_not_background_work(metrics: Metrics) -> None:
    from starlette.background import BackgroundTask

    async def later() -> None:
        await asyncio.sleep(0.5)

    async def with_background(request: Request) -> PlainTextResponse:
        return PlainTextResponse("done", background=BackgroundTask(later))

    app = Starlette(
        routes=[Route("/bg", with_background)],
        middleware=[Middleware(MetricsMiddleware, metrics=metrics)],
    )
    with serve_app(app) as server:
        started = time.monotonic()
        assert get(server.url + "/bg") == (200, b"done")
        assert time.monotonic() - started < 5
        # The event is emitted when the body is sent: before the background task ends.
        series = duration_series(metrics, "/bg")
    assert series.count == 1
    assert series.total < 500.0
