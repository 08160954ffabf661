"""What the StatsD and DogStatsD exporters share: deltas, lines, packets and the UDP socket.

``DeltaTracker`` turns each snapshot into ``StatsDLine`` values (what changed
since the previous export); the exporters only differ in how a line's tags are
written and how packets leave: plain StatsD packs them itself
(``pack_packets``), DogStatsD through the ``datadog`` client's buffer. Both send
through the ``RecordingSocket`` of a ``UDPSender``, so that send errors are seen
even when the ``datadog`` client logs and swallows them.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import attrs

from exporters._naming import statsd_name
from exporters._settings import check_host
from metrics_core import names
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries, Snapshot
from metrics_core.tags import Tags
from metrics_core.values import MetricKind
from metrics_core.windows import MAX_WINDOW

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

COUNTER = "c"
"""The StatsD type of a counter increment."""
GAUGE = "g"
"""The StatsD type of a gauge value."""

QUANTILES: tuple[tuple[str, float], ...] = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
"""The stat suffix and quantile of each windowed quantile sent for a distribution."""

DEFAULT_HOST = "127.0.0.1"
"""Where StatsD and DogStatsD are sent by default: the local agent, over IPv4."""
DEFAULT_PORT = 8125
"""The StatsD and DogStatsD port."""
DEFAULT_MAX_PACKET_SIZE = 1432
"""Bytes per packet: fits a 1500-byte Ethernet MTU, as the ``datadog`` client's default."""
DEFAULT_FIRST_WINDOW = 60.0
"""Seconds of the quantile window at the first export, when there is no previous one."""
MAX_UDP_PAYLOAD = 65507
"""The largest IPv4 UDP payload: a larger ``max_packet_size`` could never be sent."""
SEND_TIMEOUT = 1.0
"""Seconds a send may block on a full socket buffer before it counts as failed."""


class StatsDSendError(OSError):
    """Some packets of an export could not be sent (or the address could not be resolved).

    ``export`` raises it after trying every packet; the ``Metrics`` facade logs and
    counts it in ``metrics_export_errors_total`` and never lets it reach the app.
    """


@attrs.frozen(slots=True)
class SendReport:
    """What one export sent: lines, packets and bytes delivered to the socket, and errors.

    ``errors`` counts failed sends, plus one for an error the kernel reported after
    the last send (``ECONNREFUSED`` for a datagram already counted in ``packets``).
    """

    lines: int
    packets: int
    bytes: int
    errors: int


def check_packet_size(max_packet_size: int) -> int:
    """``max_packet_size`` if it is an int from 64 to 65507; raises ``ValueError`` otherwise."""
    if isinstance(max_packet_size, bool) or not isinstance(max_packet_size, int):
        raise ValueError(f"'max_packet_size' must be an int: {max_packet_size!r}")
    if not 64 <= max_packet_size <= MAX_UDP_PAYLOAD:
        raise ValueError(
            f"'max_packet_size' must be from 64 to {MAX_UDP_PAYLOAD} bytes: {max_packet_size!r}"
        )
    return max_packet_size


def check_port(port: int) -> int:
    """``port`` if it is an int from 1 to 65535; raises ``ValueError`` otherwise."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"'port' must be an int from 1 to 65535: {port!r}")
    return port


def send_error(report: SendReport, errors: list[OSError], target: str) -> StatsDSendError:
    """The error to raise for an export that had ``errors``."""
    unique = ", ".join(dict.fromkeys(str(error) for error in errors))
    return StatsDSendError(
        f"{len(errors)} send error(s) to {target}, {report.packets} packet(s) sent: {unique}"
    )


_LEADING_TAGS = (names.MODEL_NAME, names.VERSION)
_MIN_WINDOW = 1.0  # the finest slot of a series: a shorter window reads the same slots
_EXACT_INT = 2.0**53

SeriesKey = tuple[MetricKind, str, Tags]
_Seen = tuple[str, tuple[tuple[str, str], ...], float, int]


@attrs.frozen(slots=True)
class StatsDLine:
    """One value to send: a StatsD key (without tags), its tags, value and type.

    ``name`` is the sanitized metric name after the prefix; ``stat`` the suffix of
    a distribution's statistic (``count``, ``avg``, ``p50`` ...), empty for counters
    and gauges. ``tags`` are ordered ``model_name``, ``version``, then by key.
    """

    name: str
    stat: str
    tags: tuple[tuple[str, str], ...]
    value: int | float
    type: str

    @property
    def key(self) -> str:
        """``name`` and ``stat`` joined by a dot: the key of this line without tags."""
        return f"{self.name}.{self.stat}" if self.stat else self.name


class DeltaTracker:
    """Remembers each series' totals between exports to produce what changed since.

    Counters yield ``total`` minus the previous export's total: the whole total the
    first time a series is seen, or when it went down (a reset: the series expired
    and came back, or the registry was swapped). Distributions yield their count
    and mean the same way, and quantiles and maximum over the time since the
    previous export (``first_window`` seconds at the first export), read from
    their sketches. Gauges yield their value every time. Zero deltas and empty
    distributions yield nothing: nothing happened, so nothing is sent.
    """

    __slots__ = ("_first_window", "_prefix", "_previous", "_previous_at")

    def __init__(self, prefix: str, first_window: float) -> None:
        self._prefix = prefix
        self._first_window = first_window
        # Per series: its StatsD name and ordered tags (worked out once), total and count.
        self._previous: dict[SeriesKey, _Seen] = {}
        self._previous_at: float | None = None

    def window(self, now: float) -> float:
        """Seconds since the previous export (``first_window`` before it), between 1 s and 1 h."""
        elapsed = self._first_window if self._previous_at is None else now - self._previous_at
        return min(max(elapsed, _MIN_WINDOW), MAX_WINDOW)

    def lines(self, snapshot: Snapshot) -> list[StatsDLine]:
        """The lines of ``snapshot``, and remember its totals for the next call."""
        now = snapshot.taken_at
        window = self.window(now)
        previous = self._previous
        seen: dict[SeriesKey, _Seen] = {}
        lines: list[StatsDLine] = []
        for series in snapshot.series:
            key = (series.kind, series.name, series.tags)
            before = previous.get(key)
            if before is None:
                name, tags = statsd_name(series.name, self._prefix), ordered_tags(series.tags)
            else:
                name, tags = before[0], before[1]
            if isinstance(series, CounterSeries):
                seen[key] = (name, tags, series.total, 0)
                delta = _delta(before, series.total, 0)[0]
                if delta:
                    lines.append(StatsDLine(name, "", tags, normalize_number(delta), COUNTER))
            elif isinstance(series, GaugeSeries):
                seen[key] = (name, tags, 0.0, 0)
                if math.isfinite(series.value):
                    lines.append(StatsDLine(name, "", tags, normalize_number(series.value), GAUGE))
            elif isinstance(series, DistributionSeries):
                seen[key] = (name, tags, series.total, series.count)
                total, count = _delta(before, series.total, series.count)
                if count:
                    lines.extend(self._distribution(series, name, tags, total, count, window, now))
        self._previous = seen
        self._previous_at = now
        return lines

    def _distribution(
        self,
        series: DistributionSeries,
        name: str,
        tags: tuple[tuple[str, str], ...],
        total: float,
        count: int,
        window: float,
        now: float,
    ) -> Iterable[StatsDLine]:
        yield StatsDLine(name, "count", tags, count, COUNTER)
        yield StatsDLine(name, "avg", tags, normalize_number(total / count), GAUGE)
        summary = series.window_summary(window, now)
        if not summary.count:  # the observations fell before the window's first slot
            return
        values = summary.quantiles(*(q for _, q in QUANTILES))
        for (stat, _), value in zip(QUANTILES, values, strict=True):
            yield StatsDLine(name, stat, tags, normalize_number(value), GAUGE)
        yield StatsDLine(name, "max", tags, normalize_number(summary.maximum), GAUGE)


def _delta(before: _Seen | None, total: float, count: int) -> tuple[float, int]:
    """``total`` and ``count`` less ``before``'s; all of them when new or gone down (a reset)."""
    if before is None or total < before[2] or count < before[3]:
        return total, count
    return total - before[2], count - before[3]


def ordered_tags(tags: Tags) -> tuple[tuple[str, str], ...]:
    """``tags`` as pairs: ``model_name`` and ``version`` first, then the others by key."""
    leading = tuple((key, tags[key]) for key in _LEADING_TAGS if key in tags)
    rest = tuple((key, value) for key, value in tags.items() if key not in _LEADING_TAGS)
    return leading + rest


def normalize_number(value: float) -> int | float:
    """``value`` as an ``int`` when whole, else rounded to 15 significant digits.

    Rounding drops the float noise of a subtraction (``0.30000000000000004``);
    ``str()`` of the result is the shortest text that StatsD servers parse.
    """
    number = float(value)  # a gauge may hold the int it was given
    if number.is_integer() and abs(number) < _EXACT_INT:
        return int(number)
    return float(format(number, ".15g"))


def pack_packets(entries: Iterable[str], max_size: int) -> list[bytes]:
    """Join ``entries`` with newlines into packets of at most ``max_size`` bytes each.

    An entry is one line or several that must travel together (a negative gauge's
    reset and value); one larger than ``max_size`` goes alone, over the limit.
    """
    packets: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for entry in entries:
        data = entry.encode()
        added = len(data) + 1 if current else len(data)  # the newline before it
        if current and size + added > max_size:
            packets.append(b"\n".join(current))
            current, size, added = [], 0, len(data)
        current.append(data)
        size += added
    if current:
        packets.append(b"\n".join(current))
    return packets


class RecordingSocket(socket.socket):
    """A UDP socket that counts the packets and bytes it sends and keeps its send errors.

    The ``datadog`` client logs and drops a failed packet without telling its
    caller; it sends through this socket so that the exporter still sees the error.
    """

    def __init__(self, family: int, type: int, proto: int) -> None:
        super().__init__(family, type, proto)
        self.packets = 0
        self.bytes = 0
        self.errors: list[OSError] = []

    def send(self, data: ReadableBuffer, flags: int = 0, /) -> int:
        """Send ``data``, counting it, or record the error and raise it."""
        try:
            sent = super().send(data, flags)
        except OSError as error:
            self.errors.append(error)
            raise
        self.packets += 1
        self.bytes += sent
        return sent

    def send_packets(self, packets: Iterable[bytes]) -> None:
        """Send every packet; a failed one is recorded and the others still go."""
        for packet in packets:
            with contextlib.suppress(OSError):  # recorded by ``send``
                self.send(packet)

    def check_pending_error(self) -> None:
        """Record an error the kernel holds for this socket, without sending.

        A connected UDP socket learns from ICMP that nothing listens (``ECONNREFUSED``)
        after a send returned; reading ``SO_ERROR`` reports it in this export, not the next.
        A closed socket (the ``datadog`` client closes one that failed) has none to read.
        """
        if self.fileno() == -1:
            return
        code = self.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self.errors.append(OSError(code, os.strerror(code)))


def connect_udp(host: str, port: int, timeout: float) -> RecordingSocket:
    """A ``RecordingSocket`` connected to ``host:port``, IPv4 addresses tried first.

    Connected, so that the kernel reports ``ECONNREFUSED`` when nothing listens;
    ``timeout`` bounds a send that blocks on a full send buffer.
    """
    addresses = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
    addresses.sort(key=lambda info: info[0] != socket.AF_INET)
    error: OSError = OSError(f"no address for {host}:{port}")
    for family, type_, proto, _, address in addresses:
        sock = RecordingSocket(family, type_, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as failure:
            sock.close()
            error = failure
        else:
            return sock
    raise error


class UDPSender:
    """The socket an exporter sends through, and ``last_send``, the report of its latest export.

    The socket opens at the first ``send`` and closes after any error, so that the
    next export resolves ``host`` again.
    """

    __slots__ = ("_socket", "host", "last_send", "port")

    def __init__(self, host: str, port: int) -> None:
        self.host = check_host(host)
        self.port = check_port(port)
        self.last_send: SendReport | None = None
        self._socket: RecordingSocket | None = None

    @property
    def socket(self) -> RecordingSocket | None:
        """The open socket; ``None`` before the first ``send`` and after errors or ``close``."""
        return self._socket

    def send(self, line_count: int, write: Callable[[RecordingSocket], object]) -> None:
        """Let ``write`` send ``line_count`` lines through the socket and report what went out.

        Raises ``StatsDSendError`` once ``write`` is done if anything failed, or at
        once if the socket could not be opened (then nothing goes out).
        """
        errors: list[OSError] = []
        sock = self._open(errors)
        if sock is not None:
            write(sock)
            sock.check_pending_error()
            errors.extend(sock.errors)
        report = SendReport(
            line_count,
            0 if sock is None else sock.packets,
            0 if sock is None else sock.bytes,
            len(errors),
        )
        self.last_send = report
        if errors:
            self.close()  # reconnect, and so resolve again, next time
            raise send_error(report, errors, self.target)

    @property
    def target(self) -> str:
        """Where the lines go, as errors name it."""
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        """Close the socket; the next ``send`` opens a new one."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _open(self, errors: list[OSError]) -> RecordingSocket | None:
        if self._socket is None:
            try:
                self._socket = connect_udp(self.host, self.port, SEND_TIMEOUT)
            except OSError as error:  # cannot resolve or connect: nothing goes out
                errors.append(error)
                return None
        self._socket.packets = self._socket.bytes = 0
        self._socket.errors.clear()
        return self._socket
