"""The worker group's directory: file names, atomic writes, locks, reading with a cache.

Names: ``w-<pid>-<start>-<n>.state`` per member, ``retired.state`` for finished
members folded together, ``exported.state`` for what the leader pushed last,
``group.id`` for the group's identity, ``.join.lock`` and
``.leader.lock`` for ``flock``. A write goes to ``tmp-<pid>-...`` in the same
directory and is renamed over the target, so a reader sees the old file or the new
one, never part of one; a writer killed mid-write leaves only a ``tmp-`` file,
removed later by a live member once that pid is gone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import attrs

from metrics_core.workers._state_file import SketchCache, StateFile, StateFileError, decode_state

__all__ = [
    "GROUP_FILE",
    "KNOWN",
    "RETIRED_FILE",
    "StateReader",
    "exclusive",
    "member_file",
    "pid_of",
    "try_lead",
    "worker_id_of",
    "write_atomic",
]

GROUP_FILE = "group.id"
RETIRED_FILE = "retired.state"
JOIN_LOCK = ".join.lock"
LEADER_LOCK = ".leader.lock"
MEMBER_PREFIX = "w-"
MEMBER_SUFFIX = ".state"
TMP_PREFIX = "tmp-"
_PEEK = 64  # the state file header (sequence, write time) and a little more
EXPORTED_FILE = "exported.state"
KNOWN = frozenset({GROUP_FILE, RETIRED_FILE, EXPORTED_FILE, JOIN_LOCK, LEADER_LOCK})
"""The group's own files besides member and temporary files."""


def member_file(worker_id: str) -> str:
    """The file name of the member ``worker_id`` (``<pid>-<start time>-<n>``)."""
    return f"{MEMBER_PREFIX}{worker_id}{MEMBER_SUFFIX}"


def worker_id_of(name: str) -> str | None:
    """The worker id in a member file name, or None for any other name."""
    if name.startswith(MEMBER_PREFIX) and name.endswith(MEMBER_SUFFIX):
        return name[len(MEMBER_PREFIX) : -len(MEMBER_SUFFIX)]
    return None


def pid_of(name: str) -> tuple[int, int] | None:
    """(pid, start time) named by a member or temporary file name, or None."""
    worker = worker_id_of(name)
    if worker is None and name.startswith(TMP_PREFIX):
        worker = name[len(TMP_PREFIX) :]
    parts = (worker or "").split("-")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])


def write_atomic(directory: Path, name: str, data: bytes, writer: str) -> None:
    """Write ``data`` to ``directory/name`` atomically (temporary file, then rename)."""
    tmp = directory / f"{TMP_PREFIX}{writer}"
    with open(tmp, "wb") as out:
        out.write(data)
    os.replace(tmp, directory / name)


@contextlib.contextmanager
def exclusive(directory: Path, name: str = JOIN_LOCK) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory/name`` (released if the process dies)."""
    import fcntl  # noqa: PLC0415 - POSIX only: imported where the group needs it

    fd = os.open(directory / name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def try_lead(directory: Path) -> int | None:
    """A descriptor holding the group's leader lock, or None when another member holds it."""
    import fcntl  # noqa: PLC0415

    fd = os.open(directory / LEADER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


@attrs.define
class StateReader:
    """Reads state files, decoding a file again only when it changed (inode, mtime, size).

    ``skipped`` counts files that failed to decode, by reason, each version once.
    """

    cache: SketchCache = attrs.field(factory=SketchCache)
    _files: dict[str, tuple[tuple[int, int, int, bytes], StateFile | None]] = attrs.field(
        factory=dict
    )
    skipped: dict[str, int] = attrs.field(factory=dict)
    _counted: set[tuple[str, str]] = attrs.field(factory=set)

    def read(self, path: Path) -> StateFile | None:
        """The state in ``path``; None when it is gone or invalid (counted once per version)."""
        try:
            with open(path, "rb") as source:
                stat = os.fstat(source.fileno())
                # An inode is reused and mtime is coarse: two versions written in one
                # clock tick can share both, so the header and checksum count too.
                head = source.read(_PEEK)
                if stat.st_size > _PEEK:
                    source.seek(-4, os.SEEK_END)
                    head += source.read(4)
                key = (stat.st_ino, stat.st_mtime_ns, stat.st_size, head)
                cached = self._files.get(path.name)
                if cached is not None and cached[0] == key:
                    return cached[1]
                source.seek(0)
                blob = source.read()
        except OSError:
            return None
        state: StateFile | None
        try:
            state = decode_state(blob, self.cache)
        except StateFileError as error:
            reason = "foreign" if "magic" in str(error) else "corrupt"
            self.skipped[reason] = self.skipped.get(reason, 0) + 1
            state = None
        self._files[path.name] = (key, state)
        return state

    def count(self, name: str, reason: str) -> None:
        """Count the file ``name`` as skipped for ``reason``, once while it stays there."""
        if (name, reason) not in self._counted:
            self._counted.add((name, reason))
            self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def forget_except(self, names: set[str]) -> None:
        """Drop cached files not in ``names`` (gone from the directory)."""
        for name in [n for n in self._files if n not in names]:
            del self._files[name]
        self._counted = {key for key in self._counted if key[0] in names}
        self.cache.next_round()
