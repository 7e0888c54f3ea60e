"""A small text progress bar that drives a workflows generator (`workflows.progress`).

    result = run_with_progress(scan_folder(project, cancel=token), "scanning", cancel=token)

Draws on stderr (redrawn in place on a terminal, a line every few seconds otherwise, so logs
stay readable). With a `cancel` token, the first Ctrl+C asks the use case to stop at its next
batch boundary (its finished work is kept), the second one interrupts at once. Either way the
caller sees KeyboardInterrupt, which `cli.main` turns into exit status 130.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Generator, Iterator
from types import FrameType
from typing import TextIO, TypeVar

from workflows.progress import Cancelled, CancelToken, Progress

R = TypeVar("R")
#: A use case driven by `run_with_progress`: yields Progress, returns its typed result.
Job = Generator[Progress, None, R]

WIDTH = 24
TTY_REDRAW_S = 0.1
LOG_EVERY_S = 5.0


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def render(label: str, p: Progress, width: int = WIDTH) -> str:
    """One line: label, bar (or a count when the total is unknown), rate, ETA, message."""
    parts = [label]
    frac = p.fraction
    if frac is not None:
        filled = int(frac * width)
        parts.append(f"[{'#' * filled}{'.' * (width - filled)}] {frac * 100:3.0f}%")
        parts.append(f"{p.done:,}/{p.total:,}")
    else:
        parts.append(f"{p.done:,}")
    rate = p.rate
    if rate > 0:
        parts.append(f"{rate:,.0f}/s")
    if frac is not None and frac < 1:
        parts.append(f"ETA {_fmt_time(p.eta_s)}")
    if p.message:
        parts.append(p.message)
    return "  ".join(parts)


class _Bar:
    def __init__(self, label: str, stream: TextIO) -> None:
        self.label = label
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.last = 0.0 if self.tty else time.monotonic()  # logs: first line after LOG_EVERY_S
        self.width = 0
        self.drawn: Progress | None = None

    def draw(self, p: Progress, *, force: bool = False) -> None:
        now = time.monotonic()
        if p is self.drawn or (not force and now - self.last < (TTY_REDRAW_S if self.tty else LOG_EVERY_S)):
            return
        self.last = now
        self.drawn = p
        line = render(self.label, p)
        if self.tty:
            pad = max(0, self.width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self.width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()
        self.width = 0


@contextlib.contextmanager
def _sigint_cancels(cancel: CancelToken | None, stream: TextIO) -> Iterator[None]:
    """First Ctrl+C sets the token; the second raises KeyboardInterrupt as usual."""
    if cancel is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_sig: int, _frame: FrameType | None) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()
        stream.write("\nstopping after the current batch (Ctrl+C again to abort now)...\n")
        stream.flush()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_with_progress(
    gen: Generator[Progress, None, R],
    label: str,
    *,
    cancel: CancelToken | None = None,
    stream: TextIO | None = None,
    quiet: bool = False,
) -> R:
    """Drive a progress generator to its result, drawing a bar on `stream` (stderr).

    A use case that stops on its token (`Cancelled`) surfaces as KeyboardInterrupt after a
    one-line note that finished work was kept.
    """
    out = stream if stream is not None else sys.stderr
    bar = _Bar(label, out)
    last: Progress | None = None
    try:
        with _sigint_cancels(cancel, out):
            while True:
                try:
                    last = next(gen)
                except StopIteration as stop:
                    if last is not None and not quiet:
                        bar.draw(last, force=True)
                    result: R = stop.value
                    return result
                if not quiet:
                    bar.draw(last)
    except Cancelled:
        bar.finish()
        out.write(f"{label}: cancelled; finished batches are saved, run the command again to resume\n")
        raise KeyboardInterrupt from None
    finally:
        bar.finish()
        gen.close()
