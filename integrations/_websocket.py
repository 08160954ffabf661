"""``/metrics/stream`` over a WebSocket: the SSE stream's payloads as typed JSON messages.

A WebSocket client (seed 001's ``ws://.../metrics/stream``) gets, at once and then
every ``stream_interval`` seconds, one text message::

    {"type": "metrics.update", "data": {"time": ..., "window_seconds": ..., "versions": [...]}}

``data`` is the ``/metrics/versions`` JSON, the same bytes the SSE stream sends
(clients of one window share one query per half interval). ``?window=5m`` picks
the window, ``&by=`` and ``&where=`` split and filter as on the SSE stream; a bad
parameter closes the connection with code 1008 and the error as reason.
Messages from the client are read and ignored. Serving it needs a WebSocket
implementation for uvicorn (extra ``websocket``: the ``websockets`` package).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from integrations._asgi import Receive, Scope, Send
from integrations._payloads import BadParameterError, parse_by, parse_where, parse_window

if TYPE_CHECKING:
    from integrations.metrics_app import MetricsApp

MESSAGE_TYPE = "metrics.update"
"""The ``type`` of every message the stream sends."""

WEBSOCKET_PATHS = ("/metrics/stream", "/metrics/ws")
"""The paths that accept a WebSocket."""

_POLICY_VIOLATION = 1008
_NORMAL = 1000
_PREFIX = b'{"type":"' + MESSAGE_TYPE.encode() + b'","data":'


async def stream_websocket(app: MetricsApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one WebSocket connection of ``app``'s stream until the client leaves."""
    if (await receive())["type"] != "websocket.connect":
        return
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    try:
        window = parse_window(query.get("window"), app.stream_window)
        by, where = parse_by(query.get("by")), parse_where(query.get("where"))
    except BadParameterError as error:
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": _POLICY_VIOLATION, "reason": str(error)})
        return
    await send({"type": "websocket.accept"})
    disconnected = asyncio.ensure_future(_wait_for_disconnect(receive))
    try:
        while not disconnected.done():
            data = await asyncio.to_thread(app.stream_data, window, by, where)
            text = (_PREFIX + data + b"}").decode("utf-8")
            await send({"type": "websocket.send", "text": text})
            await asyncio.wait({disconnected}, timeout=app.stream_interval)
        if not disconnected.done():  # pragma: no cover - the loop ends on a disconnect
            await send({"type": "websocket.close", "code": _NORMAL})
    except OSError:  # the client went away while we wrote (ASGI 2.4 servers raise)
        pass
    finally:
        disconnected.cancel()


async def refuse_websocket(receive: Receive, send: Send) -> None:
    """Refuse a WebSocket on a path that has none (the client sees HTTP 403)."""
    if (await receive())["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": _NORMAL})


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "websocket.disconnect":
        pass
