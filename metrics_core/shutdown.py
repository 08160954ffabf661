"""Run a final export when the process ends: at interpreter exit and on SIGTERM."""

from __future__ import annotations

import atexit
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

from metrics_core.logs import get_logger

_log = get_logger("metrics_core.shutdown")

Handler = Callable[[int, FrameType | None], object] | int | None


class ShutdownHook:
    """Calls ``action`` once: at exit, or on SIGTERM before the previous SIGTERM handling.

    On SIGTERM the previous handler runs afterwards; if it was the default, the
    default is restored and the signal re-raised, so the process still ends as
    killed by SIGTERM. The SIGTERM handler can only be installed from the main
    thread; elsewhere only the exit hook is installed (logged).

    The signal handler runs ``action`` in a helper thread and waits at most
    ``wait`` seconds: the handler interrupts the main thread anywhere, possibly
    while it holds a lock the action needs, and must not deadlock on it.
    """

    def __init__(self, action: Callable[[], object], wait: float = 6.0) -> None:
        self._action = action
        self._wait = wait
        self._done = False
        self._lock = threading.Lock()
        self._previous: Handler = None
        self._installed_signal = False

    def install(self) -> None:
        """Register the exit hook and, from the main thread, the SIGTERM handler."""
        atexit.register(self.run)
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, self._on_sigterm)
            self._installed_signal = True
        else:
            _log.warning("sigterm_hook_skipped", reason="not called from the main thread")

    def uninstall(self) -> None:
        """Remove the hooks (restoring the previous SIGTERM handler)."""
        atexit.unregister(self.run)
        if self._installed_signal and threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGTERM) == self._on_sigterm:
                signal.signal(signal.SIGTERM, self._previous)
            self._installed_signal = False

    def run(self) -> None:
        """Run the action unless it already ran."""
        with self._lock:
            if self._done:
                return
            self._done = True
        try:
            self._action()
        except Exception:
            _log.exception("shutdown_export_failed")

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        worker = threading.Thread(target=self.run, name="metrics-sigterm-export", daemon=True)
        worker.start()
        worker.join(self._wait)
        atexit.unregister(self.run)
        if signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, self._previous)
        self._installed_signal = False
        previous = self._previous
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
