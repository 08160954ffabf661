"""The scrape endpoint drops idle or stalled connections (issue #10: bounded everywhere)."""

from __future__ import annotations

import math
import socket
import urllib.request

import pytest

from exporters import PrometheusExporter
from metrics_core.snapshot import Snapshot


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_idle_and_stalled_scrape_connections_are_closed() -> None:
    exporter = PrometheusExporter()
    exporter.export(Snapshot(0.0, ()))
    server = exporter.serve(port=0, idle_timeout=0.5)
    sockets = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(10)]
    try:
        for sock in sockets[5:]:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # and never the end
        assert all(closed_by_server(sock, 5.0) for sock in sockets)
        with urllib.request.urlopen(server.url, timeout=5) as response:
            assert response.status == 200
    finally:
        for sock in sockets:
            sock.close()
        exporter.close()


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan, "1"])
def test_idle_timeout_is_checked(bad: object) -> None:
    with pytest.raises(ValueError, match="'idle_timeout' must be"):
        PrometheusExporter().serve(port=0, idle_timeout=bad)  # type: ignore[arg-type]
