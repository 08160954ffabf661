"""Live series of the aggregating registry: the code on the request path.

A counter or distribution record validates the value, reads the registry's
clock and, while the open one-second slot is current, appends the value to the
series' ``deque``: one atomic call, no lock. The series folds what was
appended (``drain``) under its own lock when the slot ends, when the buffer
holds ``DRAIN_AT`` values and before every read, so threads recording into one
series do not queue on a lock held across a GIL switch. A value that fails
validation raises before it reaches the buffer.

A series dropped by the idle sweep is marked ``expired``; a record that finds it
so returns ``False`` and the caller resolves the series again.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable
from itertools import repeat

from metrics_core._validation import MAX_VALUE, check_finite, check_non_negative
from metrics_core.clock import Clock
from metrics_core.values import MetricKind
from metrics_core.windows import WindowedCounter, WindowedDistribution

_MAX = MAX_VALUE
_log2 = math.log2
_ceil = math.ceil
_times64 = (64.0).__mul__
_BATCH = 16  # from this many values on, a drain counts buckets with C-level maps

DRAIN_AT = 64
"""Values a series buffers before a record folds them in (a bound on its memory)."""


class LiveCounter(WindowedCounter):
    """A counter series."""

    __slots__ = ("_clock", "_lock", "_pending", "expired", "updated_at")

    def __init__(self, now: float, lock: threading.Lock, clock: Clock) -> None:
        super().__init__(now)
        self._lock = lock
        self._clock = clock
        self._pending: deque[float] = deque()
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
        if self.expired:
            return False
        pending = self._pending
        if self._clock() < self._open_end:
            pending.append(increment)  # atomic: no lock on the common path
            if len(pending) >= DRAIN_AT and self._lock.acquire(blocking=False):
                try:  # a full buffer: fold it now, unless another thread is at it
                    self.drain()
                finally:
                    self._lock.release()
            return True
        with self._lock:
            if self.expired:
                return False
            self.drain()
            now = self._clock()
            if now >= self._open_end:
                self.rotate(now)
                self.updated_at = now
            self._open += increment
        return True

    def drain(self) -> None:
        """Fold the increments appended since the last drain into the open slot (under the lock)."""
        pending = self._pending
        count = len(pending)
        if count:
            pop = pending.popleft
            self._open += sum([pop() for _ in range(count)])


class GaugeReading:
    """A value a gauge series reads at each snapshot, instead of one recorded on each change.

    Recorded into an aggregating registry's gauge (``instrument.record(reading)``),
    it makes that series report ``read()`` (a finite number) whenever it is copied
    for a snapshot, at the time of the copy; a number recorded later replaces it.
    ``series`` is the gauge that took it, ``None`` before: once ``series.expired``
    (after ``clear()``), the reading is no longer seen and must be recorded again.
    Other registries reject it, as they reject any value that is not a number.
    """

    __slots__ = ("read", "series")

    def __init__(self, read: Callable[[], float]) -> None:
        self.read = read
        self.series: LiveGauge | None = None


class LiveGauge:
    """A gauge series: the last value set, or what its ``GaugeReading`` reads."""

    __slots__ = ("_clock", "_lock", "_reading", "_updated_at", "_value", "expired")

    def __init__(self, now: float, lock: threading.Lock, clock: Clock) -> None:
        self._lock = lock
        self._clock = clock
        self.expired = False
        self._value = 0.0
        self._updated_at = now
        self._reading: GaugeReading | None = None

    @property
    def value(self) -> float:
        """The last value set, or the reading's value now."""
        reading = self._reading
        if reading is None:
            return self._value
        return check_finite(reading.read(), "value")

    @property
    def updated_at(self) -> float:
        """When the value was set; for a reading, now (it is read when asked)."""
        return self._updated_at if self._reading is None else self._clock()

    def active_until(self) -> float:
        """When the gauge was last set."""
        return self.updated_at

    def record(self, value: float | GaugeReading) -> bool:
        """Set the gauge to ``value`` (finite) or to read it; ``False`` once the series expired."""
        if (value.__class__ is not float and value.__class__ is not int) or not (
            -_MAX <= value <= _MAX
        ):
            if isinstance(value, GaugeReading):
                return self._read_from(value)
            value = check_finite(value, "value")
        if self.expired:
            return False
        # Three stores, no lock: a reader sees the last value set, at worst beside the time
        # of a set racing it. Gauges never expire by idleness, only by ``clear()``.
        self._reading = None
        self._value = value
        self._updated_at = self._clock()
        return True

    def _read_from(self, reading: GaugeReading) -> bool:
        with self._lock:  # against a snapshot copying the series, and ``clear()``
            if self.expired:
                return False
            reading.series = self
            self._reading = reading
        return True


class LiveDistribution(WindowedDistribution):
    """A histogram or timer series (timers reject negative durations)."""

    __slots__ = (
        "_clock", "_floor", "_lock", "_pending", "bounds", "bucket_counts", "expired", "kind",
        "updated_at",
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
        self._pending: deque[float] = deque()
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
        if self.expired:
            return False
        pending = self._pending
        if self._clock() < self._open_end:
            pending.append(value)  # atomic: no lock on the common path
            if len(pending) >= DRAIN_AT and self._lock.acquire(blocking=False):
                try:  # a full buffer: fold it now, unless another thread is at it
                    self.drain()
                finally:
                    self._lock.release()
            return True
        with self._lock:
            if self.expired:
                return False
            self.drain()
            now = self._clock()
            if now >= self._open_end:
                self.rotate(now)
                self.updated_at = now
            self._fold(value)
        return True

    def drain(self) -> None:
        """Fold the values appended since the last drain into the open slot (under the lock)."""
        pending = self._pending
        count = len(pending)
        if count < _BATCH:
            pop = pending.popleft
            for _ in range(count):
                self._fold(pop())
            return
        pop = pending.popleft
        values = [pop() for _ in range(count)]
        low = min(values)
        if low <= 0.0:
            for value in values:
                self._fold(value)
            return
        # Many positive values: count bucket indices with C-level maps.
        self.count += count
        self.total += sum(values)
        high = max(values)
        if low < self.minimum:
            self.minimum = low
        if high > self.maximum:
            self.maximum = high
        counts = self.bucket_counts
        for index, n in Counter(map(bisect_left, repeat(self.bounds, count), values)).items():
            counts[index] += n
        positive = self.positive
        for index, n in Counter(map(_ceil, map(_times64, map(_log2, values)))).items():
            positive[index - 1] = positive.get(index - 1, 0) + n

    def _fold(self, value: float) -> None:
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


LiveSeries = LiveCounter | LiveGauge | LiveDistribution
