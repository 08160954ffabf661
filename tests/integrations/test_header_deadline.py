"""serve_app closes connections that never finish their headers (issue #10, item 9)."""

from __future__ import annotations

import math
import socket
import time
import urllib.request

import pytest

from integrations._asgi import Receive, Scope, Send
from integrations.server import serve_app


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_connections_that_never_finish_their_headers_are_closed() -> None:
    with serve_app(hello, header_timeout=0.5) as server:
        silent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]
        partial = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]
        for sock in partial:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        try:
            assert all(closed_by_server(s, 5.0) for s in silent + partial)
            assert time.monotonic() - started < 5.0
            with urllib.request.urlopen(server.url + "/", timeout=5) as response:
                assert response.read() == b"hello"
        finally:
            for sock in silent + partial:
                sock.close()


def test_a_second_request_on_a_kept_alive_connection_has_a_deadline_too() -> None:
    with serve_app(hello, header_timeout=0.5) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(5)
            response = b""
            while not response.endswith(b"0\r\n\r\n"):  # the whole chunked response
                chunk = sock.recv(1024)
                assert chunk, response
                response += chunk
            assert response.startswith(b"HTTP/1.1 200")
            sock.sendall(b"GET / HTTP/1.1\r\n")  # and never the rest
            assert closed_by_server(sock, 5.0)
        finally:
            sock.close()


def test_headers_sent_slowly_but_within_the_deadline_are_served() -> None:
    with serve_app(hello, header_timeout=2.0) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        try:
            for part in (b"GET / HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
                sock.sendall(part)
                time.sleep(0.2)
            sock.settimeout(5)
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        finally:
            sock.close()


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan, "1"])
def test_header_timeout_is_checked(bad: object) -> None:
    with pytest.raises(ValueError, match="'header_timeout' must be"):
        serve_app(hello, header_timeout=bad)  # type: ignore[arg-type]
