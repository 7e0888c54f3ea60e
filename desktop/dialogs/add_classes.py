"""Add classes: paste a list ("zorbit, quillan" or one per line) and/or tick image subfolders.

A new project's first step (issue #14 item 5): class subfolders of the image folder are offered
as classes, and a pasted list becomes several classes, not one class named "zorbit, quillan".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from workflows.imagefiles import IMAGE_EXTENSIONS as IMAGE_SUFFIXES

_SPLIT = re.compile(r"[,;\n\t]+")
MAX_SUBFOLDERS = 1000


def parse_class_list(text: str) -> list[str]:
    """Names from pasted text: split on commas, semicolons, tabs and lines; blanks dropped;
    duplicates (ignoring case) kept once, in order."""
    out: dict[str, str] = {}
    for part in _SPLIT.split(text):
        name = part.strip().strip("\"'").strip()
        if name and name.casefold() not in out:
            out[name.casefold()] = name
    return list(out.values())


def subfolder_classes(image_root: Path) -> list[tuple[str, int]]:
    """First-level subfolders of the image folder that hold images (directly or below), with how
    many images: the usual class-per-folder layout. Hidden folders are left out."""
    root = Path(image_root)
    if not root.is_dir():
        return []
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))[:MAX_SUBFOLDERS]:
        n = sum(1 for f in d.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        if n:
            out.append((d.name, n))
    return out


class AddClassesDialog(QDialog):
    """`names()` after exec: the pasted names plus the ticked subfolders, in that order."""

    def __init__(self, existing: list[str], image_root: Path | None = None, parent: QWidget | None = None,
                 *, tick_folders: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add classes")
        self.setMinimumWidth(460)
        self._existing = {n.casefold() for n in existing}
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("one class per line, or separated by commas: zorbit, quillan, kappimon")
        self.text.setMaximumHeight(110)
        self.folders = QListWidget()
        folders = subfolder_classes(image_root) if image_root is not None else []
        for name, n in folders:
            item = QListWidgetItem(f"{name}   ({n:,} images)")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            known = name.casefold() in self._existing
            item.setCheckState(Qt.CheckState.Checked if tick_folders and not known else Qt.CheckState.Unchecked)
            if known:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip("already a class")
            self.folders.addItem(item)
        self.preview = QLabel()
        self.preview.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Class names"))
        lay.addWidget(self.text)
        if folders:
            hint = QLabel(f"The image folder has {len(folders)} subfolder(s) with images: tick those that are classes.")
            hint.setWordWrap(True)
            lay.addWidget(hint)
            lay.addWidget(self.folders, 1)
        lay.addWidget(self.preview)
        lay.addWidget(self.buttons)
        self.text.textChanged.connect(self._sync)
        self.folders.itemChanged.connect(lambda _i: self._sync())
        self._sync()

    def set_text(self, text: str) -> None:
        self.text.setPlainText(text)

    def names(self) -> list[str]:
        typed = parse_class_list(self.text.toPlainText())
        ticked = [self.folders.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.folders.count())
                  if self.folders.item(i).checkState() == Qt.CheckState.Checked]
        return [n for n in parse_class_list("\n".join(typed + ticked)) if n.casefold() not in self._existing]

    def _sync(self) -> None:
        names = self.names()
        shown = ", ".join(names[:12]) + ("…" if len(names) > 12 else "")
        self.preview.setText(f"{len(names)} new class(es): {shown}" if names else "No new class yet.")
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText(f"Add {len(names)} class(es)" if names else "Add")
        ok.setEnabled(bool(names))


def add_classes(ctx: Any, names: list[str]) -> list[int]:
    """Add the classes all or none through `workflows.attributes.add_classes` (the CLI's rules:
    every name checked first); the outcome and its warnings (names that look like another class,
    what normalisation changed) go to the status bar. The user's problems are one status line."""
    from desktop.attributes.service import add_classes as run
    from workflows.errors import is_user_error

    try:
        added = run(ctx.project, names, who=ctx.reviewer)
    except Exception as err:
        if not is_user_error(err):
            raise
        ctx.show_status(f"no class added: {err}", 15000)
        return []
    ctx.classes_changed.emit()
    text = f"added {len(added.ids)} class(es)"
    if added.warnings:
        text += "; warning: " + "; ".join(added.warnings)
    ctx.show_status(text, 15000 if added.warnings else 10000)
    return list(added.ids)
