"""A deadline for request headers: uvicorn closes no connection that never finishes them.

uvicorn times out idle keep-alive connections but not a request whose headers
never complete: a client that opens connections and sends a header line now and
then (slowloris) holds them, and their memory, for ever. ``with_header_deadline``
wraps uvicorn's HTTP protocol class so that a connection whose request headers
are not complete within ``timeout`` seconds of its first byte (or of opening) is
closed. Requests in progress, streams included, are never cut: the deadline only
runs while no request is.
"""

from __future__ import annotations

import asyncio
from typing import Any


def with_header_deadline(base: type[Any], timeout: float) -> type[asyncio.Protocol]:
    """A subclass of uvicorn's protocol ``base`` that closes connections slow to send headers."""

    class HeaderDeadlineProtocol(base):  # type: ignore[misc]
        _deadline: asyncio.TimerHandle | None = None
        _armed_for: object = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            cycle = self.cycle
            idle = cycle is None or cycle.response_complete
            if idle and (self._deadline is None or self._armed_for is not cycle):
                self._arm()  # the first bytes of a new request: its headers are now due
            super().data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._armed_for = self.cycle
            self._deadline = self.loop.call_later(timeout, self._expire)

        def _expire(self) -> None:
            self._deadline = None
            # The same cycle as when armed: no request's headers completed since.
            if self.cycle is self._armed_for and not self.transport.is_closing():
                self.transport.close()

    HeaderDeadlineProtocol.__name__ = f"HeaderDeadline{base.__name__}"
    HeaderDeadlineProtocol.__qualname__ = HeaderDeadlineProtocol.__name__
    return HeaderDeadlineProtocol
