"""Run ▸ Accept predictions above a score…: bulk-accept confident predictions, with a live count.

The same rule as `lazlabel review --accept-above`: readable, unreviewed images whose prediction
scores at least the threshold (optionally of one class) are accepted in one transaction.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from desktop.bulk import count_above
from workflows.errors import is_user_error


class AcceptAboveDialog(QDialog):
    """Threshold + class; the OK button says how many predictions it accepts."""

    def __init__(self, ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.accepted_count = 0
        self.setWindowTitle("Accept predictions above a score")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setDecimals(3)
        self.threshold.setSingleStep(0.005)
        self.threshold.setValue(0.3)
        self.class_box = QComboBox()
        self.class_box.addItem("any class", None)
        p = ctx.project
        for cid, name in (p.class_names_by_id() if p is not None else {}).items():
            self.class_box.addItem(name, cid)
        self.count = QLabel()
        self.count.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Score at least", self.threshold)
        form.addRow("Predicted class", self.class_box)
        intro = QLabel("Accepts the prediction of every readable image not reviewed yet whose score "
                       "is at least the threshold. Each one is a normal decision: undo works.")
        intro.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.run)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.count)
        lay.addWidget(self.buttons)
        self.threshold.valueChanged.connect(self.refresh)
        self.class_box.currentIndexChanged.connect(self.refresh)
        from desktop.models.effort import EffortCounter
        from desktop.review.keys import count_effort

        self.effort = EffortCounter()
        self._effort_filter = count_effort(self, self.effort)
        self.refresh()

    def refresh(self) -> tuple[int, int]:
        p = self.ctx.project
        n, total = count_above(p, self.threshold.value(), self.class_box.currentData()) if p is not None else (0, 0)
        self.count.setText(f"<b>{n:,}</b> of {total:,} unreviewed predicted images score ≥ "
                           f"{self.threshold.value():.3f}.")
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText(f"Accept {n:,} prediction(s)")
        ok.setEnabled(n > 0)
        return n, total

    def run(self) -> int:
        from workflows import review

        n, _ = self.refresh()
        if n and self.ctx.interactive and n > 50:
            answer = QMessageBox.question(self, "Accept predictions", f"Accept {n:,} predictions at once?")
            if answer != QMessageBox.StandardButton.Yes:
                return 0
        try:
            done = review.accept_above(self.ctx.project, self.threshold.value(),
                                       class_id=self.class_box.currentData(), reviewer=self.ctx.reviewer)
        except Exception as err:  # noqa: BLE001
            if not is_user_error(err):
                raise
            self.count.setText(str(err))
            return 0
        self.accepted_count = done
        keys, clicks = self.effort.take()
        try:
            from workflows.effort import record

            record(self.ctx.project, "bulk", "accept_above", n_images=done, keys=keys, clicks=max(clicks, 1),
                   reviewer=self.ctx.reviewer)
        except Exception:  # noqa: BLE001, S110 - accounting must not cost the acceptance
            pass
        self.ctx.labels_changed.emit([])
        self.ctx.show_status(f"accepted {done:,} prediction(s) scoring ≥ {self.threshold.value():.3f}", 8000)
        self.accept()
        return done
