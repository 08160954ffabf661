"""``WorkerGroupOptions``: where a worker group lives and how it behaves."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import attrs

from metrics_core.workers._merge import GAUGE_MODES, GaugeMode

__all__ = ["MULTIPROC_DIR_ENV", "MULTIPROC_INTERVAL_ENV", "WorkerGroupOptions", "options_from"]

MULTIPROC_DIR_ENV = "INFERENCE_METRICS_MULTIPROC_DIR"
"""The environment variable naming the worker group's directory."""
MULTIPROC_INTERVAL_ENV = "INFERENCE_METRICS_MULTIPROC_INTERVAL"
"""The environment variable setting the freshness interval in seconds (default 1)."""

StartRule = Literal["clean", "continue"]
"""What a new group does with the files of a previous, dead one: delete or keep counting."""
_MODES = ("sum", "last", "max", "min")


def _check_interval(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"'interval' must be a number of seconds: {value!r}")
    if not (0.01 <= value <= 3600 and math.isfinite(value)):
        raise ValueError(f"'interval' must be between 0.01 and 3600 seconds: {value!r}")


def _check_start(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("clean", "continue"):
        raise ValueError(f"'start' must be 'clean' or 'continue': {value!r}")


def _gauge_modes(value: Mapping[str, GaugeMode]) -> Mapping[str, GaugeMode]:
    for name, mode in value.items():
        if mode not in _MODES:
            raise ValueError(f"'gauge_modes[{name!r}]' must be one of {_MODES}: {mode!r}")
    return {**GAUGE_MODES, **value}


@attrs.frozen(kw_only=True)
class WorkerGroupOptions:
    """A worker group: the processes sharing ``directory`` answer every read as one.

    :param directory: a directory on a local disk, writable by every worker.
    :param interval: seconds between publications of a worker's state: what one
        worker recorded is visible to the others within about this long.
    :param start: when no process of the previous group lives, ``"clean"`` deletes
        its files and starts from zero; ``"continue"`` keeps its counters and
        distributions as retired state.
    :param gauge_modes: how live workers' values of a gauge combine, by metric name
        (``sum``, ``last``, ``max``, ``min``), over ``GAUGE_MODES``; others: ``last``.
    """

    directory: Path = attrs.field(converter=Path)
    interval: float = attrs.field(default=1.0, validator=_check_interval)
    start: StartRule = attrs.field(default="clean", validator=_check_start)
    gauge_modes: Mapping[str, GaugeMode] = attrs.field(factory=dict, converter=_gauge_modes)


def options_from(
    value: str | os.PathLike[str] | WorkerGroupOptions | None,
    environ: Mapping[str, str] = os.environ,
) -> WorkerGroupOptions | None:
    """The options of ``value``, else of ``INFERENCE_METRICS_MULTIPROC_DIR``; None: no group."""
    if isinstance(value, WorkerGroupOptions):
        return value
    if value is not None:
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"'multiproc' must be a directory or WorkerGroupOptions: {value!r}")
        return WorkerGroupOptions(directory=Path(value)) if str(value) else None
    directory = environ.get(MULTIPROC_DIR_ENV, "")
    if not directory:
        return None
    interval = environ.get(MULTIPROC_INTERVAL_ENV)
    try:
        seconds = 1.0 if interval in (None, "") else float(interval)
    except ValueError:
        raise ValueError(f"'{MULTIPROC_INTERVAL_ENV}' must be a number: {interval!r}") from None
    return WorkerGroupOptions(directory=Path(directory), interval=seconds)
