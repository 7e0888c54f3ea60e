"""Insight's pair grid for compositional projects: states x objects, per allowed pair the images
decided as it and how many of them the current pre-label got right; seen pairs (with decisions)
and unseen ones (none yet, what a learned model must generalise to) told apart.

Numbers come from `workflows.compose.pair_grid` (one aggregate query). Double-clicking a cell
opens its images in Review: the decided ones, or for an unseen pair those pre-labelled as it.
docs/architecture.md, "Compositional labels".
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

CLASS_ROLE = Qt.ItemDataRole.UserRole + 31
_NOT_ALLOWED = QColor("#eeeeee")
_UNSEEN = QColor("#fff8e1")


def cell_text(cell: Any) -> str:
    """What a cell shows: '.' (not an allowed pair), 'unseen' (+ how many pre-labels), or right/decided."""
    if not cell.allowed:
        return "·"
    if not cell.decided:
        return f"unseen ({cell.predicted_as})" if cell.predicted_as else "unseen"
    return f"{cell.predicted_right}/{cell.decided}"


def cell_colour(cell: Any) -> QColor:
    """Grey: not allowed; pale yellow: unseen; else red (0%) to green (100%) by pre-label accuracy."""
    if not cell.allowed:
        return _NOT_ALLOWED
    if cell.accuracy is None:
        return _UNSEEN
    a = float(cell.accuracy)
    return QColor.fromHsvF(0.33 * a, 0.35, 0.97)


def cell_tooltip(cell: Any) -> str:
    if not cell.allowed:
        return f"{cell.state} {cell.object}: not an allowed pair"
    lines = [f"{cell.state} {cell.object}",
             f"decided as it: {cell.decided}" + (" (seen pair)" if cell.seen else " (unseen pair)"),
             f"pre-labelled as it: {cell.predicted_as}"]
    if cell.decided:
        lines.append(f"pre-label right on {cell.predicted_right} of them; state right {cell.state_right}, "
                     f"object right {cell.object_right}")
    lines.append("double-click: open its images in Review")
    return "\n".join(lines)


class PairGridWidget(QWidget):
    """The grid with a caption; hidden while the project has no pairs."""

    pair_activated = Signal(int, bool)  # class id, has decided images

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid: Any = None
        self.caption = QLabel()
        self.caption.setObjectName("muted")
        self.caption.setWordWrap(True)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(160)
        self.table.cellDoubleClicked.connect(self._activated)
        title = QLabel("Pairs: states × objects (pre-label right / decided)")
        title.setStyleSheet("font-weight: 600;")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(title)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.caption)
        self.hide()

    def set_grid(self, grid: Any) -> None:
        """Show a `workflows.compose.PairGrid` (None or no pairs: hide)."""
        self.grid = grid
        if grid is None or not grid.cells:
            self.table.clear()
            self.hide()
            return
        t = self.table
        t.clear()
        t.setRowCount(len(grid.states))
        t.setColumnCount(len(grid.objects))
        t.setHorizontalHeaderLabels(list(grid.objects))
        t.setVerticalHeaderLabels(list(grid.states))
        italic = QFont()
        italic.setItalic(True)
        for r, s in enumerate(grid.states):
            for c, o in enumerate(grid.objects):
                cell = grid.cell(s, o)
                item = QTableWidgetItem(cell_text(cell))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setBackground(QBrush(cell_colour(cell)))
                item.setForeground(QBrush(QColor("#202124")))
                item.setToolTip(cell_tooltip(cell))
                item.setData(CLASS_ROLE, cell.class_id)
                if cell.allowed and not cell.seen:
                    item.setFont(italic)
                t.setItem(r, c, item)
        seen, unseen = len(grid.seen_pairs), len(grid.unseen_pairs)
        decided = sum(c.decided for c in grid.cells.values())
        right = sum(c.predicted_right for c in grid.cells.values())
        acc = f"{100 * right / decided:.0f}%" if decided else "—"
        self.caption.setText(f"{seen} seen pairs (with decisions), {unseen} unseen; pre-label right on {acc} of "
                             f"{decided} decided images. Unseen pairs are what a compositional model (Learn, "
                             f"method msci) must recognise without examples.")
        self.show()

    def _activated(self, row: int, col: int) -> None:
        item = self.table.item(row, col)
        cid = item.data(CLASS_ROLE) if item is not None else None
        if cid is None or self.grid is None:
            return
        cell = self.grid.cell(self.grid.states[row], self.grid.objects[col])
        self.pair_activated.emit(int(cid), bool(cell.decided))


def pair_image_ids(project: Any, class_id: int, decided: bool) -> list[int]:
    """A cell's images: decided as the pair, or (for an unseen pair) pre-labelled as it."""
    from db import ImageFilter

    if decided:
        return project.image_ids(ImageFilter(label_class_id=class_id, decided=True))
    return project.image_ids(ImageFilter(pred_class_id=class_id))
