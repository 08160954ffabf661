"""Real Prometheus servers for the exporter tests, one per test module.

They start in ``processes``, the module-scoped fixture of ``tests/conftest.py``,
so a server's start is paid once per module. As there, a missing binary skips
outside CI and fails in CI (where a skip is a failure).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
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


# -- a throwaway PostgreSQL cluster (the history store tests) ---------------------------------


def _postgres_user() -> str | None:
    """initdb refuses to run as root: run the cluster as an unprivileged user then."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    pytest.fail("running as root and neither 'postgres' nor 'nobody' exists for initdb")


@pytest.fixture(scope="session")
def postgres_server(server_binary: Callable[[str], str]) -> Iterator[str]:
    """A PostgreSQL cluster under a temp dir on a free 127.0.0.1 port; yields its base URL
    (``postgresql://postgres@127.0.0.1:PORT``). Stopped and removed at the end."""
    initdb, pg_ctl = server_binary("initdb"), server_binary("pg_ctl")
    user = _postgres_user()
    root = Path(tempfile.mkdtemp(prefix="im-postgres-"))
    data, log = root / "data", root / "server.log"
    prefix: list[str] = []
    if user is not None:
        shutil.chown(root, user)
        prefix = ["runuser", "-u", user, "--"]
    port = _free_port()
    subprocess.run(
        [
            *prefix,
            initdb,
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    started = subprocess.run(
        [
            *prefix,
            pg_ctl,
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(log),
            "-w",
            "-t",
            "30",
            "start",
        ],
        check=False,
        capture_output=True,
    )
    if started.returncode:
        text = log.read_text(errors="replace") if log.exists() else ""
        pytest.fail(f"pg_ctl start failed: {started.stderr!r} {text}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_dsn(postgres_server: str) -> str:
    """A fresh, empty database in the session's cluster, for one test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{postgres_server}/{name}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
