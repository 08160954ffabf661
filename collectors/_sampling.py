"""What the sampling collectors share: a stoppable sampler thread and value guards."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import TypeGuard, TypeVar

from metrics_core.logs import get_logger

_log = get_logger("collectors.sampling")

T = TypeVar("T")


def check_interval(interval: float) -> float:
    """Return ``interval`` as a float if it is a number of seconds > 0, else raise."""
    if (
        isinstance(interval, bool)
        or not isinstance(interval, (int, float))
        or not 0 < interval < math.inf
    ):
        raise ValueError(f"'interval' must be > 0 seconds and finite: {interval!r}")
    return float(interval)


def read(function: Callable[..., T], *args: object) -> T | None:
    """``function(*args)``, or ``None`` if it raises: a failed reading skips one field."""
    try:
        return function(*args)
    except Exception:
        return None


def _is_number(value: object) -> TypeGuard[int | float]:
    # A bool is an int to Python, but never a reading.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def count(value: object) -> int | None:
    """``value`` as an int if it is a finite number >= 0, else ``None``."""
    return int(value) if _is_number(value) and 0 <= value < math.inf else None


def amount(value: object) -> float | None:
    """``value`` as a float if it is a finite number >= 0, else ``None``."""
    return float(value) if _is_number(value) and 0 <= value < math.inf else None


def finite(value: object) -> float | None:
    """``value`` as a float if it is a finite number, else ``None``."""
    return float(value) if _is_number(value) and math.isfinite(value) else None


class SamplerThread:
    """Calls ``sample`` every ``interval`` seconds on a daemon thread until stopped.

    The first call comes one interval after ``start``. A ``sample`` that raises is
    logged and the loop goes on: a sampler never dies of one bad reading.
    """

    def __init__(self, name: str, interval: float, sample: Callable[[], None]) -> None:
        self.name = name
        self.interval = interval
        self._sample = sample
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Start the thread; does nothing if it runs already."""
        with self._lock:
            if self.running:
                return
            # A fresh event per run: a stop() racing an old thread cannot stop the new one.
            stop = threading.Event()
            thread = threading.Thread(target=self._run, args=(stop,), name=self.name, daemon=True)
            self._stop, self._thread = stop, thread
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait up to ``timeout`` seconds for a sample in progress."""
        with self._lock:
            stop, thread = self._stop, self._thread
            self._stop = self._thread = None
        if stop is not None:
            stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                _log.warning("sampler_stop_timed_out", thread=self.name, timeout=timeout)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self._sample()
            except Exception:
                _log.exception("sample_failed", thread=self.name)
