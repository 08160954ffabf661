"""The query methods of ``Metrics``: windows, splits, comparisons and history.

Kept apart from the facade's wiring and exporting so each module holds one concept;
``Metrics`` inherits them. Every query reads a snapshot of the query metrics (the
worker group's when the facade is in one) and, for windows beyond the in-memory
hour, the history store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from metrics_core import names
from metrics_core.compare import Comparison, compare_versions
from metrics_core.history import HistoryStore
from metrics_core.history_query import all_versions_history, history_query, version_history
from metrics_core.query import QUERY_NAMES, VersionMetrics, all_version_metrics, version_metrics
from metrics_core.registry import Registry
from metrics_core.snapshot import Snapshot, Window
from metrics_core.splits import check_where, filter_snapshot, split_version_metrics


class QueryMethods:
    """``get_metrics``, ``get_all_metrics``, ``compare``, ``history`` and ``all_history``."""

    registry: Registry
    history_store: HistoryStore | None
    _started: float

    def get_metrics(
        self,
        model_name: str,
        version: str,
        window: Window = 60.0,
        *,
        where: Mapping[str, Any] | None = None,
    ) -> VersionMetrics:
        """``VersionMetrics`` of one version over the last ``window`` (timedelta or seconds).

        ``where={"provider": "openai"}`` counts only the requests whose kept dimensions
        have those values (see ``metrics_core.splits``).
        """
        match = {names.MODEL_NAME: model_name, names.VERSION: version}
        snapshot, window = self._query_snapshot(window, match)
        if where is not None:
            return version_metrics(snapshot, model_name, version, window, where=check_where(where))
        return version_metrics(snapshot, model_name, version, window)

    def get_all_metrics(
        self,
        window: Window = 60.0,
        *,
        by: Iterable[str] = (),
        where: Mapping[str, Any] | None = None,
    ) -> dict[str, VersionMetrics]:
        """``VersionMetrics`` of every version, keyed ``"model:version"`` (see its ``key``).

        ``by=("provider",)`` splits each version by the values of kept dimensions
        (keys ``"model:version|provider=openai"``); ``where`` filters like in
        :meth:`get_metrics`.
        """
        snapshot, window = self._query_snapshot(window, None)
        if by or where is not None:
            return split_version_metrics(snapshot, window, by=by, where=where)
        return all_version_metrics(snapshot, window)

    def compare(
        self,
        model_name: str,
        baseline: str,
        candidate: str,
        window: Window = 300.0,
        *,
        alpha: float = 0.05,
        min_samples: int = 30,
        where: Mapping[str, Any] | None = None,
    ) -> Comparison:
        """Compare a candidate version with a baseline (latency and error rate, with a verdict).

        See ``metrics_core.compare.Comparison`` for the test and the decision rule.
        ``where`` compares only the requests whose kept dimensions have those values.
        """
        snapshot, window = self._query_snapshot(window, {names.MODEL_NAME: model_name})
        if where is not None:
            snapshot = filter_snapshot(snapshot, check_where(where))
        return compare_versions(
            snapshot, model_name, baseline, candidate, window, alpha=alpha, min_samples=min_samples
        )

    def _query_snapshot(
        self, window: Window, match: dict[str, str] | None
    ) -> tuple[Snapshot, Window]:
        snapshot = self.registry.snapshot(names=QUERY_NAMES, match=match)
        if self.history_store is None:
            return snapshot, window
        return history_query(self.history_store, snapshot, window, self._started, match)

    def history(
        self,
        model_name: str,
        version: str,
        since: Window,
        until: float | None = None,
        step: Window = 60.0,
    ) -> list[VersionMetrics]:
        """``VersionMetrics`` of one version per ``step`` over the ``since`` before ``until``.

        ``until`` is a Unix time (default: now); steps are whole minutes. Memory answers
        the last hour, the history store (when given) the rest: see docs/history.md.
        """
        match = {names.MODEL_NAME: model_name, names.VERSION: version}
        snapshot = self.registry.snapshot(names=QUERY_NAMES, match=match)
        return version_history(
            self.history_store, snapshot, model_name, version, since, until, step
        )

    def all_history(
        self,
        since: Window,
        until: float | None = None,
        step: Window = 60.0,
        *,
        by: Iterable[str] = (),
        where: Mapping[str, Any] | None = None,
    ) -> list[tuple[float, dict[str, VersionMetrics]]]:
        """``(step start, {"model:version": VersionMetrics})`` per ``step``, every version.

        Like :meth:`history`, with one read of the store for all versions; ``by`` and
        ``where`` as in :meth:`get_all_metrics`.
        """
        snapshot = self.registry.snapshot(names=QUERY_NAMES)
        checked = None if where is None else check_where(where)
        return all_versions_history(
            self.history_store, snapshot, since, until, step, by=by, where=checked
        )
