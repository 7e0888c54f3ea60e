"""Bulk accept with a guarantee: audit a random sample, get a threshold the tool vouches for, accept.

Steps on one dialog: (1) draw the random audit sample and review it (the Review screen serves it,
order "audit sample"); (2) state the target precision and confidence and see the proposed
threshold(s) with their bound, per class, each editable (an override is recorded as such); (3) the
preview of what will be accepted, least confident first; (4) confirm. Everything runs through
`desktop.models.vouch.VouchModel` (no Qt) and `workflows.vouch`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.models.effort import EffortCounter
from desktop.models.vouch import VouchModel
from desktop.widgets.fit import fit_to_screen
from workflows.errors import is_user_error
from workflows.vouch import minimum_sample

COLUMNS = ("class", "threshold", "family", "audited above", "wrong", "precision ≥", "accepts")
THRESHOLD_COLUMN = 1


class VouchDialog(QDialog):
    """Run ▸ Bulk accept with a guarantee… (also in Browse and Review)."""

    def __init__(self, ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Bulk accept with a guarantee")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.model = VouchModel(ctx.project)
        self.effort = EffortCounter()
        self.result_text = ""
        self._filling = False

        intro = QLabel(
            "Accept the predictions that are at least the <b>target</b> likely to be right, with a guarantee "
            "that holds for the images accepted: audit a random sample, and the tool proposes the threshold "
            "its labels can vouch for (Learn-then-Test with exact Clopper–Pearson bounds; the score only "
            "orders the images)."
        )
        intro.setWordWrap(True)

        # 1. sample
        self.size = QSpinBox()
        self.size.setRange(1, 100_000)
        self.size.setValue(200)
        self.draw_button = QPushButton("Draw random sample")
        self.draw_button.clicked.connect(self.draw)
        self.review_button = QPushButton("Review it…")
        self.review_button.setToolTip("open Review with the queue order 'audit sample'")
        self.review_button.clicked.connect(self.review_sample)
        self.sample_label = QLabel()
        self.sample_label.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("images"))
        row.addWidget(self.size)
        row.addWidget(self.draw_button)
        row.addWidget(self.review_button)
        row.addStretch(1)
        s_box = QGroupBox("1. Audit a random sample")
        sl = QVBoxLayout(s_box)
        sl.addLayout(row)
        sl.addWidget(self.sample_label)

        # 2. target and proposal
        self.target = QDoubleSpinBox()
        self.target.setRange(0.5, 0.999)
        self.target.setDecimals(3)
        self.target.setSingleStep(0.005)
        self.target.setValue(0.98)
        self.confidence = QDoubleSpinBox()
        self.confidence.setRange(0.5, 0.999)
        self.confidence.setDecimals(3)
        self.confidence.setSingleStep(0.01)
        self.confidence.setValue(0.95)
        self.per_class = QCheckBox("per-class thresholds where the sample allows")
        self.per_class.setChecked(True)
        self.propose_button = QPushButton("Propose threshold")
        self.propose_button.clicked.connect(self.propose)
        trow = QHBoxLayout()
        trow.addWidget(QLabel("precision at least"))
        trow.addWidget(self.target)
        trow.addWidget(QLabel("confidence"))
        trow.addWidget(self.confidence)
        trow.addWidget(self.per_class)
        trow.addWidget(self.propose_button)
        trow.addStretch(1)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.setToolTip("double-click a threshold to override it (empty: accept none of that class); "
                              "an override is recorded as not vouched for")
        self.table.itemChanged.connect(self._threshold_edited)
        p_box = QGroupBox("2. Target and proposed threshold")
        pl = QVBoxLayout(p_box)
        pl.addLayout(trow)
        pl.addWidget(self.summary)
        pl.addWidget(self.table, 1)

        # 3. preview
        self.preview_label = QLabel()
        self.preview = QListWidget()
        self.preview.setMaximumHeight(130)
        v_box = QGroupBox("3. Preview: what will be accepted (least confident first)")
        vl = QVBoxLayout(v_box)
        vl.addWidget(self.preview_label)
        vl.addWidget(self.preview)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Close)
        self.buttons.accepted.connect(self.run)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(s_box)
        lay.addWidget(p_box, 1)
        lay.addWidget(v_box)
        lay.addWidget(self.buttons)
        fit_to_screen(self, 860, 680)

        from desktop.review.keys import count_effort

        self._effort_filter = count_effort(self, self.effort)
        self.target.valueChanged.connect(self._hint)
        self.confidence.valueChanged.connect(self._hint)
        self.refresh()

    # -- state -> widgets -------------------------------------------------------------------------
    def _hint(self) -> None:
        need = minimum_sample(self.target.value(), self.confidence.value())
        self.size.setToolTip(f"at least {need} audited images above the threshold are needed to vouch for "
                             f"{self.target.value():.1%} at {self.confidence.value():.0%} confidence (all right)")

    def refresh(self) -> None:
        m = self.model
        m.refresh_sample()
        self._hint()
        self.sample_label.setText(m.sample_text())
        self.review_button.setEnabled(m.sample is not None and bool(m.sample.pending))
        self.propose_button.setEnabled(m.ready)
        self._show_proposal()

    def _show_proposal(self) -> None:
        p = self.model.proposal
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self._filling = True
        try:
            self.table.setRowCount(0 if p is None else len(p.rows))
            for r, row in enumerate(p.rows if p is not None else []):
                cells = [
                    row.name,
                    ("none" if row.overridden else "") if row.threshold is None else f"{row.threshold:.4f}",
                    "own" if row.own else "pooled",
                    str(row.n_audited), str(row.n_errors),
                    f"{row.bound:.1%}" if row.threshold is not None else "—",
                    str(row.n_accept),
                ]
                for c, text in enumerate(cells):
                    item = QTableWidgetItem(text + (" ✎" if c == THRESHOLD_COLUMN and row.overridden else ""))
                    item.setData(Qt.ItemDataRole.UserRole, row.class_id)
                    if c != THRESHOLD_COLUMN:
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    self.table.setItem(r, c, item)
        finally:
            self._filling = False
        if p is None:
            self.summary.setText("Propose a threshold once the sample is audited.")
            self.preview.clear()
            self.preview_label.setText("")
            ok.setText("Accept")
            ok.setEnabled(False)
            return
        notes = "".join(f"<br><i>{n}</i>" for n in p.notes)
        self.summary.setText(f"<b>{p.summary()}</b>{notes}")
        rows = self.model.preview()
        self.preview.clear()
        self.preview.addItems([f"{r.score:.4f}  {r.class_name}  {r.rel_path}" for r in rows])
        more = p.n_accept - len(rows)
        self.preview_label.setText(f"{p.n_accept:,} image(s) will be accepted" + (f" ({more:,} more not listed)"
                                                                                     if more > 0 else ""))
        ok.setText(f"Accept {p.n_accept:,} prediction(s)")
        ok.setEnabled(p.n_accept > 0)

    # -- actions ------------------------------------------------------------------------------------
    def _guard(self, fn: Any) -> Any:
        try:
            return fn()
        except Exception as err:  # noqa: BLE001
            if not is_user_error(err):
                raise
            self.summary.setText(str(err))
            return None

    def draw(self) -> None:
        if self._guard(lambda: self.model.draw(self.size.value(), reviewer=self.ctx.reviewer)) is not None:
            self.refresh()

    def review_sample(self) -> None:
        """Show Review with the audit sample as its queue."""
        from desktop.review.view import ReviewView

        window = self.parent().window() if self.parent() is not None else None
        view = window.findChild(ReviewView) if window is not None else None
        self.ctx.set_selection([])
        if view is not None:
            i = view.order.findData("audit_sample")
            if i >= 0:
                view.order.setCurrentIndex(i)
        self.ctx.screen_requested.emit("review")

    def propose(self) -> None:
        self.model.refresh_sample()
        if self._guard(lambda: self.model.propose(self.target.value(), self.confidence.value(),
                                                  self.per_class.isChecked())) is not None:
            self._show_proposal()

    def _threshold_edited(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != THRESHOLD_COLUMN or self.model.base is None:
            return
        text = item.text().replace("✎", "").strip()
        text = "" if text.lower() == "none" else text
        try:
            value = None if not text else float(text)
        except ValueError:
            QTimer.singleShot(0, self._show_proposal)
            QTimer.singleShot(0, lambda: self.summary.setText(f"'{text}' is not a threshold (a score, or empty for none)"))
            return
        # the table is rebuilt after the edit has finished: never delete an item inside its own signal
        self.set_override(int(item.data(Qt.ItemDataRole.UserRole)), value, later=True)

    def set_override(self, class_id: int, threshold: float | None, *, later: bool = False) -> None:
        self.model.set_override(class_id, threshold)
        if later:
            QTimer.singleShot(0, self._show_proposal)
        else:
            self._show_proposal()

    def run(self) -> int:
        p = self.model.proposal
        if p is None or not p.accept_ids:
            return 0
        keys, clicks = self.effort.take()
        res = self._guard(lambda: self.model.accept(self.ctx.reviewer, keys=keys, clicks=clicks))
        if res is None:
            return 0
        self.result_text = res.statement
        self.ctx.labels_changed.emit([])
        self.ctx.show_status(f"accepted {res.n_accepted:,} prediction(s): {res.statement}", 10000)
        self.accept()
        return int(res.n_accepted)
