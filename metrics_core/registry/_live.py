"""Live series of the aggregating registry: the code on the request path.

Each live series records under the registry's lock and reads the registry's
clock. A series dropped by the idle sweep is marked ``expired``; a record that
finds it so returns ``False`` and the caller resolves the series again, so a
value racing the sweep is never lost.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left

from metrics_core._validation import MAX_VALUE, check_finite, check_non_negative
from metrics_core.clock import Clock
from metrics_core.values import MetricKind
from metrics_core.windows import WindowedCounter, WindowedDistribution

_MAX = MAX_VALUE
_log2 = math.log2
_ceil = math.ceil


class LiveCounter(WindowedCounter):
    """A counter series."""

    __slots__ = ("_clock", "_lock", "expired", "updated_at")

    def __init__(self, now: float, lock: threading.Lock, clock: Clock) -> None:
        super().__init__(now)
        self._lock = lock
        self._clock = clock
        self.expired = False
        self.updated_at = now

    def active_until(self) -> float:
        """A bound on the last record: it landed in the open slot, before its end."""
        return self._open_end

    def record(self, increment: float) -> bool:
        """Add ``increment`` (finite, >= 0); ``False`` if the series has expired."""
        # Only plain in-range floats and ints pass; the rest is converted or rejected.
        if (increment.__class__ is not float and increment.__class__ is not int) or not (
            0.0 <= increment <= _MAX
        ):
            increment = check_non_negative(increment, "increment")
        with self._lock:
            if self.expired:
                return False
            now = self._clock()
            if now >= self._open_end:
                self.rotate(now)
                self.updated_at = now
            self._open += increment
        return True


class LiveGauge:
    """A gauge series: the last value set."""

    __slots__ = ("_clock", "_lock", "expired", "updated_at", "value")

    def __init__(self, now: float, lock: threading.Lock, clock: Clock) -> None:
        self._lock = lock
        self._clock = clock
        self.expired = False
        self.value = 0.0
        self.updated_at = now

    def active_until(self) -> float:
        """When the gauge was last set."""
        return self.updated_at

    def record(self, value: float) -> bool:
        """Set the gauge to ``value`` (finite); ``False`` if the series has expired."""
        if (value.__class__ is not float and value.__class__ is not int) or not (
            -_MAX <= value <= _MAX
        ):
            value = check_finite(value, "value")
        with self._lock:
            if self.expired:
                return False
            self.value = value
            self.updated_at = self._clock()
        return True


class LiveDistribution(WindowedDistribution):
    """A histogram or timer series (timers reject negative durations)."""

    __slots__ = (
        "_clock", "_floor", "_lock", "bounds", "bucket_counts", "expired", "kind", "updated_at",
    )  # fmt: skip

    def __init__(
        self,
        now: float,
        lock: threading.Lock,
        clock: Clock,
        kind: MetricKind,
        bounds: tuple[float, ...],
    ) -> None:
        super().__init__(now)
        self._lock = lock
        self._clock = clock
        self.expired = False
        self.updated_at = now
        self.kind = kind
        # The lowest value the fast check lets through.
        self._floor = 0.0 if kind is MetricKind.TIMER else -_MAX
        self.bounds = bounds
        self.bucket_counts = [0] * (len(bounds) + 1)

    def active_until(self) -> float:
        """A bound on the last record: it landed in the open slot, before its end."""
        return self._open_end

    def record(self, value: float) -> bool:
        """Observe ``value``; ``False`` if the series has expired."""
        if (value.__class__ is not float and value.__class__ is not int) or not (
            self._floor <= value <= _MAX
        ):
            if self.kind is MetricKind.TIMER:
                value = check_non_negative(value, "duration_ms")
            value = check_finite(value, "value")
        with self._lock:
            if self.expired:
                return False
            now = self._clock()
            if now >= self._open_end:
                self.rotate(now)
                self.updated_at = now
            self.count += 1
            self.total += value
            # Plain comparisons: min()/max() calls cost ~250 ns more here.
            if value < self.minimum:
                self.minimum = value
            if value > self.maximum:
                self.maximum = value
            if value > 0.0:
                index = _ceil(_log2(value) * 64) - 1
                positive = self.positive
                positive[index] = positive.get(index, 0) + 1
            elif value == 0.0:
                self.zeros += 1
            else:
                index = _ceil(_log2(-value) * 64) - 1
                negative = self.negative
                negative[index] = negative.get(index, 0) + 1
            self.bucket_counts[bisect_left(self.bounds, value)] += 1
        return True


LiveSeries = LiveCounter | LiveGauge | LiveDistribution
