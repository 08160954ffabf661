"""``VersionIndex``: the series of each (model name, version), for per-version reads.

``get_metrics`` asks for one version's series out of thousands. Filtering every
series by its tags costs time in proportion to the whole registry; the index
answers in proportion to the version's own series. It holds references to the
registry's live series only, so it is bounded by the series the registry holds
(its cardinality limit and idle TTL), and is kept under the registry's lock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from metrics_core.names import MODEL_NAME, VERSION
from metrics_core.tags import Tags
from metrics_core.values import MetricKind

S = TypeVar("S")
Key = tuple[MetricKind, str, Tags]
"""(kind, name, tags) of a series."""


def version_of(tags: Tags | Mapping[str, str]) -> tuple[str, str] | None:
    """``(model_name, version)`` of tags that carry both, else ``None``."""
    model_name = tags.get(MODEL_NAME)
    version = tags.get(VERSION)
    if model_name is None or version is None:
        return None
    return model_name, version


class VersionIndex(Generic[S]):
    """Series grouped by ``(model_name, version)``; not thread-safe by itself."""

    __slots__ = ("_by_version",)

    def __init__(self) -> None:
        self._by_version: dict[tuple[str, str], dict[Key, S]] = {}

    def add(self, kind: MetricKind, name: str, tags: Tags, series: S) -> None:
        """Index ``series`` if its tags name a model version."""
        key = version_of(tags)
        if key is not None:
            self._by_version.setdefault(key, {})[(kind, name, tags)] = series

    def remove(self, kind: MetricKind, name: str, tags: Tags) -> None:
        """Forget the series ``(kind, name, tags)``, if indexed."""
        key = version_of(tags)
        members = None if key is None else self._by_version.get(key)
        if members is not None and key is not None:
            members.pop((kind, name, tags), None)
            if not members:
                del self._by_version[key]

    def members(self, model_name: str, version: str) -> Iterator[tuple[Key, S]]:
        """The indexed series of one version, as ``((kind, name, tags), series)``."""
        return iter(self._by_version.get((model_name, version), {}).items())

    def clear(self) -> None:
        """Forget everything."""
        self._by_version.clear()

    def __len__(self) -> int:
        return sum(len(members) for members in self._by_version.values())
