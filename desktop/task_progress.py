"""Progress of running tasks: the status-bar widget, and the text formatting shared with panels."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from desktop.context import AppContext
from desktop.signals import listen
from desktop.workers import GeneratorWorker
from workflows.progress import Progress


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {(s % 3600) // 60:02d}m"


def format_progress(p: Progress, unit: str = "items") -> str:
    """'1,234 / 5,000 images · 41.2 images/s · ETA 1m 31s' when the total is known; else the
    use case's own message ('loading model and classes')."""
    if not p.total:
        return p.message or p.stage or (f"{p.done:,} {unit}" if p.done else "working…")
    parts = [f"{p.done:,} / {p.total:,} {unit}"]
    if p.done and p.rate > 0:
        parts.append(f"{p.rate:.1f} {unit}/s")
    if p.done < p.total and p.eta_s is not None and p.done:
        parts.append(f"ETA {format_duration(p.eta_s)}")
    errors = p.extra.get("errors")
    if errors:
        parts.append(f"{errors:,} unreadable")
    return " · ".join(parts)


class TaskProgressBar(QWidget):
    """Status-bar widget: the newest running task's title, bar, rate/ETA and a Cancel button."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._workers: list[GeneratorWorker] = []
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel()
        self.bar = QProgressBar()
        self.bar.setFixedWidth(180)
        self.detail = QLabel()
        self.detail.setObjectName("muted")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        for w in (self.title, self.bar, self.detail, self.cancel_button):
            lay.addWidget(w)
        listen(ctx.task_started, self, self._started)
        listen(ctx.task_ended, self, self._ended)
        self.hide()

    def _current(self) -> GeneratorWorker | None:
        return self._workers[-1] if self._workers else None

    def _started(self, worker: GeneratorWorker) -> None:
        self._workers.append(worker)
        worker.progress.connect(lambda p, w=worker: self._progress(w, p))
        self._refresh()
        self.show()

    def _ended(self, worker: GeneratorWorker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        if self._workers:
            self._refresh()
        else:
            self.hide()

    def _progress(self, worker: GeneratorWorker, p: Progress) -> None:
        if worker is self._current():
            self._show_progress(p)

    def _refresh(self) -> None:
        w = self._current()
        if w is None:
            return
        more = f"  (+{len(self._workers) - 1} more)" if len(self._workers) > 1 else ""
        where = f" ({w.project_name})" if w.project_name else ""
        self.title.setText(f"{w.title}{where}{more}")
        self.cancel_button.setEnabled(not w.cancel_token.cancelled)
        if w.last_progress is not None:
            self._show_progress(w.last_progress)
        else:
            self.bar.setRange(0, 0)
            self.detail.setText("starting…")

    def _show_progress(self, p: Progress) -> None:
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.done, p.total))
        else:
            self.bar.setRange(0, 0)
        self.detail.setText(format_progress(p, p.extra.get("unit", "items")))

    def _cancel(self) -> None:
        w = self._current()
        if w is not None:
            w.cancel()
            self.cancel_button.setEnabled(False)
            self.detail.setText("cancelling…")
