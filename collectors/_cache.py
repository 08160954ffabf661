"""The slow path of the collectors' per-key instrument caches."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def cache_once(cache: dict[K, V], key: K, lock: threading.Lock, make: Callable[[], V]) -> V:
    """``cache[key]``, set to ``make()`` under ``lock`` unless another thread set it first.

    Callers look ``key`` up without the lock and call this on a miss only, so a hit
    costs one ``dict.get`` on the event path; the lock makes two threads that miss
    together record into one instrument.
    """
    with lock:
        found = cache.get(key)
        if found is None:
            found = cache[key] = make()
        return found
