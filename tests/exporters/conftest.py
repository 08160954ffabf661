"""Real Prometheus servers for the exporter tests, one per test module.

The fixtures of ``tests/conftest.py`` are function-scoped; these module-scoped
ones pay a server's start once per module. As there, a missing binary skips
outside CI and fails in CI (where a skip is a failure).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def pick_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(probe: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Call ``probe`` until it returns a truthy value (returned); fail after ``timeout``."""
    end = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < end:
        try:
            value = probe()
        except Exception as error:  # not up yet
            last = error
        else:
            if value:
                return value
            last = value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def find_binary(name: str) -> str:
    """Path of a server binary; skip when missing outside CI (in CI the skip fails the run)."""
    path = shutil.which(name)
    if path is not None:
        return path
    local = REPO_ROOT / ".test-servers" / name
    if local.exists():
        return str(local)
    pytest.skip(f"{name} is not installed: run scripts/install-test-servers.sh")


def http_get(url: str, timeout: float = 5.0) -> str:
    """The body of a GET, decoded."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
    return body.decode("utf-8")


class Processes:
    """Processes started by a module's fixtures, logging to files, stopped at teardown."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._started: list[subprocess.Popen[bytes]] = []

    def start(
        self, *args: str, name: str, stdin: int | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``args`` with stdout and stderr to ``<name>.log``."""
        with (self.directory / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                args,
                stdin=stdin,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                env=None if env is None else {**os.environ, **env},
            )
        self._started.append(process)
        return process

    @staticmethod
    def free_port() -> int:
        """A TCP port on 127.0.0.1 that was free a moment ago."""
        return pick_port()

    def log(self, name: str) -> str:
        """What ``name`` wrote so far (for failure messages)."""
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        """Terminate every process, killing those that do not exit within 5 s."""
        for process in self._started:
            if process.stdin is not None:
                process.stdin.close()
            process.terminate()
        for process in self._started:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    """The module's processes; all stopped when the module's tests are done."""
    started = Processes(tmp_path_factory.mktemp("servers"))
    yield started
    started.stop_all()


@pytest.fixture(scope="module")
def pushgateway(processes: Processes) -> str:
    """The base URL of a Pushgateway on a free 127.0.0.1 port."""
    binary = find_binary("prometheus-pushgateway")
    port = pick_port()
    processes.start(
        binary,
        f"--web.listen-address=127.0.0.1:{port}",
        f"--persistence.file={processes.directory / 'pushgateway.data'}",
        name="pushgateway",
    )
    url = f"http://127.0.0.1:{port}"
    poll(lambda: http_get(f"{url}/-/ready"), what="the Pushgateway to be ready")
    return url


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    """Path of the ``prometheus`` server binary."""
    return find_binary("prometheus")


@pytest.fixture(scope="module")
def module_poll() -> Callable[..., Any]:
    """``module_poll(probe, timeout=20, what="...")``, as ``wait_until`` but module-scoped."""
    return poll
