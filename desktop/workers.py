"""Run a `workflows.progress` generator off the GUI thread (superqt `GeneratorWorker` style).

Two objects, so that every public signal is emitted *from the GUI thread* whatever a listener is
(a slot, a lambda, a bound method of a non-QObject): a `_Runner` lives in a private `QThread` and
iterates the generator; it reports to its `GeneratorWorker` (which lives in the GUI thread) through
queued connections, and the worker re-emits. Progress is throttled (one update per
`min_interval_s`, plus the last one) so a fast use case cannot flood the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from workflows.progress import Cancelled, CancelToken, Progress

GenFactory = Callable[[CancelToken], Generator[Progress, None, Any]]

# Workers that are still running are kept alive here (a running QThread must not be collected).
_LIVE: set[GeneratorWorker] = set()


class _Runner(QObject):
    """Iterates the generator in the worker thread; never touches widgets."""

    progress = Signal(object)
    finished = Signal(object)
    errored = Signal(object)
    cancelled = Signal()

    def __init__(self, factory: GenFactory, token: CancelToken, min_interval_s: float) -> None:
        super().__init__()
        self._factory = factory
        self._token = token
        self._min_interval_s = min_interval_s

    @Slot()
    def run(self) -> None:
        last_emit = 0.0
        pending: Progress | None = None
        try:
            gen = self._factory(self._token)
            while True:
                try:
                    p = next(gen)
                except StopIteration as stop:
                    result = stop.value
                    break
                now = time.monotonic()
                if now - last_emit >= self._min_interval_s:
                    self.progress.emit(p)
                    last_emit, pending = now, None
                else:
                    pending = p
                # cancel is the use case's to honour (`check(cancel)` between batches, so it can
                # record a resumable state); closing the generator here would bypass that
            if pending is not None:
                self.progress.emit(pending)
            self.finished.emit(result)
        except Cancelled:
            self.cancelled.emit()
        except BaseException as err:  # noqa: BLE001 - every failure must reach the user
            self.errored.emit(err)


class GeneratorWorker(QObject):
    """One long use case running in its own thread.

    Signals (always delivered in the GUI thread): `progress(Progress)`, `finished(result)`,
    `errored(exception)`, `cancelled()`, and `done()` last in every case.
    """

    progress = Signal(object)
    finished = Signal(object)
    errored = Signal(object)
    cancelled = Signal()
    done = Signal()

    def __init__(
        self,
        gen_factory: GenFactory,
        title: str = "",
        parent: QObject | None = None,
        min_interval_s: float = 0.05,
    ) -> None:
        super().__init__(parent)
        self.title = title
        self.cancel_token = CancelToken()
        self.last_progress: Progress | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.state = "idle"  # idle | running | finished | errored | cancelled
        self.project: Any = None  # the project the task works on (set by AppContext.run_task)
        self.project_name = ""
        self._thread = QThread()
        self._thread.setObjectName(f"worker:{title}")
        self._runner = _Runner(gen_factory, self.cancel_token, min_interval_s)
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        q = Qt.ConnectionType.QueuedConnection
        self._runner.progress.connect(self._on_progress, q)
        self._runner.finished.connect(self._on_finished, q)
        self._runner.errored.connect(self._on_errored, q)
        self._runner.cancelled.connect(self._on_cancelled, q)

    # -- control (GUI thread) -------------------------------------------------------------------
    def start(self) -> GeneratorWorker:
        _LIVE.add(self)
        self.state = "running"
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the use case to stop at its next batch boundary; `cancelled()` follows."""
        self.cancel_token.cancel()

    @property
    def is_running(self) -> bool:
        return self.state == "running"

    def wait(self, ms: int = 30000) -> bool:
        """Block until the thread has ended (tests, application shutdown)."""
        return self._thread.wait(ms)

    # -- relays (GUI thread) ----------------------------------------------------------------------
    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        if self.state != "running":
            return
        self.last_progress = p
        self.progress.emit(p)

    @Slot(object)
    def _on_finished(self, result: Any) -> None:
        self.result = result
        self._end("finished")
        self.finished.emit(result)
        self.done.emit()

    @Slot(object)
    def _on_errored(self, err: BaseException) -> None:
        self.error = err
        self._end("errored")
        self.errored.emit(err)
        self.done.emit()

    @Slot()
    def _on_cancelled(self) -> None:
        self._end("cancelled")
        self.cancelled.emit()
        self.done.emit()

    def _end(self, state: str) -> None:
        self.state = state
        self._thread.quit()
        self._thread.wait()
        _LIVE.discard(self)

