"""One drag at a time in a background thread, so the kernel keeps answering the front end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class DragRunner:
    """Runs `session.run(...)` on a worker thread; at most one drag at a time.

    `on_done(result, error)` is called on the worker when the drag ends (normally, stopped, or by an
    exception), before the future resolves, so that anything waiting on the future sees the widget's
    final state.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._future: Future | None = None
        self._stop = threading.Event()
        self._session: Any = None

    @property
    def running(self) -> bool:
        with self._lock:
            return self._future is not None and not self._future.done()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def start(
        self,
        session: Any,
        run_kwargs: dict[str, Any],
        on_done: Callable[[Any, BaseException | None], None],
    ) -> Future | None:
        """Start `session.run(**run_kwargs)`; None (and nothing started) if a drag is running."""
        with self._lock:
            if self._future is not None and not self._future.done():
                return None
            self._stop.clear()
            self._session = session
            future: Future = Future()
            future.set_running_or_notify_cancel()
            self._future = future
            threading.Thread(
                target=self._work,
                args=(session, run_kwargs, on_done, future),
                name="dragwidget-drag",
                daemon=True,
            ).start()
            return future

    def stop(self) -> None:
        """Ask the running drag to end after its current step (no-op when idle)."""
        with self._lock:
            session = self._session if self._future and not self._future.done() else None
        self._stop.set()
        if session is not None:
            session.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the drag (if any) has ended; False on timeout."""
        with self._lock:
            future = self._future
        if future is None:
            return True
        try:
            future.exception(timeout=timeout)
        except TimeoutError:
            return False
        return True

    @property
    def future(self) -> Future | None:
        return self._future

    def _work(self, session: Any, run_kwargs: dict, on_done: Callable, future: Future) -> None:
        result, error = None, None
        try:
            # A stop() that came before run() began would otherwise be lost.
            if not self._stop.is_set():
                result = session.run(**run_kwargs)
        except BaseException as exc:  # noqa: BLE001  (reported to the widget and the future)
            error = exc
        try:
            on_done(result, error)
        except BaseException as exc:  # noqa: BLE001
            error = error or exc
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
