"""The ranked list of likely label errors as a Qt table model (thumbnails loaded off-thread)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class AuditItem:
    """One audit row joined with where the image stands now (so resolved rows show as such)."""

    row: Any  # db AuditRow
    path: Path | None
    thumb_key: str
    review_status: str
    label_name: str | None
    size: tuple[int, int] | None = None  # (W, H) of the original: the evidence's pixel space


# column title -> (display text, sort/tooltip helper)
COLUMNS: list[tuple[str, Callable[[AuditItem], Any]]] = [
    ("", lambda it: ""),
    ("image", lambda it: it.row.rel_path),
    ("given label", lambda it: it.row.given_label or "—"),
    ("model's label", lambda it: it.row.suggested_label or "—"),
    ("p(given)", lambda it: f"{it.row.p_given:.3f}"),
    ("issue score", lambda it: f"{it.row.issue_score:.3f}"),
    ("now", lambda it: it.review_status.replace("_", " ") + (f": {it.label_name}" if it.label_name else "")),
]
THUMB_COLUMN = 0


class AuditModel(QAbstractTableModel):
    """Rows in the audit's order (flagged first, most suspicious first)."""

    def __init__(self, thumbs: Any = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.items: list[AuditItem] = []
        self.thumbs = thumbs  # desktop.thumbnails.ThumbnailService | None
        self._row_of: dict[int, int] = {}
        if thumbs is not None:
            thumbs.ready.connect(self._thumb_ready)

    def set_items(self, items: list[AuditItem]) -> None:
        self.beginResetModel()
        self.items = list(items)
        self._row_of = {it.row.image_id: i for i, it in enumerate(self.items)}
        self.endResetModel()

    def update_item(self, image_id: int, item: AuditItem) -> None:
        r = self._row_of.get(image_id)
        if r is not None:
            self.items[r] = item
            self.dataChanged.emit(self.index(r, 0), self.index(r, len(COLUMNS) - 1))

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(image_id)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        it = self.items[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[col][1](it)
        if role == Qt.ItemDataRole.DecorationRole and col == THUMB_COLUMN and self.thumbs is not None and it.path:
            return self.thumbs.get(it.row.image_id, it.path, it.thumb_key)
        if role == Qt.ItemDataRole.ToolTipRole:
            r = it.row
            return (f"{r.rel_path}\ngiven {r.given_label} · model says {r.suggested_label}\n"
                    f"p(given) {r.p_given:.4f} · issue score {r.issue_score:.4f}"
                    + (" · flagged" if r.flagged else ""))
        if role == Qt.ItemDataRole.ForegroundRole and it.review_status != "unreviewed":
            return QBrush(QColor("#9aa0a6"))  # resolved rows fade
        if role == Qt.ItemDataRole.FontRole and it.row.flagged and col == 1:
            from PySide6.QtGui import QFont

            f = QFont()
            f.setBold(True)
            return f
        return None

    def _thumb_ready(self, image_id: int) -> None:
        r = self._row_of.get(image_id)
        if r is not None:
            idx = self.index(r, THUMB_COLUMN)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
