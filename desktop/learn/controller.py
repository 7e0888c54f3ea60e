"""The Learn panel's logic: reads the decisions and the run history into `LearnModel`, runs the
preview and the learning run as cancellable tasks (never on the GUI thread), and switches the run
the images show (the undo). Talks to the project only through `desktop.learn.service`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.learn import service
from desktop.models.learn import LearnModel, TrainingModel
from desktop.signals import listen
from workflows.errors import is_user_error


class LearnController(QObject):
    """See the module docstring. `notice(str)`: a one-line message for the panel. `training`: the
    training of a compositional method (msci) or of a stored msci run the curator selected."""

    notice = Signal(str)
    progress = Signal(object)  # workflows.progress.Progress of the running task
    task_started = Signal(object, str)  # worker, title

    def __init__(self, ctx: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = LearnModel()
        self.worker: Any = None
        self.result: Any = None  # the last LearnResult (preview or applied)
        self.hyper: dict[str, Any] | None = None  # hyperparameters over the method's defaults (tests: fewer epochs)
        self.training = TrainingModel()
        self.report_worker: Any = None  # reads a stored msci run's curve and seen / unseen accuracy
        listen(ctx.project_changed, self, self._project_changed)
        listen(ctx.labels_changed, self, self._labels_changed)

    @property
    def project(self) -> Any:
        return self.ctx.project

    # -- reads -----------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Decisions per class, the methods and the history (quick aggregate reads)."""
        p = self.project
        if p is None:
            self.model.set_decisions([])
            self.model.set_history([])
            return
        try:
            self.model.set_methods(service.method_choices(p))
            self.model.set_decisions(service.decisions_per_class(p))
            self.model.set_history(service.history(p))
        except Exception as err:  # noqa: BLE001
            self._failed("Learn", err)

    def _project_changed(self) -> None:
        for w in (self.worker, self.report_worker):
            if w is not None:
                w.cancel()
        self.worker = self.report_worker = None
        self.result = None
        self.training.reset()
        self.model.set_busy("")
        self.model.set_preview(None)
        self.refresh()

    def _labels_changed(self, _ids: list) -> None:
        if not self.model.busy:  # new decisions: the counts (and a preview) follow
            self.refresh()

    @staticmethod
    def trains(method: str) -> bool:
        """Whether `method` trains a compositional model (the panel's Training tab is for it)."""
        return service.is_compositional_method(method)

    def choose_method(self, name: str) -> None:
        self.model.choose_method(name)

    # -- tasks -----------------------------------------------------------------------------------------
    def preview(self) -> Any:
        """Learn without writing: "N labels would change (from → to)", and which images."""
        return self._start("preview")

    def apply(self) -> Any:
        """Learn and store the run; the images then show its labels."""
        return self._start("apply")

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.notice.emit("cancelling…")

    def _start(self, what: str) -> Any:
        why = self.model.blocker()
        if self.project is None or why:
            self.notice.emit(why or "open a project first")
            return None
        preview = what == "preview"
        title = "Learn preview" if preview else "Learn"
        factory = service.learn_task(self.project, self.model.method, preview=preview, hyper=self.hyper)
        self.model.set_preview(None)  # the last preview or run is not what this task will show
        self.model.set_busy(what)
        trains = service.is_compositional_method(self.model.method)
        if trains:
            self.training.start(f"{self.model.method} {'preview' if preview else 'training'}")
            self.notice.emit(f"training {self.model.method} on the decided pairs (the images are read once)…")
        else:
            self.notice.emit("learning from the decisions (cached features only)…")
        worker = self.ctx.run_task(title, factory, self._done, on_error=self._task_failed,
                                   on_cancel=self._cancelled)
        worker.progress.connect(self.progress)
        if trains:
            worker.progress.connect(self._training_progress)
        worker.done.connect(self._ended)
        self.worker = worker
        self.task_started.emit(worker, title)
        return worker

    def _training_progress(self, p: Any) -> None:
        if self.sender() is self.worker:
            self.training.feed(p.stage, p.extra or {})

    def _done(self, outcome: Any) -> None:
        if self.sender() is not self.worker or self.project is None:
            return
        result = outcome.result
        self.result = result
        if outcome.report is not None or outcome.curve:
            t = self.training
            t.set_curve(outcome.curve)
            t.set_report(outcome.report, f"run #{result.run_id}" if result.run_id is not None else "preview")
            t.set_stage("done")
        prev = service.to_preview(self.project, result)
        self.model.set_preview(prev)
        if prev.applied_run is not None:
            self.notice.emit(result.message or f"learning run #{prev.applied_run}: {prev.headline()}")
            self.ctx.labels_changed.emit([c.image_id for c in prev.changes])
        else:
            self.notice.emit("Preview: nothing was written. Apply stores these labels as a learning run "
                             "(undo: Back to zero-shot).")

    def _task_failed(self, err: BaseException) -> None:
        if self.training.stage:
            self.training.set_stage("failed")
        self._failed("Learn", err)

    def _cancelled(self) -> None:
        if self.training.stage:
            self.training.set_stage("cancelled")
        self.notice.emit("cancelled: nothing was written")

    # -- a stored compositional run: its curve and seen / unseen accuracy on today's decisions -------------
    def show_run(self, run_id: int | None) -> Any:
        """The curator selected a run in the history: for an msci run, read its training curve and
        its seen / unseen accuracy in a worker (newest selection wins). Returns the worker or None."""
        row = next((h for h in self.model.history if h.run_id == run_id), None)
        if (self.project is None or row is None or row.status != "done"
                or not service.is_compositional_method(row.method) or self.model.busy):
            return None
        if self.report_worker is not None:
            self.report_worker.cancel()
        run_id = row.run_id
        title = f"run #{run_id}"
        worker = self.ctx.run_task(f"Seen / unseen accuracy of learning run #{run_id}",
                                   service.stored_run_task(self.project, run_id), self._report_done,
                                   on_error=self._report_failed)
        worker.done.connect(self._report_ended)
        self.report_worker = worker
        self.training.title = title
        return worker

    def _report_done(self, outcome: Any) -> None:
        if self.sender() is not self.report_worker or self.model.busy:
            return
        t = self.training
        t.set_curve(outcome.curve)
        t.set_report(outcome.report, t.title)
        t.set_stage("done")

    def _report_failed(self, err: BaseException) -> None:
        if self.sender() is self.report_worker:
            self._failed("Learning run", err)

    def _report_ended(self) -> None:
        if self.sender() is self.report_worker:
            self.report_worker = None

    def _ended(self) -> None:
        if self.sender() is self.worker:
            self.worker = None
            self.model.set_busy("")
            self.refresh()

    # -- history: use a run, or go back to zero-shot (undo) ---------------------------------------------
    def use_run(self, run_id: int | None) -> bool:
        """Show a learning run's labels (None: zero-shot). Quick: the labels are stored."""
        if self.project is None or self.model.busy:
            return False
        try:
            service.activate(self.project, run_id)
        except Exception as err:  # noqa: BLE001
            self._failed("Use learning run", err)
            return False
        if self.model.preview is not None and self.model.preview.applied_run != run_id:
            self.model.set_preview(None)  # "N labels changed" was about the run the images showed before
        self.notice.emit("the images show zero-shot labels again" if run_id is None
                         else f"the images show learning run #{run_id}")
        self.ctx.labels_changed.emit([])
        self.refresh()
        return True

    # -- images of the preview -------------------------------------------------------------------------
    def open_change(self, image_id: int) -> None:
        """A changed image was clicked: the changed images become the selection, Review opens on it."""
        self.model.select_change(image_id)
        prev = self.model.preview
        ids = [c.image_id for c in prev.changes] if prev is not None else [image_id]
        self.ctx.set_selection(ids)
        self.ctx.open_image(image_id)

    def _failed(self, what: str, err: BaseException) -> None:
        if is_user_error(err):
            self.notice.emit(f"{what}: {err}")
        else:
            self.ctx.show_error(what, err)
