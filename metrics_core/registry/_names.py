"""Tag keys that would break or merge in a backend are refused when they first arrive.

Backends rename what they cannot spell: Prometheus writes the tag key ``a.b`` as
the label ``a_b``. Two keys of one metric that read alike there (``a.b`` and
``a_b``) would give two series one label set, and Prometheus keeps one of them;
two such keys in one tag set give a series with a label twice, and Prometheus
drops the whole scrape. The registry refuses the second key with a
``ValueError`` instead, so nothing is merged or lost silently.

Reserved names are refused too: keys starting with ``__`` (Prometheus' own,
``__name__`` above all) by ``Tags`` itself, and ``le`` and ``quantile`` on
histograms and timers, whose buckets and summaries add those labels.
"""

from __future__ import annotations

from metrics_core.tags import Tags
from metrics_core.values import MetricKind

MAX_METRIC_NAMES = 10_000
"""Metric names a registry holds at most: a new name past it is refused with ``ValueError``."""

RESERVED_FOR_DISTRIBUTIONS = frozenset({"le", "quantile"})
"""Tag keys a histogram or timer may not have: its exported buckets and quantiles add them."""


_RENAMED = {"le": "exported_le", "quantile": "exported_quantile"}


def backend_key(key: str) -> str:
    """How tag key ``key`` reads in the strictest backend, Prometheus.

    Dots become ``_``; ``le`` and ``quantile`` (on counters and gauges) become
    ``exported_le`` and ``exported_quantile``, as Prometheus renames clashing labels.
    """
    label = key.replace(".", "_")
    return _RENAMED.get(label, label)


def check_room_for_name(held: int, name: str) -> None:
    """Refuse the new metric ``name`` when ``held`` names are held already.

    Metric names come from code, not traffic; a name built from request data (a user
    id in the name) would grow the registry without bound, so it fails loudly instead.
    """
    if held >= MAX_METRIC_NAMES:
        raise ValueError(
            f"a registry holds at most {MAX_METRIC_NAMES:,} metric names (put varying values "
            f"in tags, not in names): {name!r}"
        )


class KeyGuard:
    """Remembers, per metric, the tag keys its series use; not thread-safe (the registry's lock).

    Holds only the keys of series the registry admitted, so it is bounded like them.
    """

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: dict[str, dict[str, str]] = {}  # metric -> backend key -> tag key

    def admit(self, kind: MetricKind, name: str, tags: Tags) -> None:
        """Raise ``ValueError`` if ``tags`` cannot be told apart in a backend; else remember."""
        if kind is MetricKind.HISTOGRAM or kind is MetricKind.TIMER:
            reserved = RESERVED_FOR_DISTRIBUTIONS.intersection(tags)
            if reserved:
                raise ValueError(
                    f"tag key {min(reserved)!r} is reserved on {kind.value}s "
                    f"(their buckets and quantiles use it): metric {name!r}"
                )
        known = self._keys.get(name)
        if known is None:
            known = self._keys[name] = {}
        fresh: dict[str, str] = {}
        for key in tags:
            spelled = backend_key(key)
            owner = known.get(spelled) or fresh.get(spelled)
            if owner is None:
                fresh[spelled] = key
            elif owner != key:
                raise ValueError(
                    f"tag keys {owner!r} and {key!r} of metric {name!r} both read "
                    f"{spelled!r} in Prometheus: use one spelling"
                )
        known.update(fresh)

    def forget(self, name: str) -> None:
        """Drop what is known of ``name`` (its last series expired)."""
        self._keys.pop(name, None)

    def clear(self) -> None:
        """Forget everything."""
        self._keys.clear()
