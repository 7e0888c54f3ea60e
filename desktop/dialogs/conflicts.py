"""The conflict view of team mode: images whose reviewers' decisions disagree, settled by a lead.

Each row is one image with every reviewer's standing vote; the lead picks the class (or "no
class") and resolves. A resolution is one more decision in the append-only log: the
disagreeing decisions stay (workflows/team.py). Loading and resolving run off the GUI thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.widgets.fit import fit_to_screen
from workflows.team import conflicts, describe_votes, resolve

NO_CLASS_TEXT = "(no class: reject)"


def _call(fn: Any, *args: Any, **kw: Any) -> Any:
    """A generator factory running `fn` in a task (AppContext.run_task takes generators)."""

    def factory(_cancel: Any) -> Any:
        def gen() -> Any:
            if False:  # a generator that reports no progress
                yield
            return fn(*args, **kw)

        return gen()

    return factory


class ConflictsDialog(QDialog):
    """Lists the open conflicts of `ctx.project`; `resolve_selected(class_id)` settles one."""

    def __init__(self, ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Team conflicts")
        fit_to_screen(self, 760, 440)
        self.rows: list[Any] = []
        self.names: dict[int, str] = {}
        lay = QVBoxLayout(self)
        self.summary = QLabel("Loading…")
        self.summary.setObjectName("muted")
        lay.addWidget(self.summary)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Image", "Decisions (reviewer: class)"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.itemSelectionChanged.connect(self._sync)
        lay.addWidget(self.table, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Lead's decision:"))
        self.choice = QComboBox()
        self.choice.setMinimumWidth(200)
        row.addWidget(self.choice)
        self.resolve_button = QPushButton("Resolve")
        self.resolve_button.setObjectName("primary")
        self.resolve_button.clicked.connect(self._resolve_clicked)
        row.addWidget(self.resolve_button)
        row.addStretch(1)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.reload)
        row.addWidget(self.refresh_button)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        row.addWidget(close)
        lay.addLayout(row)
        self.busy = False
        self.reload()

    # -- loading -----------------------------------------------------------------------------------
    def reload(self) -> None:
        project = self.ctx.project
        if project is None:
            self.summary.setText("No project is open.")
            return
        self._set_busy(True)
        self.ctx.run_task("Load conflicts", _call(lambda: (conflicts(project), project.class_names_by_id())),
                          self._loaded, on_error=self._failed)

    def _loaded(self, result: tuple[list[Any], dict[int, str]]) -> None:
        self.rows, self.names = result
        self.table.setRowCount(len(self.rows))
        for r, c in enumerate(self.rows):
            item = QTableWidgetItem(c.rel_path)
            item.setData(Qt.ItemDataRole.UserRole, c.image_id)
            self.table.setItem(r, 0, item)
            self.table.setItem(r, 1, QTableWidgetItem(describe_votes(c, self.names)))
        self.choice.clear()
        for cid, name in sorted(self.names.items(), key=lambda kv: kv[1].lower()):
            self.choice.addItem(name, cid)
        self.choice.addItem(NO_CLASS_TEXT, None)
        n = len(self.rows)
        self.summary.setText(
            f"{n} image{'s' if n != 1 else ''} where reviewers disagree. Pick one, choose the class, "
            "and resolve: your decision is added, theirs are kept." if n else
            "No conflicts: every image's reviewers agree (or a lead resolved them)."
        )
        if n:
            self.table.selectRow(0)
        self._set_busy(False)

    def _failed(self, err: BaseException) -> None:
        self._set_busy(False)
        self.ctx.show_error("Team conflicts", err)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._sync()

    def _sync(self) -> None:
        self.resolve_button.setEnabled(not self.busy and self.selected_image() is not None)

    # -- resolving ---------------------------------------------------------------------------------
    def selected_image(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def choose(self, class_id: int | None) -> None:
        self.choice.setCurrentIndex(self.choice.findData(class_id))

    def _resolve_clicked(self) -> None:
        image_id = self.selected_image()
        if image_id is not None:
            self.resolve_selected(self.choice.currentData())

    def resolve_selected(self, class_id: int | None) -> None:
        """Settle the selected image with `class_id` (None: no class), as the project's reviewer."""
        image_id = self.selected_image()
        if image_id is None:
            return
        project, lead = self.ctx.project, self.ctx.settings.effective_reviewer
        self._set_busy(True)
        self.ctx.run_task("Resolve conflict", _call(resolve, project, image_id, class_id, lead=lead),
                          lambda _did: self._resolved(image_id), on_error=self._failed)

    def _resolved(self, image_id: int) -> None:
        self.ctx.show_status("Conflict resolved: your decision was added; the reviewers' decisions are kept")
        self.reload()
