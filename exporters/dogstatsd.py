"""``DogStatsDExporter``: what changed since the previous export, as DogStatsD lines with tags.

The lines are those of ``StatsDExporter`` (counter deltas, gauges, and a
distribution's ``count``, ``avg``, ``p50``, ``p95``, ``p99`` and ``max``), with the
tags in DogStatsD form: ``name:1|c|#model_name:bert,version:v1``, and negative
gauges sent as they are (the Datadog agent reads ``-5|g`` as -5). They go
through the ``datadog`` package's ``DogStatsd`` client, which brings Datadog's
tag normalization, constant tags (with ``DD_ENV``, ``DD_SERVICE``, ``DD_VERSION``
and ``DATADOG_TAGS`` from the environment), origin detection, and the buffer
that batches lines into packets of at most ``max_packet_size`` bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from exporters._dogstatsd_target import UnixSender, resolve_target
from exporters._statsd_lines import (
    COUNTER,
    DEFAULT_FIRST_WINDOW,
    DEFAULT_MAX_PACKET_SIZE,
    DeltaTracker,
    RecordingSocket,
    SendReport,
    StatsDLine,
    StatsDSendError,
    UDPSender,
    check_packet_size,
)
from metrics_core.snapshot import Snapshot, window_seconds

if TYPE_CHECKING:
    from datadog.dogstatsd.base import DogStatsd


class DogStatsDExporter:
    """Send what changed since the previous export as DogStatsD lines, tags included.

    :param host: the DogStatsD server or Datadog agent (resolved at the first export
        and again after any send error); unset, ``DD_AGENT_HOST``, else 127.0.0.1.
    :param port: its UDP port; unset, ``DD_DOGSTATSD_PORT``, else 8125.
    :param socket_path: send over the agent's Unix datagram socket at this path
        instead of UDP.

    Unset, the target comes from ``DD_DOGSTATSD_URL`` (``udp://host:port`` or
    ``unix:///path/to/dsd.socket``) before ``DD_AGENT_HOST`` and
    ``DD_DOGSTATSD_PORT``, as in Datadog's own libraries; explicit arguments win.
    :param prefix: prepended to every metric name with a dot.
    :param constant_tags: tags added to every line, as a mapping or as
        ``"key:value"`` strings.
    :param max_packet_size: the most bytes per UDP packet (64 to 65507), the
        client's ``max_buffer_len``.
    :param first_window: the quantile window of the first export, a ``timedelta``
        or seconds; later exports use the time since the previous one.
    :param origin_detection: let the client add its container ID (``|c:...``) to
        each line, for the agent's container tags.
    :param client_telemetry: let the client send its own
        ``datadog.dogstatsd.client.*`` metrics every 10 s or more.

    The client logs and drops a packet it cannot send; it sends through a socket
    the exporter owns, so ``export`` still raises ``StatsDSendError`` once every
    line was tried. The ``Metrics`` facade logs and counts that error in
    ``metrics_export_errors_total`` and never lets it reach the app.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        socket_path: str | None = None,
        prefix: str = "",
        constant_tags: Mapping[str, str] | Iterable[str] = (),
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        first_window: float | timedelta | str = DEFAULT_FIRST_WINDOW,
        origin_detection: bool = True,
        client_telemetry: bool = False,
    ) -> None:
        try:
            # Imported here so that StatsDExporter, in the same extra, works without it.
            from datadog.dogstatsd.base import DogStatsd  # noqa: PLC0415
        except ModuleNotFoundError as error:
            hint = "pip install 'inference-metrics[statsd]'"
            raise ImportError(f"DogStatsDExporter needs the 'statsd' extra: {hint}") from error
        target = resolve_target(host, port, socket_path)
        self._sender = (
            UDPSender(target.host, target.port)
            if target.socket_path is None
            else UnixSender(target.socket_path)
        )
        self.target = target
        self._max_packet_size = check_packet_size(max_packet_size)
        self._deltas = DeltaTracker(prefix, window_seconds(first_window))
        self._client: DogStatsd = DogStatsd(
            host=target.host,
            port=target.port,
            constant_tags=_tag_list(constant_tags),
            max_buffer_len=self._max_packet_size,
            disable_telemetry=not client_telemetry,
            origin_detection_enabled=origin_detection,
        )
        self._lock = threading.Lock()

    @property
    def last_send(self) -> SendReport | None:
        """What the latest export sent; ``None`` before the first."""
        return self._sender.last_send

    def export(self, snapshot: Snapshot) -> None:
        """Send the changes since the previous export; raise ``StatsDSendError`` on errors."""
        with self._lock:
            lines = self._deltas.lines(snapshot)
            if not lines:
                self._sender.last_send = SendReport(0, 0, 0, 0)
                return
            # The client drops its socket after a send error and would open one of its own.
            if self._client.socket is not self._sender.socket:
                self._detach()
            try:
                self._sender.send(len(lines), lambda sock: self._send_lines(lines, sock))
            except StatsDSendError:
                self._client.close_socket()  # the sender closed the socket the client holds
                raise

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
            self._detach()

    def _send_lines(self, lines: list[StatsDLine], sock: RecordingSocket) -> None:
        if self._client.socket is not sock:
            self._client.socket = sock  # also sizes its buffer to max_buffer_len
        with self._client:  # buffers lines and sends them in packets
            for line in lines:
                self._send(line)

    def _send(self, line: StatsDLine) -> None:
        tags = [f"{key}:{value}" for key, value in line.tags]
        if line.type == COUNTER:
            self._client.count(line.key, line.value, tags=tags)
        else:
            # As is, even when negative: the Datadog agent reads "-5|g" as -5, not as a change.
            self._client.gauge(line.key, line.value, tags=tags)

    def _detach(self) -> None:
        self._client.close_socket()
        self._sender.close()

    def __repr__(self) -> str:
        target = self.target
        where = (
            f"host={target.host!r}, port={target.port!r}"
            if target.socket_path is None
            else f"socket_path={target.socket_path!r}"
        )
        return f"DogStatsDExporter({where}, max_packet_size={self._max_packet_size!r})"


def _tag_list(tags: Mapping[str, str] | Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        raise ValueError(f"'constant_tags' must be a mapping or strings, not one string: {tags!r}")
    if isinstance(tags, Mapping):
        return [f"{key}:{value}" for key, value in tags.items()]
    return list(tags)
