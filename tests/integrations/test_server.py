"""serve_app: uvicorn in a thread on a real port, started and stopped on demand."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

from integrations._asgi import Receive, Scope, Send
from integrations.server import RunningServer, serve_app


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = f"hello {scope['path']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def fetch(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_port_zero_reports_the_bound_port_and_accepts_at_once() -> None:
    server = serve_app(hello)
    try:
        assert isinstance(server, RunningServer)
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.running
        # No waiting: serve_app returned once the socket listens.
        assert fetch(server.url + "/a") == (200, b"hello /a")
    finally:
        server.stop()
    assert not server.running
    assert refused(server.port)
    server.stop()  # idempotent


def test_an_explicit_port_and_the_context_manager(free_port: object) -> None:
    port = free_port()  # type: ignore[operator]
    with serve_app(hello, port=port) as server:
        assert server.port == port
        assert fetch(f"http://127.0.0.1:{port}/x") == (200, b"hello /x")
    assert not server.running
    assert refused(port)


def test_a_port_in_use_raises() -> None:
    with serve_app(hello) as server, pytest.raises(OSError):
        serve_app(hello, port=server.port)


def test_bad_arguments_raise_naming_them() -> None:
    with pytest.raises(ValueError, match=re.escape("'port' must be within 0..65535: 70000")):
        serve_app(hello, port=70000)
    with pytest.raises(ValueError, match="'shutdown_timeout' must be >= 0 seconds: -1"):
        serve_app(hello, shutdown_timeout=-1)


def test_the_app_lifespan_runs_at_start_and_stop() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = Starlette(routes=[Route("/", lambda r: PlainTextResponse("ok"))], lifespan=lifespan)
    with serve_app(app) as server:
        assert events == ["startup"]
        assert fetch(server.url + "/") == (200, b"ok")
    assert events == ["startup", "shutdown"]


def test_stop_ends_an_endless_streaming_response_at_once() -> None:
    streaming = threading.Event()
    ended: list[str] = []

    async def forever(request: Request) -> StreamingResponse:
        async def ticks() -> AsyncIterator[bytes]:
            try:
                while True:
                    streaming.set()
                    yield b"tick\n"
                    await asyncio.sleep(0.05)
            finally:
                ended.append("ticks")

        return StreamingResponse(ticks(), media_type="text/plain")

    # A long shutdown timeout: stop() must not need it.
    server = serve_app(Starlette(routes=[Route("/ticks", forever)]), shutdown_timeout=30)
    try:
        response = urllib.request.urlopen(server.url + "/ticks", timeout=10)
        assert response.readline() == b"tick\n"
        assert streaming.wait(10)
    finally:
        started = time.monotonic()
        server.stop()
        took = time.monotonic() - started
    assert not server.running
    assert took < 10, f"stop() waited {took:.1f}s for the stream"
    assert ended == ["ticks"]
    response.close()


def test_a_missing_uvicorn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(ImportError, match=r"inference-metrics\[web\]"):
        serve_app(hello)
