"""The main window: a navigation list, a stack of screens, menus and a status bar. Nothing else.

Screens come from `desktop.screens`; commands from `desktop.actions`; cross-screen state from
`desktop.context.AppContext`. The welcome page stands in while no project is open.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.actions import AppActions
from desktop.context import AppContext
from desktop.dialogs.recent import app_settings
from desktop.dialogs.welcome import WelcomePage
from desktop.screens import BrokenScreen, load_screens
from desktop.signals import listen
from desktop.status_bar import CountsLabel
from desktop.task_progress import TaskProgressBar
from desktop.widgets.fit import fit_to_screen

log = logging.getLogger("lazlabel.desktop")
NAV_WIDTH = 176  # the navigation column; screens get the rest of a 1024 px window
QUIT_GRACE_MS = 30000  # a task that ignores cancel this long is abandoned at quit


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext | None = None) -> None:
        super().__init__()
        self.ctx = ctx or AppContext(self)
        self._quitting = False
        self.ctx.dialog_parent = self
        self.setWindowTitle("lazlabel")
        fit_to_screen(self, 1280, 820)  # a 1024 x 700 screen gets a window it can show
        self.actions = AppActions(self.ctx, self)

        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setFixedWidth(NAV_WIDTH)
        self.nav.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.stack = QStackedWidget()
        self.welcome = WelcomePage(self.actions)
        self.stack.addWidget(self.welcome)
        self.screens: dict[str, QWidget] = {}
        self._keys: list[str] = []
        for i, spec in enumerate(load_screens()):
            widget = self._build_screen(spec)
            self.screens[spec.key] = widget
            self._keys.append(spec.key)
            self.stack.addWidget(widget)
            item = QListWidgetItem(spec.title)
            item.setToolTip(f"{spec.title}  (Ctrl+{i + 1})")
            self.nav.addItem(item)
        self.nav.currentRowChanged.connect(self._nav_changed)

        side = QWidget()
        side_lay = QVBoxLayout(side)
        side_lay.setContentsMargins(0, 0, 0, 0)
        side_lay.setSpacing(0)
        title = QLabel("lazlabel")
        title.setObjectName("navTitle")
        self.project_label = QLabel("no project")
        self.project_label.setObjectName("navProject")
        side_lay.addWidget(title)
        side_lay.addWidget(self.project_label)
        side_lay.addWidget(self.nav, 1)
        side.setStyleSheet("background: #1f2533;")

        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(side)
        lay.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self._build_menus()
        self.counts = CountsLabel(self.ctx)
        self.statusBar().addPermanentWidget(self.counts)
        self.task_bar = TaskProgressBar(self.ctx)
        self.statusBar().addPermanentWidget(self.task_bar)
        listen(self.ctx.status_message, self, lambda text, ms: self.statusBar().showMessage(text, ms))
        listen(self.ctx.screen_requested, self, self.show_screen)
        listen(self.ctx.project_changed, self, self._project_changed)
        self._restore_geometry()
        self._project_changed()

    # -- construction --------------------------------------------------------------------------
    def _build_screen(self, spec) -> QWidget:
        if spec.cls is None:
            return BrokenScreen(spec.title, spec.error or "not installed")
        try:
            return spec.cls(self.ctx)
        except Exception as err:  # noqa: BLE001 - one broken screen must not take the app down
            log.exception("screen %s failed to build", spec.key)
            return BrokenScreen(spec.title, f"{type(err).__name__}: {err}")

    def _build_menus(self) -> None:
        a = self.actions
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for act in (a.new_project, a.open_project):
            file_menu.addAction(act)
        file_menu.addMenu(a.recent_menu)
        file_menu.addAction(a.open_team)
        file_menu.addAction(a.open_demo)
        file_menu.addSeparator()
        file_menu.addAction(a.rescan)
        file_menu.addAction(a.settings)
        file_menu.addAction(a.import_labels)
        file_menu.addAction(a.export)
        file_menu.addSeparator()
        file_menu.addAction(a.close_project)
        file_menu.addAction(a.quit)
        run_menu = bar.addMenu("&Run")
        run_menu.addAction(a.prelabel)
        run_menu.addAction(a.accept_above)
        run_menu.addAction(a.vouch)
        run_menu.addAction(a.learn)
        run_menu.addAction(a.conflicts)
        view_menu = bar.addMenu("&View")
        for i, key in enumerate(self._keys):
            act = view_menu.addAction(self.nav.item(i).text().replace("&", "&&"))  # a literal &
            act.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            act.triggered.connect(lambda _c=False, k=key: self.show_screen(k))
            act.setEnabled(False)
            listen(self.ctx.project_changed, self, lambda act=act: act.setEnabled(self.ctx.project is not None))
        help_menu = bar.addMenu("&Help")
        help_menu.addAction("&Keyboard shortcuts", self._show_shortcuts)
        help_menu.addAction("&About lazlabel", self._show_about)

    # -- navigation --------------------------------------------------------------------------------
    def show_screen(self, key: str) -> None:
        """Show a screen by registry key (no-op when it is not installed or no project is open)."""
        if key not in self.screens or self.ctx.project is None:
            return
        row = self._keys.index(key)
        if self.nav.currentRow() != row:
            self.nav.setCurrentRow(row)  # -> _nav_changed
        else:
            self._nav_changed(row)

    def current_screen_key(self) -> str | None:
        w = self.stack.currentWidget()
        return next((k for k, v in self.screens.items() if v is w), None)

    def _nav_changed(self, row: int) -> None:
        if row < 0 or self.ctx.project is None:
            return
        widget = self.screens[self._keys[row]]
        self.stack.setCurrentWidget(widget)
        activate = getattr(widget, "activate", None)
        if callable(activate):
            try:
                activate()
            except Exception as err:  # noqa: BLE001
                self.ctx.show_error(f"Show {self._keys[row]}", err)

    def _project_changed(self) -> None:
        p = self.ctx.project
        self.nav.setEnabled(p is not None)
        if p is None:
            self.setWindowTitle("lazlabel")
            self.project_label.setText("no project")
            self.nav.clearSelection()
            self.nav.setCurrentRow(-1)
            self.stack.setCurrentWidget(self.welcome)
            return
        self.setWindowTitle(f"{p.path.stem} — lazlabel")
        self.project_label.setText(p.path.stem)
        self.project_label.setToolTip(str(p.path))
        if self._keys:
            self.nav.setCurrentRow(-1)
            self.show_screen("browser" if "browser" in self.screens else self._keys[0])

    # -- help ------------------------------------------------------------------------------------
    def _show_shortcuts(self) -> None:
        QMessageBox.information(
            self,
            "Keyboard shortcuts",
            "<table>"
            "<tr><td><b>Ctrl+1…5</b></td><td>switch screen</td></tr>"
            "<tr><td><b>Ctrl+O / Ctrl+N</b></td><td>open / new project</td></tr>"
            "<tr><td><b>Ctrl+R</b></td><td>pre-label</td></tr>"
            "<tr><td><b>Ctrl+L</b></td><td>learn from decisions</td></tr>"
            "<tr><td><b>Ctrl+E</b></td><td>export</td></tr>"
            "<tr><td><b>F5</b></td><td>rescan the image folder</td></tr>"
            "<tr><td><b>Enter / double-click</b></td><td>open the image in Review</td></tr>"
            "<tr><td colspan=2><br>Review: Enter/A accept · 1–9 pick · R reject · U uncertain · "
            "Ctrl+Z undo · J/K next/previous · Space overlay</td></tr>"
            "</table>",
        )

    def _show_about(self) -> None:
        QMessageBox.about(
            self,
            "About lazlabel",
            "<b>lazlabel</b><br>Interpretable zero-shot pre-labelling and auditing of image "
            "classification datasets (LaZSL: CLIP regions aligned with class attributes by optimal "
            "transport).",
        )

    # -- lifecycle ---------------------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        geo = app_settings().value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Quit. A running task is cancelled first and the window hides at once; the application
        ends when the task has recorded where it stopped (never a frozen window)."""
        running = [w for w in self.ctx.tasks if w.is_running]
        if running and not self._quitting:
            if self.ctx.interactive:
                answer = QMessageBox.question(
                    self,
                    "Quit lazlabel",
                    f"{running[0].title} is still running. Cancel it and quit? "
                    "(Work done so far is kept; a pre-label can be resumed.)",
                )
                if answer != QMessageBox.StandardButton.Yes:
                    event.ignore()
                    return
            self._quitting = True
            app_settings().setValue("window/geometry", self.saveGeometry())
            for w in running:
                w.cancel()
                w.done.connect(self._close_when_idle)
            QTimer.singleShot(QUIT_GRACE_MS, self._force_close)
            self.hide()
            event.ignore()
            return
        if not self._quitting:
            app_settings().setValue("window/geometry", self.saveGeometry())
        self.ctx.cancel_all()
        if self.ctx.project is not None:
            self.ctx.project.close()
        event.accept()
        if self._quitting and self.ctx.interactive:
            QApplication.quit()

    def _close_when_idle(self) -> None:
        if not any(w.is_running for w in self.ctx.tasks):
            self.close()

    def _force_close(self) -> None:
        if self._quitting and self.isHidden() and any(w.is_running for w in self.ctx.tasks):
            log.warning("a task did not stop within %d ms of quitting; closing anyway", QUIT_GRACE_MS)
            for w in list(self.ctx.tasks):
                w.done.disconnect(self._close_when_idle)
            self.ctx.tasks.clear()
            self.close()
