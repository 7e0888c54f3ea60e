"""Pre-label: choose the images (all / selected / unlabelled), run, watch images/s and ETA, cancel.

The run is `workflows.prelabel.run_prelabel` in a worker thread; the dialog is not modal, so the
rest of the app stays usable, and closing it leaves the run going (the status bar shows it).
A cancelled run is resumable: running again continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from db import ImageFilter
from desktop.context import AppContext
from desktop.signals import listen
from desktop.task_progress import format_progress
from desktop.widgets.panel_dialog import PanelDialog
from desktop.workers import GeneratorWorker
from workflows.progress import Progress

UNPREDICTED = ImageFilter(status="ok", has_prediction=False)


def _scope_counts(project: Any) -> dict[str, int]:
    from workflows.prelabel import SCOPES

    counts = {name: project.count_images(f) for name, f in SCOPES.items()}
    counts["unpredicted"] = project.count_images(UNPREDICTED)
    return counts


def prelabel_blocker(p: Any) -> str:
    """Why a pre-label cannot start yet ('' when it can): shown instead of a failing run."""
    if p is None:
        return "Open a project first."
    if not p.list_classes():
        return ("No classes yet: add them in Classes & attributes (paste a list like "
                "“zorbit, quillan”, or take the image subfolders as classes).")
    if not p.count_images(ImageFilter(status="ok")):
        return "No readable images in the project: rescan the image folder (F5)."
    return ""


# scope key -> radio button label
SCOPE_LABELS: dict[str, str] = {
    "unpredicted": "Images without a prediction yet",
    "all": "All readable images",
    "unlabelled": "Images not reviewed yet",
    "selected": "Images selected in the browser",
}


class PrelabelPanel(QWidget):
    """The pre-label controls; emits `finished(summary)` when a run ends successfully."""

    finished = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.worker: GeneratorWorker | None = None
        self.summary: Any = None
        self.scope_group = QButtonGroup(self)
        self._user_chose = False  # after a click the panel stops picking the scope by itself
        self.scope_group.buttonClicked.connect(lambda _b: setattr(self, "_user_chose", True))
        self.scope_buttons: dict[str, QRadioButton] = {}
        lay = QVBoxLayout(self)
        heading = QLabel("Pre-label images")
        heading.setObjectName("screenTitle")
        lay.addWidget(heading)
        self.model_label = QLabel()
        self.model_label.setObjectName("muted")
        self.model_label.setWordWrap(True)
        lay.addWidget(self.model_label)
        for key, label in SCOPE_LABELS.items():
            b = QRadioButton(label)
            b.setObjectName(f"scope_{key}")
            self.scope_group.addButton(b)
            self.scope_buttons[key] = b
            lay.addWidget(b)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.hide()  # shown while a run is going and after it
        self.detail = QLabel("Ready.")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addSpacing(6)
        lay.addWidget(self.bar)
        lay.addWidget(self.detail)
        row = QHBoxLayout()
        row.addStretch(1)
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("primary")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.cancel_button)
        row.addWidget(self.start_button)
        lay.addLayout(row)
        listen(ctx.selection_changed, self, lambda _ids: self.refresh())
        self.refresh()

    # -- state ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Counts per scope, and which scope is sensible by default."""
        p = self.ctx.project
        if p is None:
            return
        s = self.ctx.settings
        self.model_label.setText(
            f"Model <b>{s.model}</b> · method <b>{s.method}</b> · {s.n_crops} {s.view_mode} crops · "
            f"device {s.device}  (change in File ▸ Project settings)"
        )
        counts = _scope_counts(p)
        counts["selected"] = len(self.ctx.selection)
        for key, b in self.scope_buttons.items():
            b.setText(f"{SCOPE_LABELS[key]}  ({counts.get(key, 0):,})")
            b.setEnabled(counts.get(key, 0) > 0 and not self.running)
        checked = self.scope_group.checkedButton()
        if not self.running and (not self._user_chose or checked is None or not checked.isEnabled()):
            default = ("selected" if counts["selected"] else "unpredicted" if counts.get("unpredicted")
                       else "unlabelled" if counts.get("unlabelled") else "all")
            self.scope_buttons[default].setChecked(True)
        self._show_blockers(p, counts)

    def blocker(self) -> str:
        return prelabel_blocker(self.ctx.project)

    def _show_blockers(self, p: Any, counts: dict[str, int]) -> None:
        why = self.blocker()
        self.start_button.setEnabled(not why and not self.running)
        self.start_button.setToolTip(why)
        if self.running:
            return
        if why:
            self.detail.setText(why)
            return
        run = self.ctx.interrupted_run()
        if run is not None:
            self.detail.setText(
                f"Run #{run.id} stopped after {run.n_done:,} of {run.n_images:,} images. Start continues it: "
                f"images it already did are not computed again ({counts.get('unpredicted', 0):,} have no prediction yet)."
            )
        elif self.summary is None:
            self.detail.setText("Ready.")

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.is_running

    def scope(self) -> str:
        return next((k for k, b in self.scope_buttons.items() if b.isChecked()), "all")

    def set_scope(self, key: str) -> None:
        self._user_chose = True
        self.scope_buttons[key].setChecked(True)

    # -- run -------------------------------------------------------------------------------------
    def start(self) -> GeneratorWorker | None:
        from workflows.prelabel import run_prelabel

        project = self.ctx.project
        if project is None or self.running:
            return None
        why = self.blocker()
        if why:
            self.detail.setText(why)
            return None
        scope = self.scope()
        if scope == "selected":
            ids: list[int] | None = list(self.ctx.selection)
        elif scope == "unpredicted":
            ids = project.image_ids(UNPREDICTED)
        else:
            ids = None
        settings = self.ctx.settings
        factory: Callable[[Any], Any] = lambda cancel: run_prelabel(  # noqa: E731
            project, image_ids=ids, scope="all" if ids is not None else scope, settings=settings, cancel=cancel
        )
        self.summary = None
        self.worker = self.ctx.run_task("Pre-label", factory, self._done, on_error=self._failed, on_cancel=self._cancelled)
        self.worker.progress.connect(self._progress)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.bar.setRange(0, 0)
        self.bar.show()
        self.detail.setText("Starting…")
        self.refresh()
        return self.worker

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.detail.setText("Cancelling: the images inside the model finish (a moment) and are kept, then the run "
                                "stops…")

    def _progress(self, p: Progress) -> None:
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.done, p.total))
        else:
            self.bar.setRange(0, 0)
        self.detail.setText(format_progress(p, "images"))

    def _ended(self) -> None:
        self.cancel_button.setEnabled(False)
        self.refresh()

    def _done(self, summary: Any) -> None:
        self.summary = summary
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        errors = getattr(summary, "n_errors", 0)
        text = getattr(summary, "message", "") or "Done."
        if errors:
            text += f"\n{errors} image(s) could not be read — filter the browser by “Unreadable” to see why."
        self.detail.setText(text)
        self._ended()
        self.ctx.labels_changed.emit([])  # many images changed: screens reload
        self.ctx.show_status(text.splitlines()[0], 10000)
        self.finished.emit(summary)

    def _failed(self, err: BaseException) -> None:
        from desktop.context import describe_error

        summary, text, _ = describe_error(err)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self._ended()
        self.detail.setText(f"Failed: {text}")
        self.ctx.labels_changed.emit([])  # batches written before the failure are kept
        self.ctx.show_error("Pre-label", err)

    def _cancelled(self) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self._user_chose = False  # the scope offered next is what is left (images without a prediction)
        self._ended()
        left = _scope_counts(self.ctx.project).get("unpredicted", 0) if self.ctx.project is not None else 0
        self.detail.setText(f"Cancelled. Predictions made so far are kept; {left:,} image(s) still have no "
                            "prediction. Start again to resume.")
        self.ctx.labels_changed.emit([])


class PrelabelDialog(PanelDialog):
    """Non-modal window around `PrelabelPanel`; closing it leaves a run going in the background."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        panel = PrelabelPanel(ctx)
        super().__init__(panel, "Pre-label", parent,
                         close_tip="A running pre-label continues in the background (see the status bar)")
        self.panel = panel
        self.setMinimumWidth(520)

    def running_worker(self) -> Any:
        return self.panel.worker
