"""ASGI types and the few response helpers the web integrations share (no framework needed)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
"""An ASGI connection scope."""
Message = MutableMapping[str, Any]
"""An ASGI event, received or sent."""
Receive = Callable[[], Awaitable[Message]]
"""The ASGI ``receive`` callable."""
Send = Callable[[Message], Awaitable[None]]
"""The ASGI ``send`` callable."""
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI 3 application."""

JSON_TYPE = b"application/json"
TEXT_TYPE = b"text/plain; charset=utf-8"


async def send_body(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    """Send a whole response: start, then one body message."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode("ascii")),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, payload: Any) -> None:
    """Send ``payload`` as a JSON response (strict JSON: no NaN)."""
    body = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")
    await send_body(send, status, body, JSON_TYPE, ((b"cache-control", b"no-store"),))


async def drain_body(receive: Receive) -> None:
    """Read the request body to its end (nothing here takes one)."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
