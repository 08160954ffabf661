"""``StatsDExporter``: what changed since the previous export, as plain StatsD lines over UDP.

On each export (see ``DeltaTracker`` in ``exporters._statsd_lines``):

- a counter sends its increment since the previous export, ``<name>:<delta>|c``;
- a gauge sends its value, ``<name>:<value>|g`` (a negative value is preceded by
  ``<name>:0|g``, since StatsD reads a signed gauge as a change);
- a histogram or timer sends ``<name>.count`` (``|c``, the observations since the
  previous export), ``<name>.avg`` (their mean) and ``<name>.p50``, ``.p95``,
  ``.p99``, ``.max`` (``|g``, over the time since the previous export). Timers stay
  in milliseconds, StatsD's own unit.

Plain StatsD has no tags, so they go into the key: ``name;k=v;k2=v2`` (the
Graphite tag syntax that statsd >= 0.9 and Graphite >= 1.1 understand, the
default) or ``name.v.v2`` (values as path segments). Lines are joined by
newlines into packets of at most ``max_packet_size`` bytes.

``DogStatsDExporter`` (DogStatsD tags, through the ``datadog`` package) is
defined in ``exporters.dogstatsd`` and importable from here too.
"""

from __future__ import annotations

import functools
import re
import threading
from datetime import timedelta
from typing import Literal

from exporters._naming import statsd_name
from exporters._statsd_lines import (
    DEFAULT_FIRST_WINDOW,
    DEFAULT_HOST,
    DEFAULT_MAX_PACKET_SIZE,
    DEFAULT_PORT,
    GAUGE,
    DeltaTracker,
    SendReport,
    StatsDLine,
    StatsDSendError,
    UDPSender,
    check_packet_size,
    pack_packets,
)
from exporters.dogstatsd import DogStatsDExporter
from metrics_core.snapshot import Snapshot, window_seconds

__all__ = [
    "DEFAULT_FIRST_WINDOW",
    "DEFAULT_HOST",
    "DEFAULT_MAX_PACKET_SIZE",
    "DEFAULT_PORT",
    "DogStatsDExporter",
    "SendReport",
    "StatsDExporter",
    "StatsDSendError",
    "TagStyle",
]

TagStyle = Literal["graphite", "suffix"]
"""How plain StatsD keys carry tags: ``name;k=v`` (``graphite``) or ``name.v`` (``suffix``)."""
TAG_STYLES: tuple[TagStyle, ...] = ("graphite", "suffix")
"""Every ``TagStyle``."""

_SEGMENT_INVALID = re.compile(r"[^a-zA-Z0-9_\-]")
_TAG_CACHE_SIZE = 1 << 16


class StatsDExporter:
    """Send what changed since the previous export as plain StatsD lines over UDP.

    :param host: the StatsD server (a name is resolved at the first export and
        again after any send error).
    :param port: its UDP port.
    :param prefix: prepended to every key with a dot (``"app"`` gives ``app.<name>``).
    :param tags: ``"graphite"`` (default) writes tags into the key as
        ``name;model_name=bert;version=v1``; ``"suffix"`` appends their values as
        path segments, ``name.bert.v1`` (``model_name``, ``version``, then the other
        tags by key; dots in values become ``_``).
    :param max_packet_size: the most bytes per UDP packet (64 to 65507).
    :param first_window: the quantile window of the first export, a ``timedelta``
        or seconds; later exports use the time since the previous one.

    ``export`` tries every packet, then raises ``StatsDSendError`` if any failed; the
    ``Metrics`` facade logs and counts that in ``metrics_export_errors_total`` and
    never lets it reach the app. The deltas of a failed export are not sent again,
    as with any UDP datagram lost on the way.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        prefix: str = "",
        tags: TagStyle = "graphite",
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        first_window: float | timedelta | str = DEFAULT_FIRST_WINDOW,
    ) -> None:
        if tags not in TAG_STYLES:
            raise ValueError(f"'tags' must be one of {', '.join(TAG_STYLES)}: {tags!r}")
        self._sender = UDPSender(host, port)
        self._tags: TagStyle = tags
        self._max_packet_size = check_packet_size(max_packet_size)
        self._deltas = DeltaTracker(prefix, window_seconds(first_window))
        self._lock = threading.Lock()

    @property
    def last_send(self) -> SendReport | None:
        """What the latest export sent; ``None`` before the first."""
        return self._sender.last_send

    def render(self, line: StatsDLine) -> str:
        """The StatsD text of ``line``: one line, or two for a negative gauge."""
        if self._tags == "graphite":
            key = line.key + _graphite_tags(line.tags)
        else:
            path = _suffix_path(line.tags)
            key = f"{line.name}{path}.{line.stat}" if line.stat else f"{line.name}{path}"
        if line.type == GAUGE and line.value < 0:
            return f"{key}:0|g\n{key}:{line.value}|g"
        return f"{key}:{line.value}|{line.type}"

    def export(self, snapshot: Snapshot) -> None:
        """Send the changes since the previous export; raise ``StatsDSendError`` on errors."""
        with self._lock:
            lines = self._deltas.lines(snapshot)
            packets = pack_packets(map(self.render, lines), self._max_packet_size)
            if not packets:
                self._sender.last_send = SendReport(len(lines), 0, 0, 0)
                return
            self._sender.send(len(lines), lambda sock: sock.send_packets(packets))

    def prime(self, snapshot: Snapshot) -> None:
        """Take ``snapshot`` as sent already: the next export sends what changed after it.

        A worker group's new leader primes with what the previous leader sent last, so
        that no increment reaches StatsD twice (docs/integrations.md).
        """
        with self._lock:
            self._deltas.lines(snapshot)

    def close(self) -> None:
        """Close the socket; a later export opens a new one."""
        with self._lock:
            self._sender.close()

    def __repr__(self) -> str:
        return (
            f"StatsDExporter(host={self._sender.host!r}, port={self._sender.port!r}, "
            f"tags={self._tags!r}, max_packet_size={self._max_packet_size!r})"
        )


# Cached: a series' tags are the same at every export, and most lines share a few tag sets.
@functools.lru_cache(maxsize=_TAG_CACHE_SIZE)
def _graphite_tags(tags: tuple[tuple[str, str], ...]) -> str:
    return "".join(f";{statsd_name(k) or '_'}={statsd_name(v) or '_'}" for k, v in tags)


@functools.lru_cache(maxsize=_TAG_CACHE_SIZE)
def _suffix_path(tags: tuple[tuple[str, str], ...]) -> str:
    return "".join(f".{_SEGMENT_INVALID.sub('_', v) or '_'}" for _, v in tags)
