"""Shared fixtures: a manual clock, an aggregating registry, and helpers for real servers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
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


@pytest.fixture
def free_port() -> FreePort:
    """A function returning a TCP port on 127.0.0.1 that was free a moment ago."""

    def pick() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    return pick


@pytest.fixture
def wait_until() -> WaitUntil:
    """``wait_until(probe, timeout=20, what="...")``: poll ``probe`` until it returns a truthy
    value (returned) or the timeout passes (the test fails naming ``what`` and the last error)."""

    def wait(probe: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
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

    return wait


@pytest.fixture
def server_binary() -> ServerBinary:
    """Path of an installed server binary (``make test`` installs them); skip when missing
    outside CI (in CI a skip fails the run)."""

    def find(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            local = REPO_ROOT / ".test-servers" / name
            if local.exists():
                return str(local)
            pytest.skip(f"{name} is not installed: run scripts/install-test-servers.sh")
        return path

    return find


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """``spawn(*args, name=...)``: start a process with output to ``tmp_path/name.log``;
    every process started is terminated (then killed) at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, name: str = "server", cwd: Path | None = None) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
