"""Real Prometheus servers for the exporter tests, one per test module.

They start in ``processes``, the module-scoped fixture of ``tests/conftest.py``,
so a server's start is paid once per module. As there, a missing binary skips
outside CI and fails in CI (where a skip is a failure).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import Any

import pytest


def http_get(url: str, timeout: float = 5.0) -> str:
    """The body of a GET, decoded."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
    return body.decode("utf-8")


@pytest.fixture(scope="module")
def pushgateway(
    processes: Any, server_binary: Callable[[str], str], wait_until: Callable[..., Any]
) -> str:
    """The base URL of a Pushgateway on a free 127.0.0.1 port."""
    binary = server_binary("prometheus-pushgateway")
    port = processes.free_port()
    processes.start(
        binary,
        f"--web.listen-address=127.0.0.1:{port}",
        f"--persistence.file={processes.directory / 'pushgateway.data'}",
        name="pushgateway",
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_get(f"{url}/-/ready"), what="the Pushgateway to be ready")
    return url


@pytest.fixture(scope="module")
def prometheus_binary(server_binary: Callable[[str], str]) -> str:
    """Path of the ``prometheus`` server binary."""
    return server_binary("prometheus")
