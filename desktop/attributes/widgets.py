"""The editor's lists: classes (multi-select, rename in place) and attributes (edit, drag, toggle)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

ID_ROLE = Qt.ItemDataRole.UserRole + 20

# source -> (badge text, badge colour)
SOURCE_BADGES: dict[str, tuple[str, str]] = {
    "llm": ("LLM", "#8ab4f8"),
    "manual": ("manual", "#81c995"),
    "import": ("import", "#fdd663"),
}


class ClassList(QListWidget):
    """Classes with their attribute counts; double-click renames in place."""

    class_selected = Signal(object)  # id | None
    rename_requested = Signal(int, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.currentItemChanged.connect(self._current)
        self.itemChanged.connect(self._renamed)
        self._names: dict[int, str] = {}
        self._filling = False

    def set_classes(self, classes: list[Any], current: int | None) -> None:
        self._filling = True
        self.blockSignals(True)
        self.clear()
        self._names = {}
        for c in classes:
            item = QListWidgetItem(c.name)
            item.setData(ID_ROLE, c.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(f"{c.name}: {c.n_active_attributes} of {c.n_attributes} attribute(s) active"
                            + ("" if c.active else " · class disabled"))
            if not c.active:
                item.setForeground(QBrush(QColor("#9aa0a6")))
            self.addItem(item)
            self._names[c.id] = c.name
            if c.id == current:
                self.setCurrentItem(item)
        self.blockSignals(False)
        self._filling = False

    def selected_ids(self) -> list[int]:
        return [int(i.data(ID_ROLE)) for i in self.selectedItems()]

    def current_id(self) -> int | None:
        item = self.currentItem()
        return None if item is None else int(item.data(ID_ROLE))

    def _current(self, item: QListWidgetItem | None, _prev: Any) -> None:
        self.class_selected.emit(None if item is None else int(item.data(ID_ROLE)))

    def _renamed(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        cid = int(item.data(ID_ROLE))
        if item.text().strip() != self._names.get(cid):
            self.rename_requested.emit(cid, item.text())


class AttributeTree(QTreeWidget):
    """One class's attributes: checkbox = active, text editable in place, source badge; drag to reorder.

    With a learning run in use (`set_weights`), a column shows each attribute's learned weight; an
    active attribute that does not earn its place (weight near zero or negative) gets a one-click
    "Disable" button there (`active_toggled(id, False)`; the editor then previews the re-score)."""

    text_edited = Signal(int, str)
    active_toggled = Signal(int, bool)
    order_changed = Signal(list)  # attribute ids in the new order
    delete_requested = Signal(list)  # attribute ids (Delete key on the selected rows)

    COLUMNS = ("attribute", "source", "provenance", "learned weight")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(list(self.COLUMNS))
        self.setRootIsDecorated(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
                             | QAbstractItemView.EditTrigger.SelectedClicked)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setStretchLastSection(False)
        self.itemChanged.connect(self._changed)
        self._rows: dict[int, Any] = {}
        self.weights: dict[int, float] = {}  # attribute id -> learned weight (the run in use)
        self.unhelpful: dict[int, float] = {}  # of them, those that do not earn their place
        self.disable_buttons: dict[int, QPushButton] = {}
        self.setColumnHidden(3, True)

    def set_weights(self, weights: dict[int, float], unhelpful: dict[int, float]) -> None:
        """Learned weights of the run in use (empty: zero-shot; the column hides); call before
        `set_attributes`."""
        self.weights, self.unhelpful = dict(weights), dict(unhelpful)
        self.setColumnHidden(3, not self.weights)

    def set_attributes(self, rows: list[Any]) -> None:
        keep = self.current_id()
        self.blockSignals(True)
        self.clear()
        self._rows = {r.id: r for r in rows}
        for r in rows:
            item = QTreeWidgetItem([r.text, "", _provenance(r)])
            item.setData(0, ID_ROLE, r.id)
            item.setFlags(
                (item.flags() | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsUserCheckable
                 | Qt.ItemFlag.ItemIsDragEnabled) & ~Qt.ItemFlag.ItemIsDropEnabled
            )
            item.setCheckState(0, Qt.CheckState.Checked if r.active else Qt.CheckState.Unchecked)
            badge, colour = SOURCE_BADGES.get(r.source, (r.source, "#dadce0"))
            item.setText(1, badge + (" · edited" if r.edited else ""))
            item.setBackground(1, QBrush(QColor(colour)))
            item.setForeground(1, QBrush(QColor("#202124")))
            item.setToolTip(0, f"{r.text}\n(double-click to edit, drag to reorder, untick to disable)")
            item.setToolTip(2, _provenance(r, long=True))
            if not r.active:
                item.setForeground(0, QBrush(QColor("#9aa0a6")))
            w = self.weights.get(r.id)
            if w is not None:
                item.setText(3, f"×{w:.2f}")
                item.setToolTip(3, f"learned weight {w:.2f} (zero-shot: 1) in the learning run in use")
                if r.id in self.unhelpful:
                    item.setForeground(3, QBrush(QColor("#d93025")))
                    item.setToolTip(0, f"{r.text}\ndoes not earn its place: learned weight {w:.2f} "
                                       "(near zero or negative on the decided images)")
            self.addTopLevelItem(item)
            if r.id == keep:
                self.setCurrentItem(item)
        self.blockSignals(False)
        self.disable_buttons = {}
        for r in rows:
            if r.id in self.unhelpful and r.active:
                self._add_disable(r.id, self.unhelpful[r.id])

    def _add_disable(self, attr_id: int, weight: float) -> None:
        item = self.item_for(attr_id)
        if item is None:
            return
        b = QPushButton(f"×{weight:.2f}  Disable")
        b.setObjectName("disableUnhelpful")
        b.setToolTip("this attribute does not help its class on the decided images (learned weight "
                     f"{weight:.2f}): disable it; the editor then previews how many labels the re-score changes")
        b.clicked.connect(lambda _c=False, aid=attr_id: self.active_toggled.emit(aid, False))
        self.setItemWidget(item, 3, b)
        self.disable_buttons[attr_id] = b

    def ids(self) -> list[int]:
        return [int(self.topLevelItem(i).data(0, ID_ROLE)) for i in range(self.topLevelItemCount())]

    def current_id(self) -> int | None:
        item = self.currentItem()
        return None if item is None else int(item.data(0, ID_ROLE))

    def selected_ids(self) -> list[int]:
        """Selected attribute ids in list order (the current row when nothing is selected)."""
        chosen = {id(i) for i in self.selectedItems()}
        ids = [int(self.topLevelItem(i).data(0, ID_ROLE)) for i in range(self.topLevelItemCount())
               if id(self.topLevelItem(i)) in chosen]
        cur = self.current_id()
        return ids or ([cur] if cur is not None else [])

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.state() != self.State.EditingState:
            ids = self.selected_ids()
            if ids:
                self.delete_requested.emit(ids)
                return
        super().keyPressEvent(event)

    def item_for(self, attr_id: int) -> QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            if self.topLevelItem(i).data(0, ID_ROLE) == attr_id:
                return self.topLevelItem(i)
        return None

    def _changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column != 0:
            return
        aid = int(item.data(0, ID_ROLE))
        row = self._rows.get(aid)
        if row is None:
            return
        active = item.checkState(0) == Qt.CheckState.Checked
        if active != row.active:
            self.active_toggled.emit(aid, active)
        elif item.text(0).strip() != row.text:
            self.text_edited.emit(aid, item.text(0))

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        before = self.ids()
        super().dropEvent(event)
        after = self.ids()
        if after != before and sorted(after) == sorted(before):
            self.order_changed.emit(after)


def _provenance(r: Any, long: bool = False) -> str:
    """Where an attribute came from: LLM model + prompt version, import file, or by hand."""
    bits = {
        "llm": [r.origin_model or "LLM", f"prompt {r.prompt_version}" if r.prompt_version else ""],
        "import": [r.origin or "file"],
        "manual": ["by hand"],
    }.get(r.source, [r.origin or ""])
    text = " · ".join(b for b in bits if b)
    if long:
        when = r.created_at.strftime("%Y-%m-%d %H:%M") if hasattr(r.created_at, "strftime") else str(r.created_at)
        text += f"\nadded {when}" + ("\nedited by hand since" if r.edited else "")
    return text
