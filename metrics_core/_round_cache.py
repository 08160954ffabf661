"""``RoundCache``: values kept from one round of work to the next, and no longer.

The Prometheus exporter keeps label texts and line beginnings from one render to
the next, and the worker state files keep decoded rings and sketches from one
read to the next: each round reuses what the last one made and keeps only what it
used itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class RoundCache(Generic[V]):
    """Values kept from one round to the next: those the last round used, and new ones.

    A round is one render of a scrape, one state file written or read. ``turn()``
    after a round drops what it did not use, so the cache holds no more than two
    rounds' keys (a series gone from the registry is gone after one). Values must
    depend on their key alone: then threads in one round at once can only compute
    one twice, never read a wrong one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[Hashable, V] = {}
        self._last: dict[Hashable, V] = {}

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value of ``key``, made by ``make()`` when neither round has it."""
        value = self._used.get(key)
        if value is None:
            value = self._last.get(key)
            if value is None:
                value = make()
            self._used[key] = value
        return value

    def turn(self) -> None:
        """End a round: what it used becomes the last round's, the rest is dropped."""
        with self._lock:
            self._last, self._used = self._used, {}

    def __len__(self) -> int:
        return len(self._used) + len(self._last)
