"""The application context: the open project, its settings, cross-screen signals, task running.

Screens never talk to each other directly; they talk through one `AppContext`: a screen that
changes labels emits `labels_changed(ids)`, the browser and insight refresh; the browser emits
`selection_changed(ids)` and `open_image(id)`, review follows. Long work goes through
`run_task`, which runs a `workflows` generator in a `GeneratorWorker` and reports errors.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from db import ProjectError
from desktop.workers import GeneratorWorker
from plugins.registry import PluginError
from workflows.errors import UserError
from workflows.progress import CancelToken, Progress
from workflows.settings import ProjectSettings, load_settings, save_settings

log = logging.getLogger("lazlabel.desktop")

GenFactory = Callable[[CancelToken], Generator[Progress, None, Any]]


def _error_titles() -> dict[type[BaseException], str]:
    """Exception type -> what the user is told it means (most specific type wins)."""
    titles: dict[type[BaseException], str] = {
        FileNotFoundError: "A file or folder was not found",
        PermissionError: "Permission denied",
        IsADirectoryError: "Expected a file, got a folder",
        ConnectionError: "Could not connect (is the Ollama server running?)",
        TimeoutError: "The operation timed out",
        MemoryError: "Out of memory",
        OSError: "A file could not be read or written",
    }
    titles[ProjectError] = "Project problem"
    titles[PluginError] = "Plugin problem"
    return titles


def describe_error(err: BaseException) -> tuple[str, str, str]:
    """(summary, message, details) for a dialog: a one-line message the user can act on."""
    details = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    if isinstance(err, UserError):
        return "", str(err), details
    titles = _error_titles()
    summary = next((titles[t] for t in type(err).__mro__ if t in titles), "")
    text = str(err) or type(err).__name__
    if not summary:
        summary = "Unexpected error — this is a bug, please report it with the details below"
        text = f"{type(err).__name__}: {text}"
    return summary, text, details


class AppContext(QObject):
    """Shared state of one application window. Only the GUI thread touches it."""

    project_changed = Signal()  # another project (or none) is open now
    images_changed = Signal()  # images were added/removed/re-read (scan)
    labels_changed = Signal(list)  # image ids whose decisions/predictions changed
    classes_changed = Signal()
    selection_changed = Signal(list)  # image ids selected in the browser
    current_image_changed = Signal(int)
    settings_changed = Signal()
    screen_requested = Signal(str)  # a screen key from desktop.screens
    task_started = Signal(object)  # GeneratorWorker
    task_ended = Signal(object)  # GeneratorWorker (finished, errored or cancelled)
    status_message = Signal(str, int)  # text, timeout ms (0 = until replaced)
    error_reported = Signal(str, str)  # title, message (also shown in a dialog when interactive)

    def __init__(self, parent: QObject | None = None, *, interactive: bool = True) -> None:
        super().__init__(parent)
        self.project: Any = None  # db.Project | None
        self.settings = ProjectSettings()
        self.selection: list[int] = []
        self.current_image: int | None = None
        self.interactive = interactive  # False in tests: errors are recorded, no dialogs pop
        self.errors: list[tuple[str, str]] = []
        self.tasks: list[GeneratorWorker] = []
        self.dialog_parent: QWidget | None = None

    # -- project ----------------------------------------------------------------------------------
    def open_project(self, path: str | os.PathLike[str]) -> Any:
        """Open a project file, make it current (closing the previous one) and remember it."""
        from db import Project

        project = Project.open(path if "://" in str(path) else Path(path))
        self.set_project(project)
        return project

    def tasks_of(self, project: Any) -> list[GeneratorWorker]:
        """Running tasks started while `project` was open (they work on it)."""
        return [w for w in self.tasks if w.is_running and getattr(w, "project", None) is project]

    def set_project(self, project: Any) -> None:
        """Make `project` current. Tasks still running on the previous project are cancelled, and
        that project is closed only once they have ended (they record their state in it)."""
        old = self.project
        self.project = project
        self.settings = load_settings(project) if project is not None else ProjectSettings()
        self.selection = []
        self.current_image = None
        if old is not None and old is not project:
            running = self.tasks_of(old)
            for w in running:
                w.cancel()
            if running:
                remaining = {id(w) for w in running}

                def ended(w: GeneratorWorker = running[0], *, _old: Any = old) -> None:
                    remaining.discard(id(w))
                    if not remaining:
                        _old.close()

                for w in running:
                    w.done.connect(lambda w=w: ended(w))
            else:
                old.close()
        if project is not None:
            from desktop.dialogs.recent import add_recent

            if getattr(project, "is_team", False):  # a server URL, kept without its password
                from desktop.dialogs.team_open import add_recent_team

                add_recent_team(project.location)
            else:
                add_recent(project.path)
        self.project_changed.emit()

    def close_project(self) -> None:
        self.set_project(None)

    def save_settings(self, settings: ProjectSettings) -> None:
        """Persist settings into the project and tell the screens."""
        if self.project is None:
            raise RuntimeError("no project is open")
        save_settings(self.project, settings)
        self.settings = settings
        self.settings_changed.emit()

    @property
    def reviewer(self) -> str:
        return self.settings.effective_reviewer

    # -- cross-screen navigation --------------------------------------------------------------
    def set_selection(self, image_ids: list[int]) -> None:
        self.selection = list(image_ids)
        self.selection_changed.emit(self.selection)

    def set_current_image(self, image_id: int) -> None:
        self.current_image = image_id
        self.current_image_changed.emit(image_id)

    def open_image(self, image_id: int, screen: str = "review") -> None:
        """Make `image_id` current and show it on `screen` (double-click / Enter in the browser)."""
        self.set_current_image(image_id)
        self.screen_requested.emit(screen)

    def show_status(self, text: str, timeout_ms: int = 4000) -> None:
        self.status_message.emit(text, timeout_ms)

    # -- long tasks --------------------------------------------------------------------------------
    def run_task(
        self,
        title: str,
        gen_factory: GenFactory,
        on_done: Callable[[Any], None] | None = None,
        *,
        on_error: Callable[[BaseException], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
    ) -> GeneratorWorker:
        """Run `gen_factory(cancel_token)` (a workflows generator) off the GUI thread.

        Progress shows in the status bar (the main window listens to `task_started`); the result
        goes to `on_done`; an error goes to `on_error` or, by default, to a readable dialog.
        """
        worker = GeneratorWorker(gen_factory, title=title, parent=self)
        worker.project = self.project  # the task belongs to the project open when it started
        worker.project_name = self.project.path.stem if self.project is not None else ""
        if on_done is not None:
            worker.finished.connect(on_done)
        worker.errored.connect(on_error if on_error is not None else (lambda e: self.show_error(title, e)))
        worker.cancelled.connect(lambda: self.show_status(f"{title}: cancelled"))
        if on_cancel is not None:
            worker.cancelled.connect(on_cancel)
        worker.done.connect(lambda: self._task_done(worker))
        self.tasks.append(worker)
        worker.start()
        self.task_started.emit(worker)
        return worker

    def _task_done(self, worker: GeneratorWorker) -> None:
        if worker in self.tasks:
            self.tasks.remove(worker)
        self.task_ended.emit(worker)
        worker.setParent(None)
        worker.deleteLater()

    def interrupted_run(self) -> Any:
        """The newest pre-label run of the open project when it stopped before finishing
        (cancelled, or its process was killed), else None: the app offers to resume it."""
        p = self.project
        if p is None:
            return None
        runs = [r for r in p.runs(kind="prelabel")]
        if not runs:
            return None
        last = max(runs, key=lambda r: r.id)
        if last.status in ("cancelled", "failed") and last.n_done < last.n_images:
            return last
        return None

    def cancel_all(self, wait_ms: int = 10000) -> None:
        """Cancel running tasks and wait for them (application tear-down; the window hides first)."""
        for w in list(self.tasks):
            w.cancel()
        for w in list(self.tasks):
            w.wait(wait_ms)

    # -- errors ---------------------------------------------------------------------------------
    def show_error(self, title: str, err: BaseException | str) -> None:
        """Tell the user what went wrong in one readable message (details on demand), and log it."""
        if isinstance(err, BaseException):
            summary, text, details = describe_error(err)
            log.error("%s: %s\n%s", title, text, details)
        else:
            summary, text, details = "", str(err), ""
            log.error("%s: %s", title, text)
        self.errors.append((title, text))
        self.error_reported.emit(title, text)
        if not self.interactive or QApplication.instance() is None:
            return
        box = QMessageBox(self.dialog_parent)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        box.setText(f"<b>{summary}</b>" if summary else text)
        if summary:
            box.setInformativeText(text)
        if details:
            box.setDetailedText(details)
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
