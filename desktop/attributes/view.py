"""The Classes & Attributes screen: layout and dialogs. Logic lives in `AttributesController`."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.attributes.controller import AttributesController
from desktop.attributes.widgets import AttributeTree, ClassList
from desktop.widgets.fit import ElidedLabel, wrapping
from desktop.widgets.task_strip import TaskStrip

ATTRIBUTE_FILES = "Attribute files (*.json *.csv *.txt);;All files (*)"


class RescoreBar(QFrame):
    """'Attributes changed: N labels would change  [Preview] [Apply re-score]'."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.preview = QPushButton("Preview re-score")
        self.apply = QPushButton("Apply re-score")
        self.show_images = QPushButton("Review these images")
        self.show_images.setToolTip("the images whose label the re-score would change, as the review queue")
        self.show_images.hide()
        lay = QHBoxLayout(self)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.show_images)
        lay.addWidget(self.preview)
        lay.addWidget(self.apply)
        self.state = "idle"

    def set_state(self, state: str, text: str) -> None:
        self.state = state
        self.text.setText(text)
        stale = state in ("stale", "preview", "error")
        self.preview.setEnabled(state in ("stale", "error"))
        self.show_images.setVisible(state == "preview")
        self.apply.setEnabled(stale)
        self.setVisible(state != "idle" or bool(text))


class AttributesView(QWidget):
    """Classes on the left; the selected class's attributes on the right; re-score offer below."""

    def __init__(self, ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.controller = c = AttributesController(ctx, self)

        # -- classes ---------------------------------------------------------------------------
        self.classes = ClassList()
        self.classes.class_selected.connect(c.select_class)
        self.classes.rename_requested.connect(c.rename_class)
        self.class_buttons = {
            "add": QPushButton("Add…"),
            "rename": QPushButton("Rename"),
            "merge": QPushButton("Merge…"),
            "delete": QPushButton("Delete class…"),
        }
        self.class_buttons["add"].clicked.connect(self._add_clicked)
        self.class_buttons["rename"].clicked.connect(self._rename_current)
        self.class_buttons["merge"].clicked.connect(self._merge_clicked)
        self.class_buttons["delete"].clicked.connect(self._delete_clicked)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("<b>Classes</b>"))
        ll.addWidget(self.classes, 1)
        row = QHBoxLayout()
        for b in self.class_buttons.values():
            row.addWidget(b)
        ll.addLayout(row)

        # -- attributes ------------------------------------------------------------------------------
        self.title = ElidedLabel()  # a long class name must not widen the window
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.tree = AttributeTree()
        self.tree.text_edited.connect(c.edit_attribute)
        self.tree.active_toggled.connect(c.set_active)
        self.tree.order_changed.connect(c.reorder)
        self.tree.delete_requested.connect(self.delete_attributes)
        self.new_text = QLineEdit()
        self.new_text.setPlaceholderText("new attribute, e.g. “has a short curved beak” — Enter adds it")
        self.new_text.returnPressed.connect(self._add_attribute)
        add = QPushButton("Add")
        add.clicked.connect(self._add_attribute)
        self.attr_buttons = {"up": QPushButton("▲ Up"), "down": QPushButton("▼ Down"), "delete": QPushButton("Delete attribute")}
        self.attr_buttons["up"].clicked.connect(self._move_up)
        self.attr_buttons["down"].clicked.connect(self._move_down)
        self.attr_buttons["delete"].clicked.connect(self._delete_attribute)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.title)
        rl.addWidget(self.tree, 1)
        add_row = QHBoxLayout()
        add_row.addWidget(self.new_text, 1)
        add_row.addWidget(add)
        rl.addLayout(add_row)
        edit_row = QHBoxLayout()
        for b in self.attr_buttons.values():
            edit_row.addWidget(b)
        edit_row.addStretch(1)
        rl.addLayout(edit_row)

        # -- toolbar: propose, import/export, version -------------------------------------------------
        self.propose_button = QToolButton()
        self.propose_button.setText("Propose with LLM")
        self.propose_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.propose_button.clicked.connect(self._propose_clicked)
        menu = QMenu(self.propose_button)
        self.propose_actions: dict[str, QAction] = {}
        for scope, text in (("current", "for this class"), ("selected", "for the selected classes"),
                            ("all", "for all classes"), (None, None),
                            ("replace:current", "replace this class's attributes"),
                            ("replace:selected", "replace the selected classes' attributes")):
            if scope is None:
                menu.addSeparator()
                continue
            act = menu.addAction(text)
            act.setData(scope)
            act.setToolTip("the proposal replaces the class's attributes (the edit log keeps the old ones)"
                           if scope.startswith("replace") else "proposals are added to the class's attributes")
            act.triggered.connect(self._propose_clicked)
            self.propose_actions[scope] = act
        self.propose_button.setMenu(menu)
        self.import_button = QPushButton("Import…")
        self.import_button.clicked.connect(self._import_clicked)
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(self._export_clicked)
        self.version_label = QLabel()
        self.version_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.strip = TaskStrip("classes")
        top = QHBoxLayout()
        top.addWidget(self.propose_button)
        top.addWidget(self.import_button)
        top.addWidget(self.export_button)
        top.addWidget(self.strip, 1)
        top.addStretch(0)
        top.addWidget(self.version_label)

        self.rescore = RescoreBar()
        self.rescore.preview.clicked.connect(c.preview_rescore)
        self.rescore.apply.clicked.connect(c.apply_rescore)
        self.rescore.show_images.clicked.connect(self.review_changed_images)
        self.notice = wrapping(QLabel())

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        split.setSizes([280, 800])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        lay.addWidget(self.rescore)
        lay.addWidget(self.notice)

        c.weights_loaded.connect(self.tree.set_weights)
        c.classes_loaded.connect(self._show_classes)
        c.attributes_loaded.connect(self._show_attributes)
        c.version_changed.connect(self._show_version)
        c.rescore_state.connect(self.rescore.set_state)
        c.notice.connect(self.notice.setText)
        c.task_started.connect(self.strip.follow)
        self.rescore.set_state("idle", "")
        c.refresh()

    def activate(self) -> None:
        self.controller.refresh()

    def review_changed_images(self) -> list[int]:
        """The images the previewed re-score would relabel become the review queue."""
        ids = list(getattr(self.controller.preview_result, "changed_ids", []) or [])
        if ids:
            self.ctx.set_selection(ids)
            self.ctx.open_image(ids[0])
        return ids

    # -- button slots (bound methods: a lambda holding `self` in a Qt connection can free the
    #    view from inside its own destructor) ------------------------------------------------------
    def _add_clicked(self) -> None:
        self.add_class()

    def _merge_clicked(self) -> None:
        self.merge_selected()

    def _delete_clicked(self) -> None:
        self.delete_selected()

    def _move_up(self) -> None:
        self._move(-1)

    def _move_down(self) -> None:
        self._move(1)

    def _propose_clicked(self) -> None:
        sender = self.sender()
        scope = sender.data() if isinstance(sender, QAction) else None
        self.propose(scope or "current")

    def _import_clicked(self) -> None:
        self.import_file()

    def _export_clicked(self) -> None:
        self.export_file()

    # -- class dialogs --------------------------------------------------------------------------------
    def add_class(self, name: str | None = None) -> int | None:
        """Add one class by name, or (no name) open the dialog that takes pasted lists and offers the
        image subfolders; returns the first new class's id."""
        if name is not None:
            return self.controller.add_class(name)
        ids = self.add_classes_dialog()
        return ids[0] if ids else None

    def add_classes_dialog(self, tick_folders: bool = False) -> list[int]:
        from desktop.dialogs.add_classes import AddClassesDialog, add_classes

        p = self.ctx.project
        if p is None:
            return []
        dlg = AddClassesDialog([c.name for c in self.controller.classes], p.image_root, self,
                               tick_folders=tick_folders)
        if dlg.exec() != AddClassesDialog.DialogCode.Accepted:
            return []
        ids = add_classes(self.ctx, dlg.names())
        if ids:
            self.controller.select_class(ids[0])
        return ids

    def _rename_current(self) -> None:
        item = self.classes.currentItem()
        if item is not None:
            self.classes.editItem(item)

    def merge_selected(self, target: int | None = None) -> bool:
        """Merge the selected classes into one of them (asks which, and confirms)."""
        ids = self.classes.selected_ids()
        if len(ids) < 2:
            self.notice.setText("select two or more classes to merge (Ctrl+click)")
            return False
        names = {c.id: c.name for c in self.controller.classes}
        if target is None:
            choice, ok = QInputDialog.getItem(
                self, "Merge classes", "Merge the selected classes into:", [names[i] for i in ids], 0, False
            )
            if not ok:
                return False
            target = next(i for i in ids if names[i] == choice)
        return self.controller.merge_classes(ids, target)

    def delete_selected(self, confirm: bool = True) -> bool:
        ids = self.classes.selected_ids() or ([self.classes.current_id()] if self.classes.current_id() else [])
        if not ids:
            return False
        names = {c.id: c.name for c in self.controller.classes}
        usage = {i: self.controller.class_usage(i) for i in ids}
        used = {i: u for i, u in usage.items() if any(u.values())}
        if confirm and self.ctx.interactive:
            lines = [f"Delete {', '.join(names[i] for i in ids)}?"]
            for i, u in used.items():
                lines.append(f"{names[i]} is used by " + ", ".join(f"{n} {k}" for k, n in u.items() if n) + ".")
            if used:
                lines.append("Labels of those images will be cleared; the decision trail is kept.")
            answer = QMessageBox.question(self, "Delete classes", "\n".join(lines))
            if answer != QMessageBox.StandardButton.Yes:
                return False
        return all(self.controller.delete_class(i, force=bool(used)) for i in ids)

    # -- attribute actions --------------------------------------------------------------------------------
    def _add_attribute(self) -> None:
        text = self.new_text.text().strip()
        if text and self.controller.add_attribute(text) is not None:
            self.new_text.clear()

    def _move(self, delta: int) -> None:
        aid = self.tree.current_id()
        if aid is not None and self.controller.move(aid, delta):
            item = self.tree.item_for(aid)
            if item is not None:
                self.tree.setCurrentItem(item)

    def _delete_attribute(self) -> None:
        self.delete_attributes(self.tree.selected_ids())

    def delete_attributes(self, ids: list[int]) -> int:
        """Delete the selected attributes (Delete key or button); asks first when several."""
        if not ids:
            return 0
        if len(ids) > 1 and self.ctx.interactive:
            answer = QMessageBox.question(self, "Delete attributes", f"Delete {len(ids)} attributes of this class? "
                                          "(The edit log keeps them.)")
            if answer != QMessageBox.StandardButton.Yes:
                return 0
        return sum(1 for aid in ids if self.controller.delete_attribute(aid))

    # -- LLM, files -------------------------------------------------------------------------------------
    def propose(self, scope: str) -> Any:
        """Propose attributes for the current class, the selected classes, or all classes; a
        `replace:` scope replaces their attributes instead of adding to them."""
        replace = scope.startswith("replace:")
        scope = scope.removeprefix("replace:")
        scopes = {
            "current": [self.controller.current] if self.controller.current is not None else [],
            "selected": self.classes.selected_ids(),
            "all": [c.id for c in self.controller.classes],
        }
        return self.controller.propose(scopes[scope], replace=replace)

    def import_file(self, path: str | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Import attributes", "", ATTRIBUTE_FILES)
            if not path:
                return False
        return self.controller.import_file(path)

    def export_file(self, path: str | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export attributes", "attributes.json", ATTRIBUTE_FILES)
            if not path:
                return False
        return self.controller.export_file(path)

    # -- rendering -----------------------------------------------------------------------------------------
    def _show_classes(self, classes: list) -> None:
        self.classes.set_classes(classes, self.controller.current)
        has = bool(classes)
        for key in ("rename", "merge", "delete"):
            self.class_buttons[key].setEnabled(has)
        self.propose_button.setEnabled(has)

    def _show_attributes(self, class_id: Any, rows: list) -> None:
        name = next((c.name for c in self.controller.classes if c.id == class_id), None)
        if name is None:
            self.title.setText("Add a class to start." if not self.controller.classes else "Select a class.")
        else:
            active = sum(1 for r in rows if r.active)
            weak = sum(1 for r in rows if r.active and r.id in self.controller.unhelpful)
            self.title.setText(f"<b>{name}</b> — {active} of {len(rows)} attribute(s) active"
                               + (f" · <span style='color:#d93025'>{weak} do not earn their place "
                                  "(learned weight ≈0 or negative)</span>" if weak else ""))
        self.tree.set_attributes(rows)
        self.new_text.setEnabled(class_id is not None)

    def _show_version(self, version: str, run_version: Any) -> None:
        if not version:
            self.version_label.setText("")
            return
        text = f"attribute set {version[:10]}"
        if run_version and run_version != version:
            text += f" (labels from {run_version[:10]})"
        self.version_label.setText(text)
        self.version_label.setToolTip(f"current: {version}\nlast run: {run_version or '—'}")
