"""Where ``DogStatsDExporter`` sends: arguments, else Datadog's environment variables.

As the Datadog libraries read them: ``DD_DOGSTATSD_URL`` (``udp://host:port`` or
``unix:///path/to/dsd.socket``) wins over ``DD_AGENT_HOST`` and
``DD_DOGSTATSD_PORT``; an explicit ``host``, ``port`` or ``socket_path`` wins over
all of them. A Unix socket is a datagram socket, as the agent's
``dogstatsd_socket`` is.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

from exporters._statsd_lines import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    SEND_TIMEOUT,
    RecordingSocket,
    UDPSender,
    check_port,
)


@attrs.frozen(kw_only=True, slots=True)
class Target:
    """A UDP ``host:port``, or a Unix datagram socket at ``socket_path``."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    socket_path: str | None = None


def resolve_target(
    host: str | None,
    port: int | None,
    socket_path: str | None,
    environ: Mapping[str, str] = os.environ,
) -> Target:
    """The target the arguments name, completed from the environment, then the defaults."""
    if socket_path is not None:
        if not isinstance(socket_path, str) or not socket_path:
            raise ValueError(f"'socket_path' must be a non-empty string: {socket_path!r}")
        return Target(socket_path=socket_path)
    from_url = _from_url(environ.get("DD_DOGSTATSD_URL", "").strip())
    if from_url is not None and host is None and port is None:
        return from_url
    if from_url is not None and from_url.socket_path is None:
        host = from_url.host if host is None else host
        port = from_url.port if port is None else port
    if host is None:
        host = environ.get("DD_AGENT_HOST", "").strip() or DEFAULT_HOST
    if port is None:
        text = environ.get("DD_DOGSTATSD_PORT", "").strip()
        port = _env_port("DD_DOGSTATSD_PORT", text) if text else DEFAULT_PORT
    return Target(host=host, port=check_port(port))


def _from_url(url: str) -> Target | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "unix" and parts.path:
        return Target(socket_path=parts.path)
    if parts.scheme == "udp" and parts.hostname:
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port is None:
            return Target(host=parts.hostname)
        if 1 <= port <= 65535:
            return Target(host=parts.hostname, port=port)
    raise ValueError(
        f"'DD_DOGSTATSD_URL' must be udp://host[:port] or unix:///path/to/socket: {url!r}"
    )


def _env_port(name: str, text: str) -> int:
    if text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    raise ValueError(f"'{name}' must be a port from 1 to 65535: {text!r}")


class UnixSender(UDPSender):
    """``UDPSender`` over a Unix datagram socket (DogStatsD's ``unix://``)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        super().__init__(f"unix://{path}", DEFAULT_PORT)
        self.path = path

    @property
    def target(self) -> str:
        """``unix:///path``, as errors name it."""
        return self.host

    def _open(self, errors: list[OSError]) -> RecordingSocket | None:
        if self._socket is None:
            sock = RecordingSocket(socket.AF_UNIX, socket.SOCK_DGRAM, 0)
            try:
                sock.settimeout(SEND_TIMEOUT)
                sock.connect(self.path)
            except OSError as error:  # nothing listens there: nothing goes out
                sock.close()
                errors.append(error)
                return None
            self._socket = sock
        return super()._open(errors)
