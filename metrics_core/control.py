"""``RecordingControl``: the on/off switch, sampling, filters and load shedding of a ``Metrics``.

The facade owns one (``Metrics.control``) and hands it to the collectors that
accept it (``use_control``). On the hot path a collector reads two attributes:
``active`` (False unless some rate is below 1 or shedding is configured, so an
unsampled setup pays one attribute check) and, when active, asks
:meth:`RecordingControl.keep` whether to do the distribution work of one event.

``generation`` changes whenever a rate may have changed (new sampling, a
shedding step), so collectors refresh the ``model_inference_sampling_rate``
gauges they publish only then.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable

from metrics_core import names
from metrics_core.filters import EventFilter, FilterChain
from metrics_core.logs import get_logger
from metrics_core.registry import Registry
from metrics_core.sampling import Sampling, keep_sample
from metrics_core.shedding import LoadShedding
from metrics_core.tags import Tags

__all__ = ["CONTROL_METRICS", "CONTROL_NAMES", "RecordingControl"]

CONTROL_NAMES: tuple[str, ...] = (
    names.RECORDING_ENABLED,
    names.SHEDDING_LEVEL,
    names.SHEDDING_CHANGES_TOTAL,
)
"""The series a switched-off ``Metrics`` still shows, so that endpoints say it is off."""

CONTROL_METRICS: tuple[str, ...] = (
    *CONTROL_NAMES,
    names.SAMPLING_RATE,
    names.DIMENSION_OVERFLOW_TOTAL,
    names.FILTER_ERRORS_TOTAL,
)
"""Every series that sampling, dimensions, filters, the switch and shedding may record."""

_log = get_logger("metrics_core.control")
_EMPTY = Tags.empty()


class RecordingControl:
    """What a ``Metrics`` records: on or off, sampled how, filtered how, shed when.

    :param registry: where the switch and the shedding steps are recorded.
    :param enabled: whether recording is on.
    :param sampling: rates of the distribution work (everything at 1.0 by default).
    :param filters: event filters, run in order before the collectors.
    :param shedding: the load-shedding budget, or ``None`` for none.
    :param seed: seed of the draws for requests without a ``request_id`` (tests).
    """

    def __init__(
        self,
        registry: Registry,
        *,
        enabled: bool = True,
        sampling: Sampling | None = None,
        filters: Iterable[EventFilter] = (),
        shedding: LoadShedding | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(enabled, bool):
            raise TypeError(f"'enabled' must be a bool: {enabled!r}")
        if sampling is not None and not isinstance(sampling, Sampling):
            raise TypeError(f"'sampling' must be a Sampling: {sampling!r}")
        if shedding is not None and not isinstance(shedding, LoadShedding):
            raise TypeError(f"'shedding' must be a LoadShedding: {shedding!r}")
        self.registry = registry
        self._lock = threading.Lock()
        self._enabled = enabled
        self._sampling = sampling if sampling is not None else Sampling()
        self._complete = self._sampling.complete
        self.filters = FilterChain(filters, on_error=self._count_filter_error)
        self.shedding = shedding
        self._draw = random.Random(seed)
        self.generation = 0
        self.active = self._is_active()
        self._listeners: tuple[Callable[[bool], None], ...] = ()
        if not enabled:  # a default Metrics adds no series; a switched-off one says so
            registry.gauge(names.RECORDING_ENABLED, _EMPTY, 0.0)
        if shedding is not None:
            registry.gauge(names.SHEDDING_LEVEL, _EMPTY, float(shedding.level))
            shedding.on_change(self._shedding_changed)

    # -- the switch ------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether recording is on; setting it calls the switch listeners."""
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"'enabled' must be a bool: {value!r}")
        with self._lock:
            changed = value != self._enabled
            self._enabled = value
            listeners = self._listeners
            if changed:  # under the lock: racing switches leave the gauge as the last one set
                self.registry.gauge(names.RECORDING_ENABLED, _EMPTY, 1.0 if value else 0.0)
        if changed:
            _log.info("recording_switched", enabled=value)
            for listener in listeners:
                listener(value)

    def on_switch(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(enabled)`` whenever :attr:`enabled` changes."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

    # -- sampling --------------------------------------------------------------------------

    @property
    def sampling(self) -> Sampling:
        """The sampling rates in force (before load shedding); settable at run time."""
        return self._sampling

    @sampling.setter
    def sampling(self, value: Sampling) -> None:
        if not isinstance(value, Sampling):
            raise TypeError(f"'sampling' must be a Sampling: {value!r}")
        with self._lock:
            self._sampling = value
            self._complete = value.complete
            self.generation += 1
            # Stays on once on: collectors must see the move back to 1.0 to publish it.
            self.active = self.active or self._is_active()

    def rate(self, kind: str, model_name: str) -> float:
        """The effective rate of ``kind`` for ``model_name``: sampling x shedding factor."""
        rate = self._sampling.rate(kind, model_name)
        shedding = self.shedding
        return rate if shedding is None else rate * shedding.factor()

    def keep(self, kind: str, model_name: str, request_id: str | None) -> bool:
        """Count the event for shedding and say whether to do its distribution work."""
        shedding = self.shedding
        if shedding is not None:
            shedding.tick()
            if self._complete and shedding.level == 0:
                return True  # the common case under a budget: no rate to look up
        elif self._complete:
            return True
        return keep_sample(self.rate(kind, model_name), request_id, self._draw)

    def _is_active(self) -> bool:
        return self.shedding is not None or not self._sampling.complete

    # -- self-metrics ---------------------------------------------------------------------

    def _shedding_changed(self, previous: int, level: int, rate: float) -> None:
        with self._lock:
            self.generation += 1
        self.registry.gauge(names.SHEDDING_LEVEL, _EMPTY, float(level))
        self.registry.counter(names.SHEDDING_CHANGES_TOTAL, Tags({"level": str(level)}))
        budget = self.shedding.max_events_per_second if self.shedding is not None else None
        _log.warning(
            "load_shedding_changed",
            previous_level=previous,
            level=level,
            events_per_second=round(rate, 1),
            max_events_per_second=budget,
        )

    def _count_filter_error(self, name: str) -> None:
        self.registry.counter(names.FILTER_ERRORS_TOTAL, Tags({"filter": name}))

    def __repr__(self) -> str:
        return (
            f"RecordingControl(enabled={self._enabled!r}, sampling={self._sampling!r}, "
            f"filters={len(self.filters.filters)}, shedding={self.shedding!r})"
        )
