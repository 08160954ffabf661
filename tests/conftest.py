"""Shared fixtures: a manual clock, an aggregating registry, and helpers for real servers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from metrics_core.clock import ManualClock
from metrics_core.registry.aggregating import AggregatingRegistry


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def registry(clock: ManualClock) -> AggregatingRegistry:
    return AggregatingRegistry(clock=clock)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: every dependency and server must be there."""
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and exitstatus == pytest.ExitCode.OK:
        print(f"\nCI: {len(skipped)} test(s) skipped; skips are failures in CI")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- real servers -------------------------------------------------------------------------

FreePort = Callable[[], int]
WaitUntil = Callable[..., Any]
Spawn = Callable[..., subprocess.Popen[bytes]]
ServerBinary = Callable[[str], str]

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository root (where ``.test-servers/`` is installed by ``make test``)."""


def _pick_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _poll(probe: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < end:
        try:
            value = probe()
        except Exception as error:  # the server is not up yet
            last = error
        else:
            if value:
                return value
            last = value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def _find_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        local = REPO_ROOT / ".test-servers" / name
        if local.exists():
            return str(local)
        pytest.skip(f"{name} is not installed: run scripts/install-test-servers.sh")
    return path


# Session-scoped: they hold no state, and module-scoped server fixtures use them too.
@pytest.fixture(scope="session")
def free_port() -> FreePort:
    """A function returning a TCP port on 127.0.0.1 that was free a moment ago."""
    return _pick_port


@pytest.fixture(scope="session")
def wait_until() -> WaitUntil:
    """``wait_until(probe, timeout=20, what="...")``: poll ``probe`` until it returns a truthy
    value (returned) or the timeout passes (the test fails naming ``what`` and the last error)."""
    return _poll


@pytest.fixture(scope="session")
def server_binary() -> ServerBinary:
    """Path of an installed server binary (``make test`` installs them); skip when missing
    outside CI (in CI a skip fails the run)."""
    return _find_binary


class Processes:
    """Processes started by a fixture, logging to ``<directory>/<name>.log``, stopped at teardown.

    They run in ``cwd`` (the current directory when ``None``).
    """

    def __init__(self, directory: Path, cwd: Path | None = None) -> None:
        self.directory = directory
        self._cwd = cwd
        self._started: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        *args: str,
        name: str = "server",
        stdin: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``args`` with stdout and stderr to ``<name>.log``; ``env`` adds to ours."""
        with (self.directory / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                args,
                stdin=stdin,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._cwd,
                env=None if env is None else {**os.environ, **env},
            )
        self._started.append(process)
        return process

    @staticmethod
    def free_port() -> int:
        """A TCP port on 127.0.0.1 that was free a moment ago."""
        return _pick_port()

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


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """``spawn(*args, name=...)``: start a process with output to ``tmp_path/name.log``;
    every process started is terminated (then killed) at teardown."""
    processes = Processes(tmp_path)
    yield processes.start
    processes.stop_all()


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    """Processes for a whole test module, started in the repository root; all stopped when
    the module's tests are done (a server's start is paid once per module)."""
    started = Processes(tmp_path_factory.mktemp("servers"), cwd=REPO_ROOT)
    yield started
    started.stop_all()
