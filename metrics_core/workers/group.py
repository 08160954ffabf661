"""``WorkerGroup``: the processes sharing one directory answer as one.

Each member (one ``Metrics`` in one process) publishes its registry's snapshot to
its own state file every ``interval`` seconds, from a daemon thread, when anything
changed; recording never touches the files. A read (``snapshot``) takes the local
snapshot live and merges it with every other member's file and the retired state.
A live member folds finished members (stopped, or whose process is gone) into
``retired.state`` under a lock and deletes their files, so the directory holds at
most one file per live member plus three small ones. See docs/architecture.md.
"""

from __future__ import annotations

import atexit
import multiprocessing.util
import os
import secrets
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path

from metrics_core.exporting import ExportFanout, ExportOutcome
from metrics_core.logs import get_logger
from metrics_core.names import WORKER_GROUP_SKIPPED_FILES_TOTAL
from metrics_core.registry.protocol import Registry
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries, Series, Snapshot
from metrics_core.tags import Tags
from metrics_core.values import MetricKind
from metrics_core.workers import _files
from metrics_core.workers._leader import export_as_leader
from metrics_core.workers._merge import GroupWindowView, materialize, merge_series
from metrics_core.workers._options import WorkerGroupOptions
from metrics_core.workers._process import is_alive, start_time
from metrics_core.workers._state_file import (
    FLAG_FINAL,
    FLAG_RETIRED,
    SketchCache,
    StateFile,
    StateHeader,
    encode_state,
)

__all__ = ["WorkerGroup"]

_log = get_logger("metrics_core.workers")
_RETIRED_TTL = 3_600.0  # for a local registry without its own series TTL
_RETIRED_PER_NAME = 2_000  # likewise, series kept per metric name
_FOLDED_KEPT = 256  # ids of folded members remembered (readers may still hold their files)
_instances = iter(range(1, 1 << 62))


class WorkerGroup:
    """One member of the worker group in ``options.directory``; see the module docstring.

    :param options: the directory, freshness interval, start rule and gauge modes.
    :param local: this member's registry (recording goes there, unchanged).
    """

    def __init__(self, options: WorkerGroupOptions, local: Registry) -> None:
        self.options = options
        self.local = local
        self.directory = Path(options.directory)
        self._reader = _files.StateReader()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._leader_fd: int | None = None
        self._handover = False
        self._skips_recorded: dict[str, int] = {}
        self._closed = False
        self._become_member()
        reference = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(reference))
        # A worker that exits without closing (gunicorn's --max-requests, uvicorn stopping,
        # a multiprocessing child, which skips atexit) still publishes its last state.
        atexit.register(_close_at_exit, reference)
        _close_at_process_exit(self)
        # A forked multiprocessing child drops the parent's finalizers, then calls these.
        multiprocessing.util.register_after_fork(self, _close_at_process_exit)

    # -- membership ---------------------------------------------------------------------

    def _become_member(self) -> None:
        self.pid = os.getpid()
        parent = os.getppid()
        self._identity = (self.pid, start_time(self.pid), parent, start_time(parent))
        self.worker_id = f"{self.pid}-{self._identity[1]}-{next(_instances)}"
        self._file = _files.member_file(self.worker_id)
        self._sequence = 0
        self._published: int | None = None
        self._encode_cache = SketchCache()
        self._last_seen: dict[tuple[MetricKind, str, Tags], Series] = {}
        self._expired: dict[tuple[MetricKind, str, Tags], Series] = {}
        self.directory.mkdir(parents=True, exist_ok=True)
        with _files.exclusive(self.directory):
            self.group_id = self._join()
            self._publish(final=False)
        self._thread = threading.Thread(target=self._run, name="metrics-worker-group", daemon=True)
        self._thread.start()

    def _join(self) -> bytes:
        """The id of the live group here, or a new group's (clean or continued), under the lock."""
        current = self._read_group_id()
        states = self._states()
        for _, state in states:
            header = state.header
            if header.group_id != current or header.flags & FLAG_RETIRED:
                continue
            running = not header.flags & FLAG_FINAL and is_alive(header.pid, header.pid_started)
            # The process that starts workers (gunicorn's master, uvicorn's supervisor)
            # keeps the group alive while it recycles all of them; pid 1 is no such one.
            if running or (header.parent > 1 and is_alive(header.parent, header.parent_started)):
                return current
        group_id = secrets.token_bytes(16)
        survivors = [state for _, state in states] if self.options.start == "continue" else []
        for name, _ in states:
            (self.directory / name).unlink(missing_ok=True)
        (self.directory / _files.EXPORTED_FILE).unlink(missing_ok=True)
        if survivors:
            self._write_retired(group_id, survivors, folded=())
        else:
            (self.directory / _files.RETIRED_FILE).unlink(missing_ok=True)
        _files.write_atomic(
            self.directory, _files.GROUP_FILE, group_id.hex().encode(), self.worker_id
        )
        _log.info("worker_group_started", directory=str(self.directory), start=self.options.start)
        return group_id

    def _read_group_id(self) -> bytes:
        try:
            return bytes.fromhex((self.directory / _files.GROUP_FILE).read_text("ascii").strip())
        except (OSError, ValueError):
            return b""

    def _states(self) -> list[tuple[str, StateFile]]:
        """Every valid member and retired file here, by name."""
        out = []
        for name in sorted(os.listdir(self.directory)):
            if _files.worker_id_of(name) is not None or name == _files.RETIRED_FILE:
                state = self._reader.read(self.directory / name)
                if state is not None:
                    out.append((name, state))
        return out

    # -- publishing -----------------------------------------------------------------------

    def _run(self) -> None:
        wait = self.options.interval
        while not self._stop.wait(wait):
            began = time.monotonic()
            try:
                self._publish(final=False)
                self._fold_finished()
                self.is_leader()  # take the lead when it is free
            except Exception:  # a full disk must not end publishing for good
                _log.exception("worker_group_publish_failed", directory=str(self.directory))
            # A state so large that publishing it takes long waits longer: the thread
            # never takes more than a fifth of the process's time from the request path.
            wait = max(self.options.interval, 4 * (time.monotonic() - began))

    def _publish(self, *, final: bool, snapshot: Snapshot | None = None) -> None:
        with self._lock:
            if snapshot is None:
                snapshot = self._local()
            signature = _signature(snapshot.series)
            if signature == self._published and not final:
                return
            self._sequence += 1
            header = self._header(FLAG_FINAL if final else 0, snapshot.taken_at)
            data = encode_state(header, snapshot.series, self._encode_cache)
            self._encode_cache.next_round()
            _files.write_atomic(self.directory, self._file, data, self.worker_id)
            self._published = signature

    def _local(self) -> Snapshot:
        """The local snapshot, plus the counters and distributions the registry dropped.

        An idle series expires from a registry (``series_ttl``) while other workers may
        keep it alive: without its last state the group's total would go down. So the
        last state of each expired series is kept, and added to the series if it returns.
        """
        snapshot = self.local.snapshot()
        present = {(s.kind, s.name, s.tags): s for s in snapshot.series}
        grew = False
        for key, old in self._last_seen.items():
            if key not in present and not isinstance(old, GaugeSeries):
                kept = self._expired.get(key)
                gone = old if kept is None else merge_series([[kept], [old]])[0]
                self._expired[key] = materialize(gone, snapshot.taken_at)
                grew = True
        self._last_seen = present
        if grew:  # bounded like the registry: each metric keeps its newest kept states
            per_name = getattr(self.local, "max_series_per_metric", _RETIRED_PER_NAME)
            kept_states = _bounded(list(self._expired.values()), snapshot.taken_at, None, per_name)
            self._expired = {(s.kind, s.name, s.tags): s for s in kept_states}
        if not self._expired:
            return snapshot
        series = [
            materialize(s, snapshot.taken_at) if isinstance(s, CounterSeries | DistributionSeries)
            and isinstance(s.window, GroupWindowView) else s
            for s in merge_series([list(snapshot.series), list(self._expired.values())])
        ]  # fmt: skip
        return Snapshot(snapshot.taken_at, tuple(series))

    def _header(self, flags: int, now: float) -> StateHeader:
        pid, started, parent, parent_started = self._identity
        return StateHeader(
            flags, self.group_id, pid, started, parent, parent_started, now, self._sequence
        )

    def is_leader(self) -> bool:
        """Whether this member holds the group's leader lock (it runs the push exports)."""
        if self._leader_fd is None and not self._closed:
            self._leader_fd = _files.try_lead(self.directory)
            self._handover = self._leader_fd is not None
        return self._leader_fd is not None

    def export(
        self, fanout: ExportFanout, snapshot: Snapshot, deadline: float | None
    ) -> list[ExportOutcome]:
        """Push ``snapshot`` through ``fanout`` if this member leads (else ``[]``).

        The first push after taking the lead primes delta exporters with what the
        previous leader pushed last (``metrics_core.workers._leader``).
        """
        if not self.is_leader():
            return []
        handover, self._handover = self._handover, False
        return export_as_leader(fanout, snapshot, deadline, self.directory, self.group_id, handover)

    def close(self) -> None:
        """Publish the final state (this member's gauges drop out) and stop publishing.

        Leadership is kept until :meth:`resign`, so that a last push can follow.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        try:
            self._publish(final=True)
        except OSError:
            _log.exception("worker_group_final_publish_failed", directory=str(self.directory))

    def resign(self) -> None:
        """Give up leadership (another member takes over within one interval)."""
        if self._leader_fd is not None:
            os.close(self._leader_fd)
            self._leader_fd = None

    # -- folding finished members ------------------------------------------------------

    def _fold_finished(self) -> None:
        """Fold finished members into the retired state and delete their files."""
        with self._lock:
            names = os.listdir(self.directory)
            if any(self._finished(name) for name in names):
                self._fold_locked()

    def _fold_locked(self) -> None:
        with _files.exclusive(self.directory):
            names = os.listdir(self.directory)
            retired = self._reader.read(self.directory / _files.RETIRED_FILE)
            folded = retired.folded if retired is not None else ()
            # Decided once: a member that finishes while this pass runs waits for the next
            # one, never deleted without being folded.
            finished = {name for name in names if self._finished(name)}
            done: list[tuple[str, StateFile]] = []
            for name in names:
                worker = _files.worker_id_of(name)
                if worker is None or worker in folded or name not in finished:
                    continue
                state = self._reader.read(self.directory / name)
                if state is not None and state.header.group_id == self.group_id:
                    done.append((worker, state))
            if done:
                members = [retired] if retired is not None else []
                members += [state for _, state in done]
                ids = (*folded, *(worker for worker, _ in done))[-_FOLDED_KEPT:]
                self._write_retired(self.group_id, members, ids)
            for name in names:  # folded, unreadable or left by dead writers: all gone
                if name in finished or (_files.worker_id_of(name) or "") in folded:
                    (self.directory / name).unlink(missing_ok=True)

    def _finished(self, name: str) -> bool:
        """Whether ``name`` is a member or temporary file whose writer is gone or stopped."""
        owner = _files.pid_of(name)
        if owner is None:
            return False
        if not is_alive(*owner):
            return True
        if _files.worker_id_of(name) is None or name == self._file:
            return False
        state = self._reader.read(self.directory / name)
        return state is not None and bool(state.header.flags & FLAG_FINAL)

    def _write_retired(
        self, group_id: bytes, members: list[StateFile], folded: Iterable[str]
    ) -> None:
        now = max((m.header.written_at for m in members), default=0.0)
        counted = [[s for s in m.series if s.kind is not MetricKind.GAUGE] for m in members]
        series = _bounded(
            [materialize(s, now) for s in merge_series(counted)],
            now,
            getattr(self.local, "series_ttl", _RETIRED_TTL),
            getattr(self.local, "max_series_per_metric", _RETIRED_PER_NAME),
        )
        header = StateHeader(FLAG_RETIRED, group_id, 0, 0, 0, 0, now, 0)
        data = encode_state(header, series, SketchCache(), tuple(folded))
        _files.write_atomic(self.directory, _files.RETIRED_FILE, data, self.worker_id)

    # -- reading --------------------------------------------------------------------------

    def snapshot(
        self, *, names: Iterable[str] | None = None, match: Mapping[str, str] | None = None
    ) -> Snapshot:
        """The group's snapshot: this member now, the others as last published, the retired.

        This member's state is published first (when it changed): whatever a read shows
        is on disk before the read returns, so the next read, in any worker, shows at
        least as much. That keeps counters from going down between readers.
        """
        wanted = None if names is None else set(names)
        with self._lock:
            local = self._local()
            if not self._closed:
                self._publish(final=False, snapshot=local)
            members, retired = self._read_members()
            self._count_skipped()
        own_folded = retired is not None and self.worker_id in retired.folded
        parts = [] if own_folded else [_select(local.series, wanted, match, gauges=True)]
        folded = set(retired.folded) if retired is not None else set()
        for worker, state in members:
            if worker in folded:
                continue
            live = not state.header.flags & FLAG_FINAL and is_alive(
                state.header.pid, state.header.pid_started
            )
            parts.append(_select(state.series, wanted, match, gauges=live))
        if retired is not None:
            parts.append(_select(retired.series, wanted, match, gauges=False))
        return Snapshot(local.taken_at, tuple(merge_series(parts, self.options.gauge_modes)))

    def _read_members(self) -> tuple[list[tuple[str, StateFile]], StateFile | None]:
        """Every other member's state, then the retired state (read last: see architecture.md)."""
        names = os.listdir(self.directory)
        members = []
        for name in names:
            worker = _files.worker_id_of(name)
            if worker is None:
                if name not in _files.KNOWN and not name.startswith(_files.TMP_PREFIX):
                    self._reader.count(name, "foreign")
                continue
            if name == self._file:
                continue
            state = self._reader.read(self.directory / name)
            if state is not None and state.header.group_id != self.group_id:
                self._reader.count(name, "stale")
            elif state is not None:
                members.append((worker, state))
        retired = self._reader.read(self.directory / _files.RETIRED_FILE)
        if retired is not None and retired.header.group_id != self.group_id:
            retired = None
        self._reader.forget_except(set(names))
        return members, retired

    def _count_skipped(self) -> None:
        for reason, count in self._reader.skipped.items():
            new = count - self._skips_recorded.get(reason, 0)
            if new > 0:
                tags = Tags({"reason": reason})
                self.local.counter(WORKER_GROUP_SKIPPED_FILES_TOTAL, tags, float(new))
                self._skips_recorded[reason] = count

    @property
    def skipped_files(self) -> Mapping[str, int]:
        """Files this member skipped while reading, by reason (``corrupt``, ``foreign``, ...)."""
        return dict(self._reader.skipped)


def _bounded(series: list[Series], now: float, ttl: float | None, per_name: int) -> list[Series]:
    """The retired series a single process would still hold: the registry's rules.

    Series idle longer than ``ttl`` expire, as in the registry's sweep, and each metric
    keeps its ``per_name`` most recently updated series, so the retired state stays
    bounded however many distinct series finished workers ever recorded.
    """
    if ttl is not None:
        series = [s for s in series if s.updated_at >= now - ttl]
    by_name: dict[str, list[Series]] = {}
    for item in series:
        by_name.setdefault(item.name, []).append(item)
    kept: list[Series] = []
    for family in by_name.values():
        family.sort(key=lambda s: s.updated_at, reverse=True)
        kept += family[:per_name]
    return kept


def _select(
    series: Iterable[Series],
    wanted: set[str] | None,
    match: Mapping[str, str] | None,
    *,
    gauges: bool,
) -> list[Series]:
    return [
        s
        for s in series
        if (wanted is None or s.name in wanted)
        and (not match or s.tags.includes(match))
        and (gauges or not isinstance(s, GaugeSeries))
    ]


def _signature(series: Iterable[Series]) -> int:
    """Changes when anything was recorded (totals, counts, gauge values)."""
    return hash(tuple((s.name, s.tags, _progress(s)) for s in series))


def _progress(series: Series) -> tuple[float, ...]:
    if isinstance(series, CounterSeries):
        return (series.total,)
    if isinstance(series, GaugeSeries):
        return (series.value, series.updated_at)
    return (float(sum(series.bucket_counts)),)


def _close_at_process_exit(group: WorkerGroup) -> None:
    """Close at the end of a multiprocessing child, which exits without running atexit."""
    multiprocessing.util.Finalize(None, _close_at_exit, (weakref.ref(group),), exitpriority=10)


def _close_at_exit(reference: weakref.ref[WorkerGroup]) -> None:
    group = reference()
    if group is not None and group.pid == os.getpid():
        group.close()
        group.resign()


def _after_fork(reference: weakref.ref[WorkerGroup]) -> None:
    """In a forked child: a new member with its own file and thread; the parent keeps its data."""
    group = reference()
    if group is None or group._closed:
        return
    group._lock = threading.RLock()
    group._stop = threading.Event()
    if group._leader_fd is not None:  # the parent's lock stays the parent's
        os.close(group._leader_fd)
        group._leader_fd = None
    group.local.clear()
    group._become_member()
