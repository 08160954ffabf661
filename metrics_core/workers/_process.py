"""Is a process still the one that wrote a file? pid plus its start time, never the pid alone.

A pid is reused once its process has been reaped, so a worker file names its writer
by pid *and* the kernel's start time of that pid (``/proc/<pid>/stat`` field 22 on
Linux). A zombie (exited, not yet reaped) counts as gone: it records nothing more.
Where ``/proc`` is missing the start time is 0 and only the pid is checked.
"""

from __future__ import annotations

import os

__all__ = ["is_alive", "start_time"]


def start_time(pid: int) -> int:
    """The start time of ``pid`` in clock ticks since boot; 0 when unknown or gone."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return 0
    try:
        return int(fields[19])
    except ValueError:
        return 0


def is_alive(pid: int, started: int) -> bool:
    """Whether ``pid`` runs and is the process that started at ``started`` (0: any)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        pass
    fields = _stat_fields(pid)
    if fields is None:
        return not os.path.isdir("/proc")  # no procfs: the signal check is all there is
    if fields and fields[0] in ("Z", "X"):
        return False
    return not started or (len(fields) > 19 and fields[19] == str(started))


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` from the state field on (the name may hold spaces), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            raw = stat.read().decode("ascii", "replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()
