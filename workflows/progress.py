"""Progress and cancel for long work, with no Qt in it.

Long use cases are generators that yield `Progress` and `return` their result:

    def run_something(project, ..., cancel: CancelToken | None = None) -> Generator[Progress, None, Result]:
        ...
        yield Progress(done, total, "encoding")
        check(cancel)          # raises Cancelled between batches
        ...
        return result

`drive(gen)` runs one to completion (tests, scripts); the CLI wraps it in a progress bar
(`cli.progress`), the desktop in a worker thread (`desktop.workers`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

R = TypeVar("R")


class Cancelled(Exception):
    """Raised inside a use case when its CancelToken was set; the store is left consistent."""


@dataclass
class Progress:
    done: int
    total: int | None = None
    message: str = ""
    stage: str = ""
    started: float = field(default_factory=time.monotonic)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(1.0, self.done / self.total)

    @property
    def rate(self) -> float:
        """Items per second since `started`."""
        dt_s = time.monotonic() - self.started
        return self.done / dt_s if dt_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        r = self.rate
        if not self.total or r <= 0:
            return None
        return max(0.0, (self.total - self.done) / r)


class CancelToken:
    """Thread-safe flag set by the GUI/CLI, checked by use cases between batches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


def check(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise Cancelled()


def drive(
    gen: Generator[Progress, None, R], on_progress: Callable[[Progress], None] | None = None
) -> R:
    """Run a progress generator to completion and return its result."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(p)
