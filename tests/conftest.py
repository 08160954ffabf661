"""Shared fixtures: a manual clock and an aggregating registry reading it."""

from __future__ import annotations

import os

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
