"""``Dimensions``: which event attributes a collector turns into series tags.

OpenTelemetry-View style: a collector keeps only the attribute keys it is given
(``InferenceCollector(dimensions=("provider", "tenant"))``); the others cost one
dict lookup per kept key, nothing more. Each kept key admits at most
``max_values`` distinct values; later ones are recorded under
:data:`OVERFLOW_VALUE` and counted in ``metrics_dimension_overflow_total{dimension}``,
so one key cannot exhaust the metric's series budget.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping

from metrics_core import names
from metrics_core.attributes import check_attribute_keys
from metrics_core.registry import Registry
from metrics_core.tags import Tags, TagValue

__all__ = ["COMBINATIONS", "DEFAULT_MAX_SETS", "DEFAULT_MAX_VALUES", "OVERFLOW_VALUE", "Dimensions"]

OVERFLOW_VALUE = "_other"
"""The value a kept key records once it has seen ``max_values`` distinct values."""

DEFAULT_MAX_VALUES = 100
"""Distinct values admitted per kept key by default."""

DEFAULT_MAX_SETS = 2_000
"""Distinct combinations of kept values a collector records, all versions together, by default:
per-key limits multiply (100 values on each of 3 keys is a million combinations)."""

COMBINATIONS = "_combinations"
"""The ``dimension`` tag of ``metrics_dimension_overflow_total`` for combinations folded."""

Projection = tuple[tuple[str, str], ...]
"""The kept ``(key, value)`` pairs of one event, in the order of the kept keys."""


class Dimensions:
    """The kept attribute keys of one collector, each with its own value limit.

    :param keys: attribute keys to keep, in the order given (duplicates raise).
    :param max_values: distinct values admitted per key (>= 1).
    :param reserved: tag keys the collector sets itself; keeping one raises.
    """

    __slots__ = ("_lock", "_registry", "_seen", "keys", "max_values")

    def __init__(
        self,
        keys: Iterable[str],
        *,
        max_values: int = DEFAULT_MAX_VALUES,
        reserved: Collection[str] = (),
    ) -> None:
        kept = check_attribute_keys(keys, "dimensions")
        for key in kept:
            if key in reserved:
                raise ValueError(f"'dimensions' must not include a key the collector sets: {key!r}")
        if max_values.__class__ is not int or max_values < 1:
            raise ValueError(f"'max_dimension_values' must be an int >= 1: {max_values!r}")
        self.keys = kept
        self.max_values = max_values
        self._seen: dict[str, set[str]] = {key: set() for key in kept}
        self._lock = threading.Lock()
        self._registry: Registry | None = None

    def bind(self, registry: Registry) -> None:
        """Count folded values in ``registry``; the values seen so far are forgotten."""
        with self._lock:
            self._registry = registry
            self._seen = {key: set() for key in self.keys}

    def project(self, attributes: Mapping[str, TagValue]) -> Projection:
        """The kept ``(key, value)`` pairs of ``attributes``; absent keys are left out.

        Events store attributes as ``Tags``, so values are strings already.
        """
        if not attributes:
            return ()
        out: list[tuple[str, str]] = []
        seen = self._seen
        for key in self.keys:
            found = attributes.get(key)
            if found is not None:
                value = found if found.__class__ is str else Tags({key: found})[key]
                if value not in seen[key]:
                    value = self._admit(key, value)
                out.append((key, value))
        return tuple(out)

    def fold(self, projected: Projection) -> Projection:
        """``projected`` with every value ``_other``, counted under ``_combinations``."""
        registry = self._registry
        if registry is not None:
            registry.counter(names.DIMENSION_OVERFLOW_TOTAL, Tags({"dimension": COMBINATIONS}))
        return tuple((key, OVERFLOW_VALUE) for key, _ in projected)

    def seen(self, key: str) -> frozenset[str]:
        """The values admitted for ``key`` so far (``KeyError`` if it is not kept)."""
        with self._lock:
            return frozenset(self._seen[key])

    def _admit(self, key: str, value: str) -> str:
        with self._lock:
            values = self._seen[key]
            if value in values:
                return value
            if len(values) < self.max_values:
                values.add(value)
                return value
            registry = self._registry
        if registry is not None:
            registry.counter(names.DIMENSION_OVERFLOW_TOTAL, Tags({"dimension": key}))
        return OVERFLOW_VALUE

    def __repr__(self) -> str:
        return f"Dimensions({self.keys!r}, max_values={self.max_values!r})"
