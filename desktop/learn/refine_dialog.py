"""Ask the LLM for attributes that tell two confused classes apart (issue #17 item 5), from Insight's
confusion matrix (a cell's context menu) and from "Why not…" (`ContrastPanel.refine_requested`).

The dialog asks the project's Ollama model (`workflows.refine.propose_distinguishing`) in a worker,
then previews each proposal's effect on the decided images from the feature cache
(`preview_refinement`, also in a worker): accuracy on the pair's decided images before → after, per
attribute and for the ticked ones together. The curator ticks what to keep; "Add ticked
attributes" stores them with their provenance ("confusion prompt for pair A vs B"), in a worker
too (`accept_refinement`); the GUI thread only mirrors `RefineModel`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.learn import service
from desktop.models.learn import Proposal, RefineModel
from desktop.widgets.fit import fit_to_screen, wrapping
from workflows.errors import is_user_error

ID_ROLE = Qt.ItemDataRole.UserRole + 31


def _acc(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


class RefineDialog(QDialog):
    """See the module docstring. Built with the two class ids; `ask()` starts the LLM."""

    def __init__(self, ctx: Any, a: int, b: int, parent: QWidget | None = None, *, ask: bool = True) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.a, self.b = int(a), int(b)
        names = ctx.project.class_names_by_id() if ctx.project is not None else {}
        self.model = RefineModel(names.get(self.a, f"#{a}"), names.get(self.b, f"#{b}"))
        self.refinement: Any = None  # workflows.refine.Refinement
        self.preview_result: Any = None
        self.worker: Any = None
        self.accepted_result: Any = None
        self._after_ended: Any = None  # what follows when the running task ends (ask -> preview)
        self._first_preview = False  # the preview right after asking suggests which to tick
        self.setWindowTitle(f"Attributes that tell {self.model.pair_label} apart")
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        fit_to_screen(self, 760, 520)

        heading = wrapping(QLabel(
            f"<b>{self.model.a_name}</b> and <b>{self.model.b_name}</b> are confused. Ask the LLM for visual "
            "attributes that tell them apart (it sees both classes' attributes and proposes new ones); each "
            "proposal's effect on the decided images is computed from the feature cache."))
        self.llm_model = QLineEdit(ctx.settings.ollama_model if ctx.project is not None else "")
        self.llm_model.setPlaceholderText("Ollama model, e.g. llama3.2")
        self.ask_button = QPushButton("Ask the LLM")
        self.ask_button.clicked.connect(self._ask_clicked)
        ask_row = QHBoxLayout()
        ask_row.addWidget(QLabel("Model"))
        ask_row.addWidget(self.llm_model, 1)
        ask_row.addWidget(self.ask_button)

        self.table = QTreeWidget()
        self.table.setObjectName("refineProposals")
        self.table.setHeaderLabels(["attribute", "for", f"alone: {self.model.pair_label} accuracy"])
        self.table.setRootIsDecorated(False)
        self.table.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.header().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.header().setStretchLastSection(False)
        self.table.itemChanged.connect(self._item_changed)
        self.summary = wrapping(QLabel())
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setMaximumHeight(14)
        self.bar.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel_clicked)
        self.preview_button = QPushButton("Preview ticked")
        self.preview_button.setToolTip("accuracy on the decided images with the ticked attributes added")
        self.preview_button.clicked.connect(self._preview_clicked)
        self.accept_button = QPushButton("Add ticked attributes")
        self.accept_button.setObjectName("primary")
        self.accept_button.clicked.connect(self._accept_clicked)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.bar, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.preview_button)
        buttons.addWidget(self.accept_button)
        buttons.addWidget(close)
        self.notice = wrapping(QLabel())
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        lay = QVBoxLayout(self)
        lay.addWidget(heading)
        lay.addLayout(ask_row)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.summary)
        lay.addWidget(self.notice)
        lay.addLayout(buttons)

        m = self.model
        m.events.proposals.connect(lambda _e: self._show_proposals())
        m.events.ticked.connect(lambda _e: self._sync())
        m.events.summary.connect(lambda e: self.summary.setText(e.value))
        m.events.busy.connect(lambda _e: self._sync())
        self._sync()
        if ask and ctx.project is not None:
            self.ask()

    def open(self) -> None:  # noqa: A003 - QDialog API: show without blocking the app
        self.show()
        self.raise_()

    # -- tasks -----------------------------------------------------------------------------------------
    def ask(self) -> Any:
        """Ask the LLM (a cancellable task)."""
        if self.ctx.project is None or self.model.busy:
            return None
        model = self.llm_model.text().strip() or None
        return self._run("propose", f"Ask the LLM: {self.model.pair_label}",
                         service.propose_task(self.ctx.project, self.a, self.b, model=model), self._proposed)

    def preview(self) -> Any:
        """Accuracy on the decided images with the proposals added (each alone, and the ticked together)."""
        if self.refinement is None or self.model.busy:
            return None
        chosen = [self.refinement.attributes[i] for i in sorted(self.model.ticked)]
        together = chosen or list(self.refinement.attributes)
        return self._run("preview", "Preview attributes", service.preview_refinement_task(self.ctx.project, together),
                         self._previewed)

    def accept_ticked(self) -> Any:
        """Store the ticked proposals (one transaction, with their provenance), in a worker."""
        if self.refinement is None or self.model.busy or not self.model.ticked:
            return None
        chosen = [self.refinement.attributes[i] for i in sorted(self.model.ticked)]
        return self._run("accept", f"Add attributes: {self.model.pair_label}",
                         service.accept_refinement_task(self.ctx.project, self.refinement, chosen, self.ctx.reviewer),
                         self._accepted)

    def _accepted(self, result: Any) -> None:
        self.accepted_result = result
        self._sync()
        n = len(result.added)
        self.notice.setText(f"added {n} attribute(s) ({result.origin}). "
                            "Classes & attributes offers the re-score of the labels.")
        self.ctx.classes_changed.emit()
        self.ctx.show_status(f"added {n} distinguishing attribute(s) for {self.model.pair_label}", 8000)

    def _run(self, what: str, title: str, factory: Any, on_done: Any) -> Any:
        self.model.set_busy(what)
        worker = self.ctx.run_task(title, factory, on_done, on_error=self._task_failed,
                                   on_cancel=self._task_cancelled)
        worker.done.connect(self._ended)
        self.worker = worker
        return worker

    def _proposed(self, refinement: Any) -> None:
        self.refinement = refinement
        self.accepted_result = None
        props = [Proposal(i, p.class_name, p.text, p.other_name) for i, p in enumerate(refinement.attributes)]
        self.model.set_proposals(props)
        notes = list(getattr(refinement, "warnings", []) or [])
        dropped = list(getattr(refinement, "dropped", []) or [])
        text = f"{refinement.model} proposed {len(props)} new attribute(s)"
        if dropped:
            text += f"; {len(dropped)} the classes already had were left out"
        if notes:
            text += " — " + "; ".join(notes[:2])
        self.notice.setText(text)
        if props:
            self._after_ended = self.preview  # the effect follows at once, in its own worker
            self._first_preview = True

    def _previewed(self, prev: Any) -> None:
        self.preview_result = prev
        effects = list(getattr(prev, "per_attribute", []) or [])
        before = prev.before
        out = []
        for p in self.model.proposals:
            src = self.refinement.attributes[p.index]
            e = next((x for q, x in effects if q is src or q == src), None)
            out.append(Proposal(p.index, p.class_name, p.text, p.other_name, before.pair_accuracy,
                                None if e is None else e.pair_accuracy, getattr(e, "fixed", 0), getattr(e, "broken", 0))
                       if e is not None else p)
        keep = set(self.model.ticked)
        self.model.set_proposals(out, tick_all=False)
        if self._first_preview:  # a suggestion: the ones that help the pair alone; the curator decides
            self._first_preview = False
            keep = {p.index for p in out if p.fixed > p.broken}
            self.notice.setText(self.notice.text() + f". Ticked: {len(keep)} of them, those that fix more than "
                                "they break on the pair alone; tick what you want, Preview ticked shows them together.")
        self.model.set_ticked(keep)
        tog = prev.together
        self.model.set_summary(
            f"On {prev.n_decided:,} decided image(s) ({prev.n_pair:,} of {self.model.pair_label}): accuracy "
            f"{_acc(before.accuracy)} → {_acc(tog.accuracy)} with the previewed attributes; on the pair "
            f"{_acc(before.pair_accuracy)} → {_acc(tog.pair_accuracy)} (+{tog.fixed} fixed, −{tog.broken} broken)"
            + (f". {len(prev.missing)} decided image(s) have no cached features." if getattr(prev, "missing", None)
               else ""))

    def _ended(self) -> None:
        if self.sender() is not self.worker:
            return
        self.worker = None
        self.model.set_busy("")
        follow, self._after_ended = self._after_ended, None
        if follow is not None:
            follow()

    def _task_cancelled(self) -> None:
        self._after_ended = None
        self.notice.setText("cancelled")

    def _task_failed(self, err: BaseException) -> None:
        self._after_ended = None
        self._failed(err)

    def _failed(self, err: BaseException) -> None:
        if is_user_error(err):
            self.notice.setText(str(err))
        else:
            self.ctx.show_error("Distinguishing attributes", err)

    # -- input / rendering --------------------------------------------------------------------------------
    def _ask_clicked(self) -> None:
        self.ask()

    def _preview_clicked(self) -> None:
        self.preview()

    def _accept_clicked(self) -> None:
        self.accept_ticked()

    def _cancel_clicked(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def _item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self.model.tick(int(item.data(0, ID_ROLE)), item.checkState(0) == Qt.CheckState.Checked)

    def _show_proposals(self) -> None:
        self.table.blockSignals(True)
        self.table.clear()
        for p in self.model.proposals:
            item = QTreeWidgetItem([p.text, p.class_name, p.effect_text])
            item.setData(0, ID_ROLE, p.index)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if p.index in self.model.ticked else Qt.CheckState.Unchecked)
            item.setToolTip(0, f"{p.text}\nfor {p.class_name}, to tell it from {p.other_name}")
            self.table.addTopLevelItem(item)
        self.table.blockSignals(False)
        if not self.model.proposals and self.refinement is not None:
            self.model.set_summary("The LLM proposed nothing new for this pair.")

    def _sync(self) -> None:
        busy = self.model.busy
        self.bar.setVisible(bool(busy))
        self.cancel_button.setEnabled(bool(busy))
        self.ask_button.setEnabled(not busy)
        has = bool(self.model.proposals) and not busy and self.accepted_result is None  # added once
        self.preview_button.setEnabled(has and bool(self.model.ticked))
        self.accept_button.setEnabled(has and bool(self.model.ticked))
        self.table.blockSignals(True)
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            on = int(item.data(0, ID_ROLE)) in self.model.ticked
            item.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.table.blockSignals(False)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.worker is not None and self.worker.is_running:
            self.worker.cancel()  # the LLM or the preview: nothing to keep, stop it
        super().closeEvent(event)


def open_refine(ctx: Any, a: int, b: int, parent: QWidget | None = None) -> RefineDialog | None:
    """Open the dialog for classes `a` and `b` (asks the LLM at once); None without a project."""
    if ctx.project is None:
        return None
    dlg = RefineDialog(ctx, a, b, parent)
    dlg.open()
    return dlg
