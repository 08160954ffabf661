"""``GroupRegistry``: records into the local registry, reads the whole worker group."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from metrics_core.registry.protocol import Registry
from metrics_core.snapshot import Snapshot
from metrics_core.workers._options import WorkerGroupOptions, options_from
from metrics_core.workers.group import WorkerGroup

__all__ = ["GroupRegistry", "join_worker_group"]


class GroupRegistry:
    """A ``Registry`` whose recording is the local one's and whose snapshots are the group's.

    The recording methods are the local registry's own bound methods, so the request
    path costs exactly what it costs without a group. Other attributes
    (``series_count`` ...) are the local registry's.
    """

    def __init__(self, local: Registry, group: WorkerGroup) -> None:
        self.local = local
        self.group = group
        self.clock = local.clock
        self.counter = local.counter
        self.gauge = local.gauge
        self.histogram = local.histogram
        self.timer = local.timer
        self.instrument = local.instrument

    def snapshot(
        self, *, names: Iterable[str] | None = None, match: Mapping[str, str] | None = None
    ) -> Snapshot:
        """The worker group's snapshot of the selected series."""
        return self.group.snapshot(names=names, match=match)

    def clear(self) -> None:
        """Forget everything this worker recorded (the others' and the retired state stay)."""
        self.local.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.local, name)

    def __repr__(self) -> str:
        return f"GroupRegistry(local={self.local!r}, directory={str(self.group.directory)!r})"


def join_worker_group(
    multiproc: str | os.PathLike[str] | WorkerGroupOptions | None, registry: Registry
) -> tuple[WorkerGroup | None, Registry]:
    """Join the group ``multiproc`` (or ``INFERENCE_METRICS_MULTIPROC_DIR``) names, if any.

    Returns the membership and the registry that ``Metrics`` should use: a
    ``GroupRegistry`` over ``registry`` in a group, ``registry`` itself otherwise.
    """
    options = options_from(multiproc)
    if options is None:
        return None, registry
    group = WorkerGroup(options, registry)
    return group, GroupRegistry(registry, group)
