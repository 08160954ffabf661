"""Shared fixtures: a manual clock and an aggregating registry reading it."""

from __future__ import annotations

import pytest

from metrics_core.clock import ManualClock
from metrics_core.registry.aggregating import AggregatingRegistry


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def registry(clock: ManualClock) -> AggregatingRegistry:
    return AggregatingRegistry(clock=clock)
