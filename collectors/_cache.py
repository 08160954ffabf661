"""The slow path of the collectors' per-key instrument caches."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


MAX_CACHED_KEYS = 10_000
"""The most entries a collector's per-key cache holds (versions, error types, routes)."""


def cache_once(
    cache: dict[K, V],
    key: K,
    lock: threading.Lock,
    make: Callable[[], V],
    limit: int = MAX_CACHED_KEYS,
) -> V:
    """``cache[key]``, set to ``make()`` under ``lock`` unless another thread set it first.

    Callers look ``key`` up without the lock and call this on a miss only, so a hit
    costs one ``dict.get`` on the event path; the lock makes two threads that miss
    together record into one instrument. A cache holding ``limit`` keys is emptied
    before the next is added: it only spares lookups (the registry holds the data and
    folds what exceeds its own limit), so a flood of keys costs re-binding, not memory.
    """
    with lock:
        found = cache.get(key)
        if found is None:
            if len(cache) >= limit:
                cache.clear()
            found = cache[key] = make()
        return found


def step_count(counts: dict[K, int], key: K, step: int, limit: int = MAX_CACHED_KEYS) -> int | None:
    """Move ``counts[key]`` by ``step`` (never below 0) and return it; call under a lock.

    Bounded like the caches: when ``limit`` keys are held, keys at zero are dropped;
    if none is, a new key is not tracked and ``None`` is returned.
    """
    count = counts.get(key)
    if count is None and len(counts) >= limit:
        for idle in [k for k, c in counts.items() if c == 0]:
            del counts[idle]
        if len(counts) >= limit:
            return None
    count = max(0, (count or 0) + step)
    counts[key] = count
    return count
