"""Export dialog: every installed exporter plugin, its declared options, progress, and a summary.

Plugin options are rendered from each exporter's `options` (OptionSpec: name, type, default,
help, choices) by an editor registry, so a third-party format gets a working form for free.
The export itself is `workflows.export.export` in a worker: atomic, cancellable.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.context import AppContext, describe_error
from desktop.task_progress import format_progress
from desktop.workers import GeneratorWorker
from workflows.progress import Progress

# option editors by the option's Python type: (make(spec) -> widget, read(widget) -> value)
Editor = tuple[Callable[[Any], QWidget], Callable[[Any], Any]]


def _choice_editor(spec: Any) -> QWidget:
    box = QComboBox()
    for c in spec.choices:
        box.addItem(str(c), c)
    box.setCurrentIndex(max(0, box.findData(spec.default)))
    return box


def _bool_editor(spec: Any) -> QWidget:
    box = QCheckBox()
    box.setChecked(bool(spec.default))
    return box


def _int_editor(spec: Any) -> QWidget:
    box = QSpinBox()
    box.setRange(-(2**31), 2**31 - 1)
    box.setValue(int(spec.default or 0))
    return box


def _float_editor(spec: Any) -> QWidget:
    box = QDoubleSpinBox()
    box.setDecimals(4)
    box.setRange(-1e9, 1e9)
    box.setValue(float(spec.default or 0.0))
    return box


def _str_editor(spec: Any) -> QWidget:
    edit = QLineEdit("" if spec.default is None else str(spec.default))
    return edit


OPTION_EDITORS: dict[type, Editor] = {
    bool: (_bool_editor, lambda w: w.isChecked()),
    int: (_int_editor, lambda w: int(w.value())),
    float: (_float_editor, lambda w: float(w.value())),
    str: (_str_editor, lambda w: w.text()),
}
CHOICE_EDITOR: Editor = (_choice_editor, lambda w: w.currentData())


def editor_for(spec: Any) -> Editor:
    if spec.choices:
        return CHOICE_EDITOR
    return OPTION_EDITORS.get(spec.type, OPTION_EDITORS[str])


def summary_html(summary: Any) -> str:
    """A readable account of what an export wrote."""
    e = html.escape
    lines = [f"<b>Exported {summary.n_samples:,} images as {e(summary.format)}</b>"]
    if summary.out_dir is not None:
        lines.append(f"into <code>{e(str(summary.out_dir))}</code>")
    lines.append(f"{summary.n_files:,} image files written")
    if summary.by_split:
        lines.append("splits: " + ", ".join(f"{e(k)} {v:,}" for k, v in sorted(summary.by_split.items())))
    if summary.by_label:
        top = sorted(summary.by_label.items(), key=lambda kv: -kv[1])
        more = f" … and {len(top) - 12} more" if len(top) > 12 else ""
        lines.append("labels: " + ", ".join(f"{e(k)} {v:,}" for k, v in top[:12]) + more)
    if summary.metadata_files:
        lines.append("metadata: " + ", ".join(f"<code>{e(f)}</code>" for f in summary.metadata_files))
    for w in summary.warnings:
        lines.append(f"<span style='color:#b26a00'>⚠ {e(w)}</span>")
    return "<br>".join(lines)


class ExportDialog(QDialog):
    """Pick a format, set its options, export; stays open to show the summary."""

    exported = Signal(object)  # ExportSummary

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from workflows.export import list_formats

        self.ctx = ctx
        self.worker: GeneratorWorker | None = None
        self.summary: Any = None
        self.option_editors: dict[str, tuple[QWidget, Callable[[Any], Any]]] = {}
        self._default_out_last = ""
        self.setWindowTitle("Export labels")
        self.setMinimumSize(760, 540)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        self.formats = QListWidget()
        self.formats.setMaximumWidth(240)
        for name, description in list_formats().items():
            item = QListWidgetItem(name)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(description)
            self.formats.addItem(item)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setObjectName("muted")

        self.out_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._pick_out)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(browse)

        # what to export (use-case options, same for every format)
        self.splits_edit = QLineEdit()
        self.splits_edit.setPlaceholderText("e.g. train=0.8,val=0.1,test=0.1 (empty: one 'train' set)")
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, 2**31 - 1)
        self.predictions_check = QCheckBox("Also unreviewed predictions scoring at least")
        self.predictions_min = QDoubleSpinBox()
        self.predictions_min.setRange(-10.0, 10.0)
        self.predictions_min.setDecimals(3)
        self.predictions_min.setValue(0.5)
        self.predictions_min.setEnabled(False)
        self.predictions_check.toggled.connect(self.predictions_min.setEnabled)
        pred_row = QHBoxLayout()
        pred_row.addWidget(self.predictions_check)
        pred_row.addWidget(self.predictions_min)
        pred_row.addStretch(1)
        self.unsure_check = QCheckBox("Put rejected / uncertain images in a separate 'unsure' set")
        self.overwrite_check = QCheckBox("Replace the folder if it already holds an export")
        what = QFormLayout()
        what.addRow("Output folder", out_row)
        what.addRow("Splits", self.splits_edit)
        what.addRow("Split seed", self.seed_box)
        what.addRow("", pred_row)
        what.addRow("", self.unsure_check)
        what.addRow("", self.overwrite_check)
        what_box = QGroupBox("What to export (decided images by default)")
        what_box.setLayout(what)

        self.options_box = QGroupBox("Format options")
        self.options_form = QFormLayout(self.options_box)

        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.hide()  # shown while a run is going and after it
        self.progress_label = QLabel()
        self.progress_label.setObjectName("muted")
        self.result = QTextBrowser()
        self.result.setOpenExternalLinks(False)
        self.result.setMaximumHeight(140)
        self.result.hide()

        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("primary")
        self.export_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton("Open folder")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self._open_folder)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        for b in (self.cancel_button, close, self.export_button):
            buttons.addWidget(b)

        right = QVBoxLayout()
        right.addWidget(self.description)
        right.addWidget(what_box)
        right.addWidget(self.options_box)
        right.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.formats)
        top.addLayout(right, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top, 1)
        lay.addWidget(self.bar)
        lay.addWidget(self.progress_label)
        lay.addWidget(self.result)
        lay.addLayout(buttons)

        self.formats.currentRowChanged.connect(self._format_changed)
        if self.formats.count():
            self.formats.setCurrentRow(0)

    # -- format and options ------------------------------------------------------------------------
    def fmt(self) -> str | None:
        item = self.formats.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def set_format(self, name: str) -> None:
        for i in range(self.formats.count()):
            if self.formats.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.formats.setCurrentRow(i)
                return
        raise KeyError(name)

    def _format_changed(self, _row: int) -> None:
        from workflows.export import load_exporter

        name = self.fmt()
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self.option_editors.clear()
        if name is None:
            return
        try:
            exporter = load_exporter(name)
        except Exception as err:  # noqa: BLE001 - a broken plugin shows its error, not a crash
            self.description.setText(f"This format is unavailable: {describe_error(err)[1]}")
            self.export_button.setEnabled(False)
            return
        self.export_button.setEnabled(True)
        self.description.setText(f"<b>{html.escape(name)}</b> — {html.escape(getattr(exporter, 'description', ''))}")
        for spec in getattr(exporter, "options", ()):
            make, read = editor_for(spec)
            w = make(spec)
            w.setToolTip(spec.help)
            w.setObjectName(f"option_{spec.name}")
            self.options_form.addRow(spec.name.replace("_", " ").capitalize(), w)
            self.option_editors[spec.name] = (w, read)
        if not self.option_editors:
            self.options_form.addRow(QLabel("This format has no options."))
        p = self.ctx.project
        if p is not None and (not self.out_edit.text() or self.out_edit.text() == self._default_out_last):
            self.out_edit.setText(str(self._default_out(name)))
        self._default_out_last = str(self._default_out(name)) if p is not None else ""

    def _default_out(self, fmt: str) -> Path:
        p = self.ctx.project
        return p.path.parent / f"{p.path.stem}-export-{fmt}"

    def option_values(self) -> dict[str, Any]:
        return {name: read(w) for name, (w, read) in self.option_editors.items()}

    def export_kwargs(self) -> dict[str, Any]:
        """Arguments for `workflows.export.export` from the form (raises UserError on bad splits)."""
        from workflows.export import check_splits, parse_splits

        opts = self.option_values()
        kwargs: dict[str, Any] = {
            "seed": self.seed_box.value(),
            "include_unsure_set": self.unsure_check.isChecked(),
            "overwrite": self.overwrite_check.isChecked(),
        }
        if "mode" in opts:
            kwargs["mode"] = opts.pop("mode")
        kwargs["options"] = opts
        if self.splits_edit.text().strip():
            kwargs["splits"] = check_splits(parse_splits(self.splits_edit.text()))
        if self.predictions_check.isChecked():
            kwargs["include_predictions_above"] = self.predictions_min.value()
        return kwargs

    def _pick_out(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export into", self.out_edit.text())
        if d:
            self.out_edit.setText(d)

    # -- run ---------------------------------------------------------------------------------------
    def start(self) -> GeneratorWorker | None:
        from workflows.export import export

        project, fmt = self.ctx.project, self.fmt()
        if project is None or fmt is None or (self.worker is not None and self.worker.is_running):
            return None
        out = self.out_edit.text().strip()
        if not out:
            self.ctx.show_error("Export", "Choose an output folder first.")
            return None
        try:
            kwargs = self.export_kwargs()
        except Exception as err:  # noqa: BLE001 - bad split text etc.
            self.ctx.show_error("Export", err)
            return None
        out_dir = Path(out).expanduser()
        self.summary = None
        self.result.hide()
        self.open_button.setEnabled(False)
        self.worker = self.ctx.run_task(
            f"Export {fmt}",
            lambda cancel: export(project, fmt, out_dir, cancel=cancel, **kwargs),
            self._done,
            on_error=self._failed,
            on_cancel=self._cancelled,
        )
        self.worker.progress.connect(self._progress)
        self.export_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.bar.setRange(0, 0)
        self.bar.show()
        self.progress_label.setText("Starting…")
        return self.worker

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)

    def _progress(self, p: Progress) -> None:
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.done, p.total))
        self.progress_label.setText(format_progress(p, "images"))

    def _ended(self) -> None:
        self.export_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _done(self, summary: Any) -> None:
        self.summary = summary
        self._ended()
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.progress_label.setText("Done.")
        self.result.setHtml(summary_html(summary))
        self.result.show()
        self.open_button.setEnabled(summary.out_dir is not None)
        self.ctx.show_status(f"Exported {summary.n_samples:,} images to {summary.out_dir}", 10000)
        self.exported.emit(summary)

    def _failed(self, err: BaseException) -> None:
        self._ended()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.progress_label.setText(f"Failed: {describe_error(err)[1]}")
        self.ctx.show_error("Export", err)

    def _cancelled(self) -> None:
        self._ended()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.progress_label.setText("Cancelled; nothing was written.")

    def _open_folder(self) -> None:
        if self.summary is not None and self.summary.out_dir is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.summary.out_dir)))

    def open(self) -> None:  # noqa: A003 - not modal: the app stays usable during an export
        self.show()
        self.raise_()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.worker is not None and self.worker.is_running:
            # keep the object (its slots get the result); the status bar still shows the export
            self.hide()
            event.ignore()
            self.worker.done.connect(self.deleteLater)
            return
        super().closeEvent(event)
