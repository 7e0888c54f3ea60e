"""Model picker: the open_clip models in the Hugging Face cache and the recommended ones, with their
size, and a Download button (progress, cancel) for the ones a user asks for.

Nothing downloads unless the Download button is pressed; the download runs in a worker thread
(`desktop.workers.GeneratorWorker` over `workflows.models.pull_model`), so the window stays live,
and Cancel stops it at the next chunk with the finished files kept.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.workers import GeneratorWorker
from workflows.progress import Progress

COLUMNS = ("Model", "Size", "Status", "About")


def human_size(n: int, approx: bool = False) -> str:
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{'~' if approx else ''}{n / div:.1f} {unit}"
    return f"{n} B"


class ModelPickerDialog(QDialog):
    """Pick a model spec (`selected_spec()` after accept); download one on request."""

    downloaded = Signal(str)  # the spec, once its files are in the cache

    def __init__(self, current: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setMinimumSize(760, 380)
        self.worker: GeneratorWorker | None = None
        self.rows: list[dict[str, Any]] = []
        self.where = QLabel()
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemDoubleClicked.connect(lambda _item: self._use())
        self.spec_edit = QLineEdit(current)
        self.spec_edit.setPlaceholderText("hf-hub:ORG/NAME[@REVISION] or NAME:TAG")
        self.spec_edit.textChanged.connect(self._update_buttons)
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("download this model into the Hugging Face cache (only when you press it)")
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.clicked.connect(self.cancel_download)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(QLabel("Spec"))
        row.addWidget(self.spec_edit, 1)
        row.addWidget(self.download_button)
        row.addWidget(self.cancel_button)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Close)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Use this model")
        self.buttons.accepted.connect(self._use)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.where)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)
        self.refresh()

    # -- list ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the cache (folder listing only) and redraw the table."""
        from engine.hub import hub_cache_dir
        from workflows.models import model_catalog

        self.where.setText(f"Hugging Face cache: {hub_cache_dir()}")
        self.rows = model_catalog()
        self.table.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            status = "cached" if r["cached"] else "not downloaded"
            if r["recommended"]:
                status += " · recommended"
            cells = (r["spec"], human_size(r["size_bytes"], bool(r.get("approx"))), status, r["what"])
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
        self._update_buttons()

    def spec_row(self, spec: str) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["spec"] == spec), None)

    def _selection_changed(self) -> None:
        sel = self.table.selectionModel().selectedRows()
        if sel:
            self.spec_edit.setText(self.rows[sel[0].row()]["spec"])

    def _update_buttons(self) -> None:
        busy = self.worker is not None and self.worker.is_running
        spec = self.spec_edit.text().strip()
        row = self.spec_row(spec)
        self.download_button.setEnabled(bool(spec) and not busy and not (row and row["cached"]))
        self.cancel_button.setEnabled(busy)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(spec) and not busy)

    def selected_spec(self) -> str:
        return self.spec_edit.text().strip()

    def _use(self) -> None:
        if self.selected_spec() and not (self.worker is not None and self.worker.is_running):
            self.accept()

    # -- download --------------------------------------------------------------------------------
    def start_download(self) -> GeneratorWorker | None:
        from workflows.models import pull_model

        spec = self.selected_spec()
        if not spec or (self.worker is not None and self.worker.is_running):
            return None
        self.status.setText(f"downloading {spec}…")
        self.progress.setRange(0, 0)  # busy until the first byte count
        self.worker = GeneratorWorker(lambda token: pull_model(spec, token), title=f"download {spec}")
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.errored.connect(self._on_error)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.done.connect(self._update_buttons)
        self.worker.start()
        self._update_buttons()
        return self.worker

    def cancel_download(self) -> None:
        if self.worker is not None and self.worker.is_running:
            self.status.setText("cancelling…")
            self.worker.cancel()

    def _on_progress(self, p: Progress) -> None:
        if p.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(1.0, p.done / p.total)))
        self.status.setText(p.message)

    def _on_finished(self, res: dict) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.status.setText(f"{res['spec']}: {len(res['files'])} files, {human_size(res['bytes'])} in the cache")
        self.refresh()
        self.downloaded.emit(res["spec"])

    def _on_error(self, err: BaseException) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText(f"download failed: {err}")

    def _on_cancelled(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText("download cancelled; files already finished stay in the cache")
        self.refresh()

    def reject(self) -> None:
        """Close / Esc while downloading stops the download (it ends on its own thread, unparented,
        so closing never waits on the network)."""
        self.cancel_download()
        super().reject()
