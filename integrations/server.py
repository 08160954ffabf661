"""``serve_app``: run an ASGI app with uvicorn in a background thread, for demos and tests.

uvicorn (the ``web`` extra) is imported when ``serve_app`` is called, so this module
imports without it. The server binds its socket before it starts, so ``port=0``
reports the port the system picked, and ``serve_app`` returns once it accepts
connections.

Stopping ends long responses promptly: uvicorn itself only waits for open
responses to finish, which a server-sent events stream never does. So the app is
wrapped in a shim that, once ``stop()`` is called, answers every ``receive()``
made after the request body was read with ``http.disconnect``. Streaming
responses wait on exactly that (Starlette's ``StreamingResponse`` and the
``/metrics/stream`` endpoint do), so they end at once; anything that ignores it
is cancelled after ``shutdown_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from integrations._asgi import ASGIApp, Message, Receive, Scope, Send
from integrations._header_deadline import with_header_deadline
from metrics_core._validation import check_seconds

if TYPE_CHECKING:
    import uvicorn

__all__ = ["RunningServer", "serve_app"]

_DISCONNECT: Message = {"type": "http.disconnect"}


def _import_uvicorn() -> Any:
    try:
        import uvicorn  # noqa: PLC0415  (optional dependency: imported only when used)
    except ModuleNotFoundError as error:
        raise ImportError(
            "serve_app needs uvicorn, from the 'web' extra: pip install 'inference-metrics[web]'"
        ) from error
    return uvicorn


class _StopSignal:
    """Tells the requests in progress that the server is stopping (thread-safe)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.stopping = False
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def stop(self) -> None:
        """Called from any thread: wake the requests waiting for a disconnect."""
        self.stopping = True
        loop, event = self._loop, self._event
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(event.set)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._event is None:
            # Event before loop: stop() in another thread sees both or neither.
            self._event = asyncio.Event()
            self._loop = asyncio.get_running_loop()
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        event = self._event
        body_read = False

        async def receive_or_stop() -> Message:
            nonlocal body_read
            if not body_read:
                message = await receive()
                body_read = message["type"] != "http.request" or not message.get("more_body")
                return message
            # After the body, a receive() waits for a disconnect: end it when stopping.
            if self.stopping:
                return _DISCONNECT
            return await _first_of(receive, event)

        await self.app(scope, receive_or_stop, send)


async def _first_of(receive: Receive, stopped: asyncio.Event) -> Message:
    received = asyncio.ensure_future(receive())
    stopping = asyncio.ensure_future(stopped.wait())
    try:
        done, _ = await asyncio.wait({received, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        received.cancel()
        stopping.cancel()
    return received.result() if received in done else _DISCONNECT


class RunningServer:
    """A uvicorn server running in a daemon thread, as returned by :func:`serve_app`.

    A context manager: leaving the ``with`` block stops it.
    """

    def __init__(
        self,
        server: uvicorn.Server,
        thread: threading.Thread,
        signal: _StopSignal,
        host: str,
        port: int,
        shutdown_timeout: float,
    ) -> None:
        self._server = server
        self._thread = thread
        self._signal = signal
        self._shutdown_timeout = shutdown_timeout
        self.host: str = host
        """The address bound."""
        self.port: int = port
        """The port bound (the one the system picked for ``port=0``)."""

    @property
    def url(self) -> str:
        """The base URL, ``http://host:port`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is still running."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, end open streams, wait for the thread; idempotent.

        Returns within ``timeout`` seconds (default: the shutdown timeout plus one).
        """
        self._signal.stop()
        self._server.should_exit = True
        if self._thread is not threading.current_thread():
            self._thread.join(self._shutdown_timeout + 1.0 if timeout is None else timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningServer(url={self.url!r}, running={self.running})"


def serve_app(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    shutdown_timeout: int = 5,
    start_timeout: float = 10.0,
    header_timeout: float = 10.0,
) -> RunningServer:
    """Serve ``app`` with uvicorn from a daemon thread; return once it accepts connections.

    ``port=0`` picks a free port (read ``.port`` or ``.url``). ``shutdown_timeout``
    bounds how long ``stop()`` lets unfinished requests run before cancelling them.
    Raises ``RuntimeError`` if the server does not start within ``start_timeout``.
    A connection whose request headers take longer than ``header_timeout`` seconds
    is closed (uvicorn alone would hold it for ever).

    >>> from integrations.server import serve_app
    >>> # with serve_app(app) as server: urllib.request.urlopen(server.url + "/metrics")
    """
    if not 0 <= port <= 65535:
        raise ValueError(f"'port' must be within 0..65535: {port!r}")
    if shutdown_timeout < 0:
        raise ValueError(f"'shutdown_timeout' must be >= 0 seconds: {shutdown_timeout!r}")
    header_timeout = check_seconds(header_timeout, "header_timeout")
    uvicorn_module = _import_uvicorn()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
    # without it, Nagle and delayed ACKs add about 40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound_port = int(sock.getsockname()[1])
    signal = _StopSignal(app)
    config = uvicorn_module.Config(
        signal,
        log_config=None,  # leave the host application's logging alone
        log_level="warning",
        access_log=False,
        lifespan="auto",
        timeout_graceful_shutdown=shutdown_timeout,
    )
    config.load()  # picks the HTTP protocol class (h11, or httptools when installed)
    config.http_protocol_class = with_header_deadline(config.http_protocol_class, header_timeout)
    server = uvicorn_module.Server(config)
    thread = threading.Thread(
        target=server.run,
        kwargs={"sockets": [sock]},
        name=f"uvicorn-{bound_port}",
        daemon=True,
    )
    thread.start()
    running = RunningServer(server, thread, signal, host, bound_port, shutdown_timeout)
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            running.stop(timeout=1.0)
            sock.close()
            raise RuntimeError(f"uvicorn did not start on {running.url} (see its log)")
        time.sleep(0.005)
    return running
