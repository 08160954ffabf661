"""``LoadShedding``: the circuit breaker of recording itself.

A budget of recorded events per second. Every ``interval`` seconds the rate of
the events that reached the inference collectors is compared with it:

- level 0, normal: sampling as configured;
- level 1, entered after one interval over budget: distributions are sampled
  ``harder_factor`` times harder (rate x 0.1 by default);
- level 2, entered after a second interval over budget: counters only, no
  distribution work at all.

Each interval under ``recover_below`` x budget steps back one level. Counters
(requests, errors by type, tokens, cost) are never dropped at any level. Each
change is logged (``load_shedding_changed``) and recorded by the ``Metrics``
facade in ``metrics_load_shedding_level`` and
``metrics_load_shedding_changes_total{level}``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["COUNTERS_ONLY", "NORMAL", "THINNED", "LoadShedding"]

NORMAL = 0
"""Level 0: sampling as configured."""
THINNED = 1
"""Level 1: distributions sampled ``harder_factor`` times harder."""
COUNTERS_ONLY = 2
"""Level 2: counters only."""

LevelListener = Callable[[int, int, float], None]
"""Called as ``listener(previous_level, level, events_per_second)`` on each change."""


def _positive(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"'{field}' must be a number: {value!r}")
    if not 0 < value < math.inf:
        raise ValueError(f"'{field}' must be > 0 and finite: {value!r}")
    return float(value)


def _fraction(value: object, field: str) -> float:
    number = _positive(value, field)
    if number >= 1.0:
        raise ValueError(f"'{field}' must be within (0, 1): {value!r}")
    return number


class LoadShedding:
    """Degrades recording in steps past ``max_events_per_second``, recovers below it.

    :param max_events_per_second: the budget.
    :param interval: seconds between two evaluations of the rate.
    :param recover_below: a level is left when the rate falls under this share of the budget.
    :param harder_factor: what level 1 multiplies the sampling rates by.
    :param clock: monotonic seconds (a fake one in tests).

    The event count is a plain increment from every emitting thread: under heavy
    contention it may miss a few events, which only makes the rate estimate a
    little low; it never touches what is recorded.
    """

    def __init__(
        self,
        max_events_per_second: float,
        *,
        interval: float = 1.0,
        recover_below: float = 0.5,
        harder_factor: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_events_per_second = _positive(max_events_per_second, "max_events_per_second")
        self.interval = _positive(interval, "interval")
        self.recover_below = _fraction(recover_below, "recover_below")
        self.harder_factor = _fraction(harder_factor, "harder_factor")
        self._clock = clock
        self._lock = threading.Lock()
        self._listeners: tuple[LevelListener, ...] = ()
        self.level = NORMAL
        self.last_rate = 0.0
        self._count = 0
        self._started = clock()
        self._next_check = self._started + self.interval

    def on_change(self, listener: LevelListener) -> LevelListener:
        """Call ``listener(previous, level, events_per_second)`` at each level change."""
        with self._lock:
            self._listeners = (*self._listeners, listener)
        return listener

    def tick(self) -> None:
        """Count one event; evaluates the rate once per ``interval``."""
        self._count += 1
        now = self._clock()
        if now >= self._next_check:
            self._evaluate(now)

    def factor(self) -> float:
        """What the sampling rates are multiplied by at the current level."""
        level = self.level
        if level == NORMAL:
            return 1.0
        return self.harder_factor if level == THINNED else 0.0

    def _evaluate(self, now: float) -> None:
        with self._lock:
            if now < self._next_check:  # another thread evaluated meanwhile
                return
            rate = self._count / max(now - self._started, 1e-9)
            self._count = 0
            self._started = now
            self._next_check = now + self.interval
            self.last_rate = rate
            previous = self.level
            if rate > self.max_events_per_second:
                self.level = min(previous + 1, COUNTERS_ONLY)
            elif rate < self.max_events_per_second * self.recover_below:
                self.level = max(previous - 1, NORMAL)
            level, listeners = self.level, self._listeners
        if level != previous:
            for listener in listeners:
                listener(previous, level, rate)

    def __repr__(self) -> str:
        return (
            f"LoadShedding(max_events_per_second={self.max_events_per_second!r}, "
            f"interval={self.interval!r}, level={self.level!r})"
        )
