"""Clocks: where the registry and the facade read the time from.

A clock is any zero-argument callable returning seconds since the epoch as a
float. ``time.time`` is the default; tests inject a ``ManualClock`` so that
windows and expiry are exercised without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
"""A zero-argument callable returning seconds since the epoch."""

system_clock: Clock = time.time


class ManualClock:
    """A clock that only moves when told to; thread-safe.

    >>> clock = ManualClock(1000.0)
    >>> clock.advance(1.5)
    1001.5
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """The current (manual) time."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError(f"'seconds' must be >= 0: {seconds!r}")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Jump to ``now`` (may go backwards, to test clock steps)."""
        with self._lock:
            self._now = float(now)
