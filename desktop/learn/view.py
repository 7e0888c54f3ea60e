"""The Learn panel (Run ▸ Learn from decisions…, Ctrl+L): decisions per class, the method, Preview
("N labels would change", from → to, which images), Apply in a worker with progress and Cancel, and
the history of learning runs with "Use this run" / "Back to zero-shot" (the undo). For a
compositional method (msci) the Training tab shows the training: per-epoch progress, the held-out
curve, and accuracy on seen and unseen pairs (also for a stored msci run selected in the history).

The view mirrors `LearnModel` (desktop/models/learn.py); `LearnController` does the work.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.learn.controller import LearnController
from desktop.learn.curve import LearningCurve
from desktop.models.events import Event
from desktop.task_progress import format_progress
from desktop.widgets.fit import ElidedLabel, fit_to_screen, wrapping
from desktop.widgets.panel_dialog import PanelDialog

ID_ROLE = Qt.ItemDataRole.UserRole + 30


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


class LearnPanel(QWidget):
    """See the module docstring."""

    def __init__(self, ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.controller = c = LearnController(ctx, self)
        m = c.model

        heading = QLabel("Learn from decisions")
        heading.setObjectName("screenTitle")
        intro = wrapping(QLabel(
            "Every accepted, corrected or rejected image teaches the pre-labels of the rest. Learning "
            "reads the feature cache only (no image is encoded again); a class without decisions stays "
            "zero-shot. Preview first; Apply stores a learning run, which you can undo below."))
        intro.setObjectName("muted")

        # -- decisions per class -------------------------------------------------------------------
        self.decisions = QTreeWidget()
        self.decisions.setHeaderLabels(["class", "positive", "negative"])
        self.decisions.setRootIsDecorated(False)
        self.decisions.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        head = self.decisions.header()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        head.setStretchLastSection(False)
        self.decisions_title = QLabel()
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.decisions_title)
        ll.addWidget(self.decisions, 1)

        # -- method, preview, apply ------------------------------------------------------------------
        self.method = QComboBox()
        self.method.setObjectName("learnMethod")
        self.method.activated.connect(self._method_picked)
        self.method_help = wrapping(QLabel())
        self.method_help.setObjectName("muted")
        self.preview_button = QPushButton("&Preview")
        self.preview_button.setToolTip("learn without writing: which labels would change")
        self.preview_button.clicked.connect(self._preview_clicked)
        self.apply_button = QPushButton("&Apply")
        self.apply_button.setObjectName("primary")
        self.apply_button.setToolTip("learn and store a learning run; the images then show its labels")
        self.apply_button.clicked.connect(self._apply_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel_clicked)
        self.bar = QProgressBar()
        self.bar.setMaximumHeight(14)
        self.bar.hide()
        self.headline = wrapping(QLabel("No preview yet."))
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.accuracy = wrapping(QLabel())
        self.accuracy.setObjectName("muted")
        self.changes = QTreeWidget()
        self.changes.setObjectName("learnChanges")
        self.changes.setHeaderLabels(["image", "from", "to"])
        self.changes.setRootIsDecorated(False)
        self.changes.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.changes.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.changes.header().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.changes.header().setStretchLastSection(False)
        self.changes.setToolTip("click an image to open it in Review (the changed images become the queue)")
        self.changes.itemActivated.connect(self._change_clicked)
        self.changes.itemClicked.connect(self._change_clicked)
        method_row = QHBoxLayout()
        method_row.addWidget(QLabel("Method"))
        method_row.addWidget(self.method, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.bar, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.preview_button)
        buttons.addWidget(self.apply_button)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(method_row)
        rl.addWidget(self.method_help)
        rl.addLayout(buttons)
        rl.addWidget(self.headline)
        rl.addWidget(self.accuracy)
        # -- training of a compositional method: epoch, curve, seen / unseen --------------------------
        self.train_status = QLabel()
        self.train_status.setObjectName("trainStatus")
        self.curve = LearningCurve()
        self.seen_unseen = ElidedLabel()
        self.seen_unseen.setObjectName("seenUnseen")
        self.seen_unseen.setTextFormat(Qt.TextFormat.RichText)
        self.seen_unseen_table = QTreeWidget()
        self.seen_unseen_table.setObjectName("seenUnseenTable")
        self.seen_unseen_table.setHeaderLabels(["accuracy", "before (zero-shot)", "learned", "images"])
        self.seen_unseen_table.setRootIsDecorated(False)
        self.seen_unseen_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        sh = self.seen_unseen_table.header()
        sh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            sh.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        sh.setStretchLastSection(False)
        self.seen_unseen.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        report = QWidget()
        rpl = QVBoxLayout(report)
        rpl.setContentsMargins(0, 0, 0, 0)
        rpl.addWidget(self.seen_unseen)
        rpl.addWidget(self.seen_unseen_table, 1)
        body = QSplitter(Qt.Orientation.Vertical)  # the curve and the seen / unseen report never overlap
        body.addWidget(self.curve)
        body.addWidget(report)
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 2)
        body.setChildrenCollapsible(False)
        training = QWidget()
        tl = QVBoxLayout(training)
        tl.setContentsMargins(4, 4, 4, 4)
        tl.addWidget(self.train_status)
        tl.addWidget(body, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.changes, "Changed images")
        self.training_tab = self.tabs.addTab(training, "Training")
        rl.addWidget(self.tabs, 1)

        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(left)
        top.addWidget(right)
        top.setStretchFactor(0, 2)
        top.setStretchFactor(1, 3)
        top.setChildrenCollapsible(False)

        # -- history ---------------------------------------------------------------------------------
        self.history = QTreeWidget()
        self.history.setObjectName("learnHistory")
        self.history.setHeaderLabels(["run", "method", "decisions", "held-out: zero-shot → learned",
                                      "labels changed", "when", ""])
        self.history.setRootIsDecorated(False)
        self.history.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.history.header().setStretchLastSection(True)
        self.history.currentItemChanged.connect(self._history_selected)
        self.history.itemDoubleClicked.connect(lambda *_: self._use_clicked())
        self.use_button = QPushButton("Use this &run")
        self.use_button.setToolTip("show the selected learning run's labels")
        self.use_button.clicked.connect(self._use_clicked)
        self.zero_button = QPushButton("Back to &zero-shot")
        self.zero_button.setToolTip("undo learning: show the zero-shot labels again (nothing is deleted)")
        self.zero_button.clicked.connect(self._zero_clicked)
        self.history_title = QLabel("<b>Learning runs</b>")
        hist_buttons = QHBoxLayout()
        hist_buttons.addWidget(self.history_title, 1)
        hist_buttons.addWidget(self.use_button)
        hist_buttons.addWidget(self.zero_button)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addLayout(hist_buttons)
        bl.addWidget(self.history, 1)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setStretchFactor(0, 4)  # the history is a few rows; the preview and training need room
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        self.notice = wrapping(QLabel())
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        lay = QVBoxLayout(self)
        lay.addWidget(heading)
        lay.addWidget(intro)
        lay.addWidget(split, 1)
        lay.addWidget(self.notice)

        m.events.decisions.connect(self._show_decisions)
        m.events.methods.connect(self._show_methods)
        m.events.method.connect(self._show_method)
        m.events.preview.connect(self._show_preview)
        m.events.history.connect(self._show_history)
        m.events.busy.connect(self._show_busy)
        c.notice.connect(self.notice.setText)
        c.progress.connect(self._progress)
        t = c.training
        t.events.stage.connect(self._show_training)
        t.events.step.connect(self._show_training)
        t.events.curve.connect(self._show_curve)
        t.events.report.connect(self._show_report)
        c.refresh()
        self._show_decisions(None)
        self._show_methods(None)
        self._show_history(None)
        self._show_busy(None)
        self._show_training(None)
        self._show_curve(None)
        self._show_report(None)

    def activate(self) -> None:
        self.controller.refresh()

    # -- input -----------------------------------------------------------------------------------------
    def _method_picked(self, i: int) -> None:
        self.controller.choose_method(self.method.itemData(i))

    def _preview_clicked(self) -> None:
        self.controller.preview()

    def _apply_clicked(self) -> None:
        self.controller.apply()

    def _cancel_clicked(self) -> None:
        self.controller.cancel()

    def _change_clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        self.controller.open_change(int(item.data(0, ID_ROLE)))

    def _history_selected(self, *_args: Any) -> None:
        self._sync_buttons()
        item = self.history.currentItem()
        if item is not None and self.controller.show_run(int(item.data(0, ID_ROLE))) is not None:
            self.tabs.setCurrentIndex(self.training_tab)

    def _use_clicked(self) -> None:
        item = self.history.currentItem()
        if item is not None:
            self.controller.use_run(int(item.data(0, ID_ROLE)))

    def _zero_clicked(self) -> None:
        self.controller.use_run(None)

    # -- rendering -------------------------------------------------------------------------------------
    def _show_decisions(self, _e: Event | None) -> None:
        m = self.controller.model
        self.decisions.clear()
        for d in m.decisions:
            item = QTreeWidgetItem([d.name, f"{d.positives:,}", f"{d.negatives:,}"])
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight)
            if not (d.positives or d.negatives):
                item.setToolTip(0, f"{d.name} has no decisions: it stays zero-shot")
                for col in range(3):
                    item.setForeground(col, self.palette().placeholderText())
            self.decisions.addTopLevelItem(item)
        self.decisions_title.setText(
            f"<b>Decisions</b>: {m.n_decisions:,} on {m.classes_with_decisions} of {len(m.decisions)} classes")
        self._sync_buttons()

    def _show_methods(self, _e: Event | None) -> None:
        m = self.controller.model
        self.method.clear()
        for choice in m.methods:
            self.method.addItem(choice.label, choice.name)
            i = self.method.count() - 1
            self.method.setItemData(i, choice.why_not or choice.description, Qt.ItemDataRole.ToolTipRole)
            if not choice.available:  # listed, greyed out, with the reason in its tooltip
                item = self.method.model().item(i)
                if item is not None:
                    item.setEnabled(False)
        self._show_method(None)

    def _show_method(self, _e: Event | None) -> None:
        m = self.controller.model
        i = self.method.findData(m.method)
        if i >= 0:
            self.method.setCurrentIndex(i)
        choice = m.choice(m.method)
        if choice is None:
            self.method_help.setText("")
        else:
            note = "" if choice.explainable else (" Less explainable: its labels are not a sum over attributes, "
                                                 "so the evidence shows the zero-shot reasons.")
            self.method_help.setText(choice.description + "." + note)
        trains = choice is not None and self.controller.trains(choice.name)
        shown = trains or bool(self.controller.training.curve or self.controller.training.report)
        self.tabs.setTabVisible(self.training_tab, shown)
        if trains:
            self.tabs.setCurrentIndex(self.training_tab)
        self._sync_buttons()

    def _show_preview(self, _e: Event | None) -> None:
        prev = self.controller.model.preview
        self.changes.clear()
        self._show_headline()
        if prev is None:
            self.accuracy.setText("")
            return
        self.accuracy.setText(prev.accuracy_text() + f" · {prev.n_decisions:,} decisions · method {prev.method}")
        for ch in prev.changes:
            item = QTreeWidgetItem([ch.path, ch.from_name, f"→ {ch.to_name}"])
            item.setData(0, ID_ROLE, ch.image_id)
            item.setToolTip(0, f"{ch.path}: {ch.from_name} → {ch.to_name} (click to open it in Review)")
            self.changes.addTopLevelItem(item)

    def _show_training(self, _e: Event | None) -> None:
        t = self.controller.training
        text = t.status_text()
        if t.title and text:
            text = f"<b>{t.title}</b> · {text}"
        self.train_status.setText(text or "Apply trains on the decided pairs; Preview trains without writing.")
        if t.stage in ("prepare", "encode", "train"):
            self.tabs.setTabVisible(self.training_tab, True)
            self.tabs.setCurrentIndex(self.training_tab)
        self.curve.set_curve(t.curve, t.epochs, t.best)

    def _show_curve(self, _e: Event | None) -> None:
        t = self.controller.training
        self.curve.set_curve(t.curve, t.epochs, t.best)
        if t.stage == "done":
            self._show_training(None)

    def _show_report(self, _e: Event | None) -> None:
        t = self.controller.training
        rep = t.report
        self.seen_unseen_table.clear()
        if rep is None:
            self.seen_unseen.setText("")
            self.seen_unseen_table.hide()
        else:
            self.seen_unseen.setText(f"<b>Seen and unseen pairs</b> · {rep.header()}")
            self.seen_unseen.setToolTip("\n".join(rep.lines()))
            for row in rep.rows():
                item = QTreeWidgetItem(list(row))
                for col in (1, 2, 3):
                    item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight)
                self.seen_unseen_table.addTopLevelItem(item)
            hint = rep.hint()
            if hint:  # what would tell more, as a last row across the table
                item = QTreeWidgetItem([hint])
                item.setToolTip(0, hint)
                item.setForeground(0, self.palette().placeholderText())
                self.seen_unseen_table.addTopLevelItem(item)
                item.setFirstColumnSpanned(True)
            rows = self.seen_unseen_table.topLevelItemCount()
            row_h = max(16, self.seen_unseen_table.sizeHintForRow(0))
            self.seen_unseen_table.setMinimumHeight(self.seen_unseen_table.header().sizeHint().height()
                                                   + rows * row_h + 6)
            self.seen_unseen_table.show()
        if rep is not None:
            self.tabs.setTabVisible(self.training_tab, True)
        self._show_training(None)

    def _show_history(self, _e: Event | None) -> None:
        m = self.controller.model
        keep = self.history.currentItem().data(0, ID_ROLE) if self.history.currentItem() is not None else None
        self.history.blockSignals(True)  # a rebuild is not the curator selecting a run
        self.history.clear()
        for h in m.history:
            item = QTreeWidgetItem([f"#{h.run_id}", h.method, f"{h.n_decisions:,}",
                                    f"{_pct(h.cv_zero_shot)} → {_pct(h.cv_learned)}", f"{h.n_changed:,}", h.started,
                                    "in use" if h.active else ("" if h.status == "done" else h.status)])
            item.setData(0, ID_ROLE, h.run_id)
            if h.active:
                font = item.font(0)
                font.setBold(True)
                for col in range(7):
                    item.setFont(col, font)
            self.history.addTopLevelItem(item)
            if h.run_id == keep:
                self.history.setCurrentItem(item)
        self.history.blockSignals(False)
        active = m.active_run
        self.history_title.setText(
            "<b>Learning runs</b> · the images show " + ("zero-shot labels" if active is None else f"run #{active}"))
        self._sync_buttons()

    def _show_busy(self, _e: Event | None) -> None:
        busy = self.controller.model.busy
        self.bar.setVisible(bool(busy))
        if busy:
            self.bar.setRange(0, 0)
        self._sync_buttons()

    def _progress(self, p: Any) -> None:
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.done, p.total))
        else:
            self.bar.setRange(0, 0)
        self.bar.setToolTip(format_progress(p, p.extra.get("unit", "items")))
        if p.message:
            self.notice.setText(p.message)

    def _sync_buttons(self) -> None:
        m = self.controller.model
        why = m.blocker()
        for b in (self.preview_button, self.apply_button):
            b.setEnabled(not why)
            b.setToolTip(why or b.toolTip())
        self.cancel_button.setEnabled(bool(m.busy))
        self.method.setEnabled(not m.busy)
        current = self.history.currentItem()
        chosen = None if current is None else int(current.data(0, ID_ROLE))
        row = next((h for h in m.history if h.run_id == chosen), None)
        self.use_button.setEnabled(not m.busy and row is not None and not row.active and row.status == "done")
        self.zero_button.setEnabled(not m.busy and m.active_run is not None)
        self._show_headline()

    def _show_headline(self) -> None:
        """The preview's "N labels would change", else why nothing can run, else what Preview does."""
        m = self.controller.model
        why = m.blocker()
        if m.preview is not None:
            self.headline.setText(m.preview.headline())
        elif m.busy:
            self.headline.setText("learning…")
        elif why:
            self.headline.setText(why)
        else:
            self.headline.setText("No preview yet: Preview shows which labels would change, and on which images.")


class LearnDialog(PanelDialog):
    """Non-modal window around `LearnPanel`; closing it while a task runs leaves the task going."""

    def __init__(self, ctx: Any, parent: QWidget | None = None) -> None:
        panel = LearnPanel(ctx)
        super().__init__(panel, "Learn from decisions", parent, margins=6)
        self.panel = panel
        fit_to_screen(self, 960, 720)

    def running_worker(self) -> Any:
        return self.panel.controller.worker
