"""File ▸ Import labels…: pick a format and a file or folder, preview what matches, import.

Imported labels are what Audit checks (issue #14 item 3); they are stored apart from decisions.
The reading and matching are `workflows.import_labels`'s; this dialog only previews a sample with
the same `PathMatcher`, runs the import off the GUI thread and lists every unmatched path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.context import AppContext
from desktop.workers import GeneratorWorker
from workflows.progress import Progress

PREVIEW_ROWS = 50
# formats read from a folder rather than one file
FOLDER_FORMATS = {"folder", "fiftyone"}


@dataclass
class Preview:
    rows: list[tuple[str, str, bool]]  # (path as written, label, matches a project image)
    n_read: int
    n_matched: int


def preview_labels(project: Any, fmt: str, path: Path, limit: int = PREVIEW_ROWS) -> Preview:
    """The first `limit` labelled rows and whether each names an image of the project (the same
    matching the import does, cheap readings first, then the file-system ones)."""
    from plugins import registry
    from workflows.errors import UserError
    from workflows.import_labels import PathMatcher

    if not path.exists():
        raise UserError(f"{path} does not exist")
    try:
        importer = registry.load(registry.IMPORTERS, fmt)()
    except registry.PluginError as err:
        raise UserError(str(err)) from err
    matcher = PathMatcher(project.image_root, path if path.is_dir() else path.parent)
    sample = []
    try:
        for row in importer.read(path):
            if row.label:
                sample.append((row.path, row.label))
            if len(sample) >= limit:
                break
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {path} as {fmt}: {err}") from err
    cands = {raw: matcher.candidates(raw) + matcher.fallbacks(raw) for raw, _ in sample}
    ids = project.image_ids_by_path([c for cs in cands.values() for c in cs])
    rows = [(raw, label, any(c in ids for c in cands[raw])) for raw, label in sample]
    return Preview(rows, len(sample), sum(1 for r in rows if r[2]))


class ImportLabelsDialog(QDialog):
    """Format, source, preview of the first rows, import with an unmatched-path report."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from workflows.import_labels import list_formats

        self.ctx = ctx
        self.worker: GeneratorWorker | None = None
        self.result: Any = None
        self.setWindowTitle("Import labels")
        self.setMinimumWidth(560)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.format_box = QComboBox()
        for name, text in list_formats().items():
            self.format_box.addItem(name, name)
            self.format_box.setItemData(self.format_box.count() - 1, text, Qt.ItemDataRole.ToolTipRole)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("label file (CSV, JSONL, tasks.json…) or class-folder tree")
        pick = QPushButton("Browse…")
        pick.clicked.connect(self._pick)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(pick)
        form = QFormLayout()
        form.addRow("Format", self.format_box)
        form.addRow("Labels", row)
        intro = QLabel(
            "Imported labels are kept apart from your decisions; Audit checks them against the "
            "model. Importing the same format again replaces the earlier import."
        )
        intro.setWordWrap(True)
        self.table = QTreeWidget()
        self.table.setHeaderLabels(["path", "label", "image found"])
        self.table.setRootIsDecorated(False)
        self.summary = QLabel("Choose a file, then Preview.")
        self.summary.setWordWrap(True)
        self.unmatched = QPlainTextEdit()
        self.unmatched.setReadOnly(True)
        self.unmatched.setPlaceholderText("paths that match no image of the project are listed here")
        self.unmatched.setMaximumHeight(110)
        self.preview_button = QPushButton("Preview")
        self.preview_button.clicked.connect(self.preview)
        self.import_button = QPushButton("Import")
        self.import_button.setObjectName("primary")
        self.import_button.clicked.connect(self.start)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.preview_button, self.import_button, close):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.summary)
        lay.addWidget(QLabel("Unmatched paths"))
        lay.addWidget(self.unmatched)
        lay.addLayout(buttons)
        self.path_edit.textChanged.connect(self._sync)
        self._sync()

    def fmt(self) -> str:
        return str(self.format_box.currentData() or "")

    def path(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    def set_source(self, fmt: str, path: str | Path) -> None:
        i = self.format_box.findData(fmt)
        if i >= 0:
            self.format_box.setCurrentIndex(i)
        self.path_edit.setText(str(path))

    def _sync(self) -> None:
        ok = bool(self.path_edit.text().strip()) and self.worker is None
        self.preview_button.setEnabled(ok)
        self.import_button.setEnabled(ok)

    def _pick(self) -> None:
        if self.fmt() in FOLDER_FORMATS:
            p = QFileDialog.getExistingDirectory(self, "Labels folder", self.path_edit.text())
        else:
            p, _ = QFileDialog.getOpenFileName(self, "Label file", self.path_edit.text())
        if p:
            self.path_edit.setText(p)

    def preview(self) -> Preview | None:
        if self.ctx.project is None:
            return None
        try:
            pv = preview_labels(self.ctx.project, self.fmt(), self.path())
        except Exception as err:  # noqa: BLE001 - user errors shown in the dialog, bugs as bugs
            self._problem(err)
            return None
        self.table.clear()
        for raw, label, ok in pv.rows:
            item = QTreeWidgetItem([raw, label, "yes" if ok else "NO"])
            item.setToolTip(0, raw)
            self.table.addTopLevelItem(item)
        self.table.resizeColumnToContents(1)
        self.summary.setText(
            f"First {pv.n_read} labelled entries: {pv.n_matched} name an image of this project, "
            f"{pv.n_read - pv.n_matched} do not." + ("" if pv.n_matched else
            f" Paths must be relative to the image root {self.ctx.project.image_root} or absolute under it.")
        )
        return pv

    def _problem(self, err: BaseException) -> None:
        from workflows.errors import is_user_error

        if is_user_error(err):
            self.summary.setText(f"<span style='color:#d93025'>{err}</span>")
        else:
            self.ctx.show_error("Import labels", err)

    def start(self) -> GeneratorWorker | None:
        from workflows.import_labels import import_labels

        project, fmt, path = self.ctx.project, self.fmt(), self.path()
        if project is None or self.worker is not None:
            return None

        def factory(cancel):
            yield Progress(0, 0, f"reading {path.name}", stage="import")
            return import_labels(project, fmt, path)

        self.summary.setText("Importing…")
        self.worker = self.ctx.run_task("Import labels", factory, self._done, on_error=self._failed)
        self._sync()
        return self.worker

    def _done(self, result: Any) -> None:
        self.worker = None
        self.result = result
        created = f", created classes {', '.join(result.created_classes)}" if result.created_classes else ""
        self.summary.setText(
            f"Imported {result.n_imported:,} labels from {result.n_rows:,} entries "
            f"({len(result.unmatched):,} unmatched, {result.n_no_label:,} without a label, "
            f"{result.replaced:,} replaced{created}). Audit can run now."
        )
        self.unmatched.setPlainText("\n".join(result.unmatched))
        self._sync()
        self.ctx.classes_changed.emit()
        self.ctx.labels_changed.emit([])
        self.ctx.show_status(f"imported {result.n_imported:,} labels", 8000)

    def _failed(self, err: BaseException) -> None:
        self.worker = None
        self._sync()
        self._problem(err)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.worker is not None and self.worker.is_running:
            self.hide()
            event.ignore()
            self.worker.done.connect(self.deleteLater)
            return
        super().closeEvent(event)
