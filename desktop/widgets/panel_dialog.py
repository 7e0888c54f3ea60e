"""A non-modal window around a panel whose background task must outlive the window's closing.

Closing while the task runs only hides the window: the panel has to live to receive the task's
result, so the window deletes itself when the task is done. Pre-label and Learn use it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QHBoxLayout, QPushButton, QVBoxLayout, QWidget


class PanelDialog(QDialog):
    """`panel` with a Close button under it; subclasses say where the running worker is."""

    def __init__(self, panel: QWidget, title: str, parent: QWidget | None = None, *,
                 close_tip: str = "", margins: int | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        panel.setParent(self)
        lay = QVBoxLayout(self)
        if margins is not None:
            lay.setContentsMargins(margins, margins, margins, margins)
        lay.addWidget(panel)
        close = QPushButton("Close")
        close.setToolTip(close_tip)
        close.clicked.connect(self.close)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(close)
        lay.addLayout(row)

    def running_worker(self) -> Any:
        """The panel's worker while one may be running (None: nothing to wait for)."""
        return None

    def open(self) -> None:  # noqa: A003 - QDialog API: show without blocking the app
        self.show()
        self.raise_()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        worker = self.running_worker()
        if worker is not None and worker.is_running:
            self.hide()  # the task goes on (the status bar shows it); the panel must live for its result
            event.ignore()
            worker.done.connect(self.deleteLater)
            return
        super().closeEvent(event)
