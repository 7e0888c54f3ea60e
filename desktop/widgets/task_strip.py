"""An inline progress strip for a screen's own task (propose, audit): bar, rate/ETA, Cancel.

The main window's status bar shows every task too; this strip keeps the progress where the user
started it, next to the button they pressed.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from desktop.task_progress import format_progress
from desktop.widgets.fit import ElidedLabel
from workflows.progress import Progress


class TaskStrip(QWidget):
    """Hidden until `follow(worker)`; hides itself again when the worker is done."""

    def __init__(self, unit: str = "items", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.unit = unit
        self.label = ElidedLabel()  # a long progress message must not widen the screen
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(260)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.bar)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.cancel_button)
        self.worker: Any = None
        self.hide()

    def follow(self, worker: Any, title: str = "") -> None:
        self.worker = worker
        self.bar.setRange(0, 0)
        self.label.setText(title)
        self.cancel_button.setEnabled(True)
        worker.progress.connect(self._progress)
        worker.done.connect(self._done)
        self.show()

    @property
    def running(self) -> bool:
        return self.worker is not None

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.label.setText("cancelling…")

    def _progress(self, p: Progress) -> None:
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.done, p.total))
        self.label.setText(format_progress(p, self.unit))

    def _done(self) -> None:
        self.worker = None
        self.hide()
