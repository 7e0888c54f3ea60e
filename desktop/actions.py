"""The application's commands (QActions) and what they do: the controller behind menus/shortcuts.

The main window only lays these out; the logic (open, create+scan, settings, pre-label, export)
lives here and in the dialogs, and talks to the project through `AppContext` and `workflows`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from desktop.context import AppContext
from desktop.dialogs.recent import clear_recent, recent_projects
from desktop.signals import listen


class AppActions:
    """Builds the QActions once; enables the project-bound ones only while a project is open."""

    def __init__(self, ctx: AppContext, window: QWidget) -> None:
        self.ctx = ctx
        self.window = window
        self._project_bound: list[QAction] = []
        A = self._action
        self.new_project = A("&New project from folder…", self.do_new_project, QKeySequence.StandardKey.New)
        self.open_project = A("&Open project…", self.do_open_project, QKeySequence.StandardKey.Open)
        self.open_team = A("Open &team project…", self.do_open_team)
        self.open_demo = A("Open &demo project", self.do_open_demo)
        self.close_project = A("&Close project", self.close_current, needs_project=True)
        self.rescan = A("&Rescan image folder", self.do_scan, "F5", needs_project=True)
        self.settings = A("Project &settings…", self.do_settings, QKeySequence.StandardKey.Preferences, needs_project=True)
        self.prelabel = A("&Pre-label…", self.do_prelabel, "Ctrl+R", needs_project=True)
        self.accept_above = A("&Accept predictions above a score…", self.do_accept_above, needs_project=True)
        self.vouch = A("Bulk accept with a &guarantee…", self.do_vouch, needs_project=True)
        self.learn = A("&Learn from decisions…", self.do_learn, "Ctrl+L", needs_project=True)
        self.export = A("&Export labels…", self.do_export, "Ctrl+E", needs_project=True)
        self.import_labels = A("&Import labels…", self.do_import_labels, "Ctrl+I", needs_project=True)
        self.conflicts = A("Team &conflicts…", self.do_conflicts, needs_project=True)
        self.quit = A("&Quit", window.close, QKeySequence.StandardKey.Quit)
        self.recent_menu = QMenu("Open &recent", window)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        listen(ctx.project_changed, self.window, self._sync_enabled)
        self._sync_enabled()

    def _action(
        self, text: str, slot: Callable[[], object], shortcut: object = None, *, needs_project: bool = False
    ) -> QAction:
        act = QAction(text, self.window)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut) if isinstance(shortcut, str) else shortcut)
        act.triggered.connect(lambda _checked=False: slot())
        if needs_project:
            self._project_bound.append(act)
        return act

    def _sync_enabled(self) -> None:
        has = self.ctx.project is not None
        for act in self._project_bound:
            act.setEnabled(has)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        paths = recent_projects()
        for p in paths:
            act = self.recent_menu.addAction(f"{p.stem}   —   {p.parent}")
            act.triggered.connect(lambda _c=False, p=p: self.open_path(p))
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear list", clear_recent)

    # -- commands ----------------------------------------------------------------------------------
    def confirm_leave(self) -> bool:
        """Before another project replaces the open one: a task running on it is cancelled
        (it records where it stopped and can be resumed); ask first."""
        running = self.ctx.tasks_of(self.ctx.project) if self.ctx.project is not None else []
        if not running or not self.ctx.interactive:
            return True
        answer = QMessageBox.question(
            self.window, "A task is running",
            f"{running[0].title} is running on {self.ctx.project.path.stem}. Cancel it and continue? "
            "(Work done so far is kept; a pre-label can be resumed when you reopen the project.)",
        )
        return answer == QMessageBox.StandardButton.Yes

    def open_path(self, path: str | Path) -> bool:
        """Open a project file, telling the user (not raising) when it can't be opened."""
        if not self.confirm_leave():
            return False
        try:
            self.ctx.open_project(path)
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.ctx.show_error("Open project", err)
            return False
        self.ctx.show_status(f"Opened {self.ctx.project.location if '://' in str(path) else Path(path).name}")
        self.offer_resume()
        return True

    def offer_resume(self) -> bool:
        """'Resume the interrupted pre-label?' when the project's last run stopped early."""
        run = self.ctx.interrupted_run()
        if run is None:
            return False
        how = "was cancelled" if run.status == "cancelled" else "was interrupted"
        text = (f"The last pre-label (run #{run.id}) {how} after {run.n_done:,} of {run.n_images:,} images. "
                "Resume it now? Only the images it has not done are computed.")
        if not self.ctx.interactive:
            self.ctx.show_status(text, 0)
            return False
        if QMessageBox.question(self.window, "Resume pre-label", text) != QMessageBox.StandardButton.Yes:
            return False
        from desktop.prelabel_panel import PrelabelDialog

        dlg = PrelabelDialog(self.ctx, self.window)
        dlg.open()
        dlg.panel.set_scope("all")
        dlg.panel.start()
        return True

    def close_current(self) -> None:
        if self.confirm_leave():
            self.ctx.close_project()

    def do_open_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Open project", "", "lazlabel projects (*.lazlabel);;All files (*)"
        )
        if path:
            self.open_path(path)

    def do_open_team(self) -> None:
        """A team project on a PostgreSQL server, by URL (desktop/dialogs/team_open.py)."""
        from desktop.dialogs.team_open import OpenTeamDialog

        dlg = OpenTeamDialog(self.window)
        if self.ctx.interactive and dlg.exec() and dlg.url():
            self.open_path(str(dlg.url()))

    def do_conflicts(self) -> None:
        """Images whose reviewers disagree; a lead settles them (desktop/dialogs/conflicts.py)."""
        from desktop.dialogs.conflicts import ConflictsDialog

        dlg = ConflictsDialog(self.ctx, self.window)
        dlg.open()

    def do_new_project(self) -> None:
        from desktop.dialogs.new_project import NewProjectDialog

        if not self.confirm_leave():
            return
        dlg = NewProjectDialog(self.window)
        if dlg.exec() != NewProjectDialog.DialogCode.Accepted:
            return
        from desktop.dialogs.project_tasks import create_and_scan

        create_and_scan(self.ctx, dlg.project_path(), dlg.image_root())

    def do_open_demo(self) -> None:
        from desktop.dialogs.project_tasks import open_demo

        open_demo(self.ctx)

    def do_scan(self) -> None:
        from desktop.dialogs.project_tasks import scan

        scan(self.ctx)

    def do_settings(self) -> None:
        from desktop.dialogs.settings import SettingsDialog

        dlg = SettingsDialog(self.ctx.settings, self.window)
        if dlg.exec() == SettingsDialog.DialogCode.Accepted:
            try:
                self.ctx.save_settings(dlg.value())
            except Exception as err:  # noqa: BLE001
                self.ctx.show_error("Save settings", err)

    def do_prelabel(self) -> None:
        from desktop.prelabel_panel import PrelabelDialog

        PrelabelDialog(self.ctx, self.window).open()

    def do_vouch(self) -> None:
        from desktop.dialogs.vouch import VouchDialog

        VouchDialog(self.ctx, self.window).open()

    def do_accept_above(self) -> None:
        from desktop.dialogs.accept_above import AcceptAboveDialog

        AcceptAboveDialog(self.ctx, self.window).open()

    def do_learn(self) -> None:
        from desktop.learn.view import LearnDialog

        LearnDialog(self.ctx, self.window).open()

    def do_import_labels(self) -> None:
        from desktop.dialogs.import_labels import ImportLabelsDialog

        dlg = ImportLabelsDialog(self.ctx, self.window)
        dlg.show()

    def do_export(self) -> None:
        from desktop.dialogs.export import ExportDialog

        ExportDialog(self.ctx, self.window).open()
